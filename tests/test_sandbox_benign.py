"""Honest workflow files: every file in tests/benign is accepted with the expected plan.

Each ``tests/benign/NAME.plue.py`` starts with ``# ctx: KIND`` (the ctx it is
evaluated with, see `CONTEXTS`); ``NAME.expected.json`` next to it is the plan it
must give. The second half of this module covers the mistakes an honest author
makes: each must fail with a clear message at the right ``path:line:col``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from plue.sandbox import Evaluation, Evaluator

BENIGN = Path(__file__).parent / "benign"


def _event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "push",
        "action": None,
        "ref": None,
        "branch": None,
        "tag": None,
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "actor": "octocat",
        "labels": [],
        "changed_files": [],
        "pull_request": None,
        "payload": {},
    }
    base.update(fields)
    return base


REPO = {"name": "octo/app", "default_branch": "main"}
CONTEXTS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "push": {
        "event": _event(
            ref="refs/heads/main",
            branch="main",
            changed_files=["src/app.py", "docs/index.md"],
            payload={"ref": "refs/heads/main", "head_commit": {"message": "fix: things"}},
        ),
        "inputs": {},
        "repo": REPO,
    },
    "tag": {
        "event": _event(ref="refs/tags/v1.4.2", tag="v1.4.2", payload={"ref": "refs/tags/v1.4.2"}),
        "inputs": {},
        "repo": REPO,
    },
    "pull_request": {
        "event": _event(
            name="pull_request",
            action="opened",
            labels=["needs-review", "backend"],
            pull_request={"number": 42, "base": {"ref": "main"}, "head": {"ref": "feature/x"}},
            payload={"action": "opened", "pull_request": {"title": "Add the thing"}},
        ),
        "inputs": {},
        "repo": REPO,
    },
    "manual": {
        "event": _event(name="manual"),
        "inputs": {"target": "prod", "dry_run": True, "count": "3"},
        "repo": REPO,
    },
}


def ctx_of(source: str) -> dict[str, Any] | None:
    first = source.splitlines()[0]
    assert first.startswith("# ctx: "), "a benign file starts with '# ctx: KIND'"
    return CONTEXTS[first.removeprefix("# ctx: ").strip()]


FILES = sorted(BENIGN.glob("*.plue.py"))


def evaluate_benign(evaluator: Evaluator, path: Path) -> Evaluation:
    source = path.read_text(encoding="utf-8")
    return evaluator.evaluate(source.encode("utf-8"), path.name, ctx_of(source))


def test_there_are_enough_benign_files() -> None:
    assert len(FILES) >= 20
    for path in FILES:
        assert path.with_name(path.name.removesuffix(".plue.py") + ".expected.json").exists(), path.name


@pytest.mark.parametrize("path", FILES, ids=[path.name.removesuffix(".plue.py") for path in FILES])
def test_benign_file_gives_the_expected_plan(sandbox_evaluator: Evaluator, path: Path) -> None:
    result = evaluate_benign(sandbox_evaluator, path)
    assert result.ok, str(result.error)
    expected = json.loads(path.with_name(path.name.removesuffix(".plue.py") + ".expected.json").read_text())
    assert result.plan == expected["plan"]
    assert result.printed == expected.get("printed", "")


def test_print_is_captured(sandbox_evaluator: Evaluator) -> None:
    result = evaluate_benign(sandbox_evaluator, BENIGN / "print_captured.plue.py")
    assert result.ok
    assert result.printed == "starting\nhelper:0\nhelper:1\nhelper:2\ntotal 6 [1, 'two'] {'k': None}!\n\n"


def test_matrix_has_fifty_generated_steps(sandbox_evaluator: Evaluator) -> None:
    result = evaluate_benign(sandbox_evaluator, BENIGN / "matrix_50_steps.plue.py")
    assert result.ok and result.plan is not None
    tests = [step for step in result.plan["steps"] if step["id"].startswith("test-")]
    assert len(tests) == 50
    assert len({step["id"] for step in tests}) == 50
    assert all(step["depends_on"] == ["setup"] for step in tests)


def test_branching_follows_the_event(sandbox_evaluator: Evaluator) -> None:
    source = (BENIGN / "ctx_push_branching.plue.py").read_bytes()
    on_main = sandbox_evaluator.evaluate(source, "p.plue.py", CONTEXTS["push"])
    other = json.loads(json.dumps(CONTEXTS["push"]))
    other["event"]["branch"] = "feature"
    other["event"]["payload"]["head_commit"]["message"] = "feat: more"
    on_feature = sandbox_evaluator.evaluate(source, "p.plue.py", other)
    assert on_main.plan is not None and on_feature.plan is not None
    assert [s["id"] for s in on_main.plan["steps"]] == ["test", "deploy", "changelog", "docs"]
    assert [s["id"] for s in on_feature.plan["steps"]] == ["test", "docs"]


# --- mistakes an honest author makes: clear messages at the right place --------------


def _fails(evaluator: Evaluator, source: str, ctx: dict[str, Any] | None = None) -> Any:
    result = evaluator.evaluate(source.encode("utf-8"), "wf.plue.py", ctx)
    assert not result.ok, "the file was accepted"
    assert result.error is not None
    assert len(str(result.error)) < 400
    assert "Traceback" not in result.error.message and "plue/sandbox" not in result.error.message
    return result.error


def test_misspelt_ctx_attribute_names_the_available_ones(sandbox_evaluator: Evaluator) -> None:
    source = "def workflow(ctx):\n    return Plan(ctx.event.brnach)\n"
    error = _fails(sandbox_evaluator, source, CONTEXTS["push"])
    assert error.kind == "runtime"
    assert (error.line, error.col) == (2, 17)
    assert "AttributeError: ctx.event has no attribute 'brnach'" in error.message
    assert "branch" in error.message and "payload" in error.message  # the available attributes are listed


def test_misspelt_ctx_top_level_attribute(sandbox_evaluator: Evaluator) -> None:
    error = _fails(sandbox_evaluator, "def workflow(ctx):\n    return Plan(ctx.repository.name)\n")
    assert "ctx has no attribute 'repository' (available: event, inputs, repo)" in error.message


def test_misspelt_api_attribute_lists_the_public_ones(sandbox_evaluator: Evaluator) -> None:
    error = _fails(sandbox_evaluator, "def workflow():\n    return Step.shell('a', 'b')\n")
    assert error.line == 2
    assert "'Step' has no attribute 'shell'" in error.message and "bash" in error.message


def test_syntax_error_has_line_and_column(sandbox_evaluator: Evaluator) -> None:
    error = _fails(sandbox_evaluator, "def workflow():\n    x = (1,\n    return Plan('x'\n")
    assert error.kind == "syntax"
    assert error.line is not None and error.col is not None
    assert str(error).startswith(f"wf.plue.py:{error.line}:{error.col}: syntax error")


def test_syntax_error_column_points_at_the_problem(sandbox_evaluator: Evaluator) -> None:
    error = _fails(sandbox_evaluator, "def workflow():\n    return Plan('x') +* 2\n")
    assert error.kind == "syntax"
    assert (error.line, error.col) == (2, 23)  # the '*'


def test_forbidden_name_has_its_position(sandbox_evaluator: Evaluator) -> None:
    error = _fails(sandbox_evaluator, "def workflow():\n    x = 1\n    return Plan(str(id(x)))\n")
    assert error.kind == "forbidden"
    assert str(error) == (
        "wf.plue.py:3:21: 'id' is not available: object ids differ between runs and would make plans nondeterministic"
    )


def test_first_of_several_problems_is_reported_with_a_count(sandbox_evaluator: Evaluator) -> None:
    error = _fails(sandbox_evaluator, "import os\nimport sys\ndef workflow():\n    return eval('1')\n")
    assert (error.line, error.col) == (1, 1)
    assert error.message.startswith("import of 'os' is not allowed")
    assert error.message.endswith("more problems)")


def test_runtime_error_in_a_helper_points_into_the_helper(sandbox_evaluator: Evaluator) -> None:
    source = (
        "def ratio(a, b):\n"
        "    return a / b\n"
        "\n"
        "def workflow():\n"
        "    return Plan(str(ratio(1, 0)))\n"
    )  # fmt: skip
    error = _fails(sandbox_evaluator, source)
    assert error.kind == "runtime"
    assert (error.line, error.col) == (2, 12)
    assert error.message == "ZeroDivisionError: division by zero"


def test_runtime_error_in_a_lambda_and_comprehension(sandbox_evaluator: Evaluator) -> None:
    source = "def workflow():\n    keys = [{}][0]\n    names = [\n        keys['x']\n        for _ in range(2)\n    ]\n"
    error = _fails(sandbox_evaluator, source)
    assert error.line == 4
    assert error.message == "KeyError: 'x'"


def test_plan_error_points_at_the_call(sandbox_evaluator: Evaluator) -> None:
    source = "def workflow():\n    steps = []\n    steps.append(Step.bash('x'))\n    return Plan('p', steps=steps)\n"
    error = _fails(sandbox_evaluator, source)
    assert error.kind == "plan"
    assert (error.line, error.col) == (3, 18)
    assert error.message == "Step.bash(): missing required argument 'cmd'"


def test_plan_error_inside_a_helper_points_at_the_helper_call(sandbox_evaluator: Evaluator) -> None:
    source = (
        "def job(name):\n"
        "    return Step.bash(name, 'make')\n"
        "\n"
        "def workflow():\n"
        "    return Plan('p', steps=[job('Bad Name')])\n"
    )  # fmt: skip
    error = _fails(sandbox_evaluator, source)
    assert error.kind == "plan" and (error.line, error.col) == (2, 12)
    assert "step id 'Bad Name' is invalid" in error.message


def test_missing_workflow_function(sandbox_evaluator: Evaluator) -> None:
    error = _fails(sandbox_evaluator, "def build():\n    return Plan('x')\n")
    assert error.kind == "plan" and error.line == 1
    assert "no workflow() function" in error.message


def test_workflow_returning_none_names_the_def_line(sandbox_evaluator: Evaluator) -> None:
    error = _fails(sandbox_evaluator, "X = 1\n\ndef workflow():\n    Plan('x')\n")
    assert (error.kind, error.line) == ("plan", 3)
    assert error.message == "workflow() returned a NoneType, expected a Plan(...)"


def test_uncaught_exception_message_never_shows_an_address(sandbox_evaluator: Evaluator) -> None:
    error = _fails(sandbox_evaluator, "def workflow():\n    raise ValueError(workflow)\n")
    assert error.message == "ValueError: <function workflow>"


def test_control_characters_and_surrogates_in_messages_are_escaped(sandbox_evaluator: Evaluator) -> None:
    result = sandbox_evaluator.evaluate(
        b"def workflow():\n    print('bell\\x07 \\ud800')\n    raise ValueError('\\x1b[2J wiped \\udcff')\n",
        "wf.plue.py",
    )
    assert result.error is not None
    assert result.error.message == "ValueError: \\x1b[2J wiped \\udcff"
    assert result.printed == "bell\\x07 \\ud800\n"
    str(result.error).encode("utf-8")  # the host can write both as UTF-8
    result.printed.encode("utf-8")


def test_common_text_encodings_work(sandbox_evaluator: Evaluator) -> None:
    source = (
        "def workflow():\n"
        "    sizes = [len('café'.encode(name)) for name in ('utf-8', 'latin-1', 'cp1252', 'utf-16-le', 'utf-8-sig')]\n"
        "    text = b'caf\\xe9'.decode('latin-1') + 'bücher.de'.encode('idna').decode()\n"
        "    return Plan('enc', description=str(sizes) + text)\n"
    )
    result = sandbox_evaluator.evaluate(source.encode(), "wf.plue.py")
    assert result.ok, result.error
    assert result.plan is not None
    assert result.plan["description"] == "[5, 4, 4, 8, 8]caféxn--bcher-kva.de"


def test_other_encodings_are_unknown_without_host_paths(sandbox_evaluator: Evaluator) -> None:
    error = _fails(sandbox_evaluator, "def workflow():\n    return Plan('x'.encode('cp850'))\n")
    assert (error.kind, error.line, error.message) == ("runtime", 2, "LookupError: unknown encoding: cp850")
