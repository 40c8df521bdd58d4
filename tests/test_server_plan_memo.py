"""The plan memo: a plan of `workflow(ctx)` is reused only for ctx that agree on everything it observed.

The property tested with the real sandbox: for every workflow below and every pair of
events, when the memo answers for the second event from the first one's evaluation, its
answer is byte for byte what a fresh evaluation with the second event gives.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from plue.events import build_context_data, parse_event
from plue.plan import canonical_json
from plue.registry import Registry
from plue.server.plan_memo import PlanMemo

FIXTURES = Path(__file__).parent / "fixtures" / "events"

HEAD = "from plue import Plan, Step, Trigger\n\n\ndef workflow(ctx):\n"
TAIL = "    return Plan('w', steps=[Step.bash('s', cmd)], triggers=[Trigger.on_push(), Trigger.on_pull_request()])\n"

# Each reads ctx in its own way; `cmd` is what the plan shows of it.
BODIES = {
    "nothing": "    cmd = 'make'\n",
    "branch": "    cmd = 'deploy ' + (ctx.event.branch or 'none') if ctx.event else 'no event'\n",
    "sha": "    cmd = 'build ' + str(ctx.event.sha)\n",
    "name_only": "    cmd = ctx.event.name\n",
    "iterate_fields": "    cmd = ','.join(sorted(ctx.event))\n",
    "field_count": "    cmd = str(len(ctx.event))\n",
    "membership": "    cmd = 'pr' if 'pull_request' in ctx.event and ctx.event.pull_request else 'other'\n",
    "missing_caught": (
        "    try:\n"
        "        cmd = str(ctx.event.no_such_field)\n"
        "    except AttributeError as error:\n"
        "        cmd = str(error)\n"
    ),
    "getattr_default": "    cmd = str(getattr(ctx.event, 'tag', 'x')) + str(hasattr(ctx.event, 'nope'))\n",
    "payload_part": "    cmd = str(ctx.event.payload.get('ref')) + str(len(ctx.event.payload))\n",
    "nested": ("    pr = ctx.event.pull_request\n    cmd = (pr.base.ref + '<-' + pr.head.ref) if pr else 'none'\n"),
    "labels": "    cmd = ' '.join(ctx.event.labels) + '|' + str(ctx.repo.default_branch)\n",
    "equality": "    cmd = str(ctx.event == ctx.event) + str(ctx.repo == ctx.event)\n",
    "item_access": "    cmd = str(ctx['event']['ref']) + str(ctx.repo['name'])\n",
    "changed_files": "    cmd = ' '.join(f for f in ctx.event.changed_files if f.endswith('.py')) or 'none'\n",
    "branch_then_sha": ("    cmd = 'release ' + ctx.event.sha if ctx.event.branch == 'master' else 'skip'\n"),
}


def _events() -> list[dict[str, Any]]:
    """ctx data of real payloads, plus variants that differ in one thing each."""
    push = json.loads((FIXTURES / "push.json").read_text())
    variants: list[tuple[str, dict[str, Any]]] = [("push", push)]
    other_sha = copy.deepcopy(push)
    other_sha["after"] = "f" * 40
    other_sha["head_commit"]["id"] = "f" * 40
    variants.append(("push", other_sha))
    other_branch = copy.deepcopy(push)
    other_branch["ref"] = "refs/heads/release-1"
    variants.append(("push", other_branch))
    for name in ("pull_request.opened", "pull_request.synchronize", "pull_request.labeled"):
        variants.append(("pull_request", json.loads((FIXTURES / f"{name}.json").read_text())))
    return [build_context_data(parse_event(kind, payload)) for kind, payload in variants]


EVENTS = _events()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("memo-repo")
    for name, body in BODIES.items():
        (root / f"{name}.plue.py").write_text(HEAD + body + TAIL)
    with Registry(root) as opened:
        yield opened


def _fresh(registry: Registry, name: str, ctx: dict[str, Any]) -> tuple[bytes | None, list[str]]:
    result = registry.evaluate_with_ctx(f"{name}.plue.py", ctx)
    return (None if result.plan is None else canonical_json(result.plan)), result.messages


@pytest.mark.parametrize("name", sorted(BODIES))
def test_a_reused_plan_is_exactly_what_a_fresh_evaluation_gives(registry: Registry, name: str) -> None:
    path = f"{name}.plue.py"
    fresh = [_fresh(registry, name, ctx) for ctx in EVENTS]
    for first, ctx in enumerate(EVENTS):
        memo = PlanMemo()
        result = registry.evaluate_with_ctx(path, ctx)
        assert result.reads is not None and result.content_hash is not None
        memo.put(path, result.content_hash, result.reads, (result.plan, result.messages))
        for second, other in enumerate(EVENTS):
            known = memo.get(path, result.content_hash, other)
            if known is not None:
                plan, messages = known
                assert (canonical_json(plan) if plan is not None else None, messages) == fresh[second], (
                    f"{name}: the plan of event {first} was reused for event {second}, which gives another plan"
                )
            elif fresh[second] == fresh[first] and name == "nothing":
                pytest.fail("a workflow that reads nothing of ctx must be reused for every event")


def test_reuse_happens_where_the_observations_agree(registry: Registry) -> None:
    push, other_sha, other_branch = EVENTS[0], EVENTS[1], EVENTS[2]
    memo = PlanMemo()
    for name in ("branch", "sha", "branch_then_sha"):
        result = registry.evaluate_with_ctx(f"{name}.plue.py", push)
        assert result.reads is not None and result.content_hash is not None
        memo.put(f"{name}.plue.py", result.content_hash, result.reads, (result.plan, result.messages))

    def hit(name: str, ctx: dict[str, Any]) -> bool:
        digest = registry.evaluate_with_ctx(f"{name}.plue.py", ctx).content_hash
        assert digest is not None
        return memo.get(f"{name}.plue.py", digest, ctx) is not None

    assert hit("branch", other_sha)  # another push to the same branch: same plan
    assert not hit("branch", other_branch)
    assert not hit("sha", other_sha)  # the plan shows the sha
    assert hit("sha", push)
    # Reads the sha only on master: a push to master with another sha is not reused, one elsewhere is.
    assert hit("branch_then_sha", other_branch) is False  # the branch differs
    assert not hit("branch_then_sha", other_sha)


def test_another_version_of_the_file_is_another_entry(registry: Registry) -> None:
    memo = PlanMemo()
    result = registry.evaluate_with_ctx("nothing.plue.py", EVENTS[0])
    assert result.reads == () and result.content_hash is not None
    memo.put("nothing.plue.py", result.content_hash, result.reads, (result.plan, result.messages))
    assert memo.get("nothing.plue.py", result.content_hash, EVENTS[3]) is not None
    assert memo.get("nothing.plue.py", "0" * 64, EVENTS[0]) is None
    assert memo.get("elsewhere.plue.py", result.content_hash, EVENTS[0]) is None
