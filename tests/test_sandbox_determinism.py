"""The same file and the same ctx give the same plan bytes: across repeated
evaluations, across evaluator instances (separate processes, so separate memory
layouts), and across host processes started with different ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from test_sandbox_benign import FILES, ctx_of

from plue.sandbox import EvaluationRequest, Evaluator

# Files that try to smuggle a memory address (or another per-process value) into
# the plan through a route the guards let through: each is accepted, and its plan
# must carry no address and be the same in every process.
LEAK_PROBES: dict[str, str] = {
    "list-index-message": (
        "def workflow():\n"
        "    def f():\n"
        "        pass\n"
        "    try:\n"
        "        [].index(f)\n"
        "    except ValueError as e:\n"
        "        return Plan('x', description=e.args[0] + '|' + str(e))\n"
    ),
    "list-index-of-builtin-method": (
        "def workflow():\n"
        "    try:\n"
        "        [1].index([].append)\n"
        "    except ValueError as e:\n"
        "        return Plan('x', description=f'{e}')\n"
    ),
    "plan-error-quoting-a-function": (
        "def workflow():\n"
        "    def f():\n"
        "        pass\n"
        "    messages = []\n"
        "    for bad in ({f: 'x'}, {'A': f}):\n"
        "        try:\n"
        "            Step.bash('a', 'b', env=bad)\n"
        "        except PlanError as e:\n"
        "            messages.append(e.args[0])\n"
        "    try:\n"
        "        Step.bash('a', 'b', when=f)\n"
        "    except PlanError as e:\n"
        "        messages.append(str(e))\n"
        "    return Plan('x', description=' | '.join(messages))\n"
    ),
    "keyerror-of-a-function-key": (
        "def workflow():\n"
        "    try:\n"
        "        {}[len]\n"
        "    except KeyError as e:\n"
        "        return Plan('x', description=str(isinstance(e.args[0], str)) + str(e.args[0] is len))\n"
    ),
    "printed-separator": (
        "def workflow():\n"
        "    try:\n"
        "        print(1, 2, sep=workflow)\n"
        "    except TypeError as e:\n"
        "        return Plan('x', description=str(e) + printed)\n"
    ),
    "set-of-strings-and-none": (
        "def workflow():\n"
        "    names = {None, *[f'n{i}' for i in range(300)]}\n"
        "    return Plan('x', description=','.join(str(n) for n in names))\n"
    ),
    "set-of-tuples-and-numbers": (
        "def workflow():\n"
        "    items = {(i, str(i), i * 0.5) for i in range(200)} | {frozenset({'a', 'b'})}\n"
        "    return Plan('x', description=str(list(items)))\n"
    ),
    "dict-view-set-operations": (
        "def workflow():\n"
        "    a = {f'k{i}': i for i in range(100)}\n"
        "    b = {f'k{i}': i for i in range(50, 150)}\n"
        "    keys = (a.keys() & b.keys()) | (a.keys() - b.keys())\n"
        "    return Plan('x', description=','.join(keys))\n"
    ),
}

_SCRIPT = """
import json, sys
from plue.sandbox import Evaluator, EvaluationRequest
requests = json.load(sys.stdin)
with Evaluator() as evaluator:
    results = evaluator.evaluate_many(
        [EvaluationRequest(r["source"].encode("utf-8"), r["name"], r["ctx"]) for r in requests]
    )
out = {}
for request, result in zip(requests, results):
    out[request["name"]] = result.plan_json.decode("utf-8") if result.ok else "ERROR " + str(result.error)
json.dump(out, sys.stdout)
"""


def _requests() -> list[dict[str, Any]]:
    requests = []
    for path in FILES:
        source = path.read_text(encoding="utf-8")
        requests.append({"name": path.name, "source": source, "ctx": ctx_of(source)})
    for name, source in LEAK_PROBES.items():
        requests.append({"name": f"{name}.plue.py", "source": source, "ctx": None})
    return requests


def _evaluate_in_host_with_seed(seed: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        input=json.dumps(_requests()),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(completed.stdout)  # type: ignore[no-any-return]


def _evaluate(evaluator: Evaluator) -> dict[str, str]:
    requests = _requests()
    results = evaluator.evaluate_many(
        [EvaluationRequest(r["source"].encode("utf-8"), r["name"], r["ctx"]) for r in requests]
    )
    return {
        request["name"]: result.plan_json.decode("utf-8") if result.ok else f"ERROR {result.error}"
        for request, result in zip(requests, results, strict=True)
    }


@pytest.fixture(scope="module")
def baseline(sandbox_evaluator: Evaluator) -> dict[str, str]:
    plans = _evaluate(sandbox_evaluator)
    failed = {name: plan for name, plan in plans.items() if plan.startswith("ERROR")}
    assert not failed, failed
    return plans


def test_same_plan_across_host_hash_seeds(baseline: dict[str, str]) -> None:
    first = _evaluate_in_host_with_seed("1")
    second = _evaluate_in_host_with_seed("2")
    assert first == baseline
    assert second == baseline


def test_same_plan_across_evaluator_instances(baseline: dict[str, str]) -> None:
    with Evaluator(workers=1) as other:
        assert _evaluate(other) == baseline


def test_same_plan_across_repeated_evaluations(sandbox_evaluator: Evaluator, baseline: dict[str, str]) -> None:
    for _ in range(3):
        assert _evaluate(sandbox_evaluator) == baseline


def test_set_iteration_files_really_iterate_sets(baseline: dict[str, str]) -> None:
    """The set-order files must not sort (else they would prove nothing)."""
    order = json.loads(baseline["set_of_strings_iteration.plue.py"])["env"]["ORDER"].split(",")
    assert order != sorted(order)
    index = json.loads(baseline["dict_keys_from_set.plue.py"])["env"]["INDEX"].split(",")
    assert index != sorted(index)


@pytest.mark.parametrize("name", sorted(LEAK_PROBES))
def test_no_address_reaches_a_plan(baseline: dict[str, str], name: str) -> None:
    plan = baseline[f"{name}.plue.py"]
    assert "0x" not in plan and " at 0" not in plan, plan[:300]


def test_scrubbed_messages_still_read_well(baseline: dict[str, str]) -> None:
    description = json.loads(baseline["list-index-message.plue.py"])["description"]
    assert description == "<function workflow.<locals>.f> is not in list|<function workflow.<locals>.f> is not in list"
    printed = json.loads(baseline["printed-separator.plue.py"])["description"]
    assert printed == "print(): sep and end must be strings"
