"""The `plue` command line: output, exit codes, and the no-traceback rule."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from workflow_repos import BROKEN, CI, CYCLE, EVENT_FIXTURES, EXAMPLES, NIGHTLY, git_init, write

import plue.cli.workflow_commands as workflow_module
from plue import __version__
from plue.cli import cli
from plue.plan import canonical_json
from plue.sandbox import default_evaluator

PUSH_MAIN = json.loads((EVENT_FIXTURES / "push.json").read_text()) | {"ref": "refs/heads/main"}


def run(*args: str | Path, cwd: Path | None = None, stdin: str | None = None) -> Result:
    runner = CliRunner()
    argv = [str(arg) for arg in args]
    if cwd is None:
        return runner.invoke(cli, argv, input=stdin, catch_exceptions=False)
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, argv, input=stdin, catch_exceptions=False)
    finally:
        os.chdir(previous)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with two good workflows, a broken one and an invalid one."""
    root = git_init(tmp_path / "repo")
    write(
        root,
        {
            "ci.plue.py": CI,
            "ops/nightly.plue.py": NIGHTLY,
            "broken.plue.py": BROKEN,
            "cycle.plue.py": CYCLE,
            "push-main.json": json.dumps(PUSH_MAIN),
        },
    )
    return root


# --- list -------------------------------------------------------------------------


def test_list_shows_every_workflow_with_triggers_and_status(repo: Path) -> None:
    result = run("workflow", "list", repo)

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["path", "name", "triggers", "status"]
    rows = {line.split()[0]: line for line in lines[1:5]}
    assert list(rows) == ["broken.plue.py", "ci.plue.py", "cycle.plue.py", "ops/nightly.plue.py"]
    assert "CI" in rows["ci.plue.py"] and "push(main) · pull_request" in rows["ci.plue.py"]
    assert rows["ci.plue.py"].endswith("ok")
    assert "schedule(0 3 * * *) · manual(dry_run)" in rows["ops/nightly.plue.py"]
    assert rows["broken.plue.py"].endswith("error")
    assert rows["cycle.plue.py"].split()[1] == "Cycle" and rows["cycle.plue.py"].endswith("error")
    assert "2 of 4 workflows have errors:" in result.stdout
    assert any(line.startswith("broken.plue.py:1:14: ") for line in lines)
    assert any(line.startswith("cycle.plue.py: steps[") and "cycle" in line for line in lines)


def test_list_of_a_repository_without_workflows(tmp_path: Path) -> None:
    result = run("workflow", "list", tmp_path)

    assert result.exit_code == 0
    assert "no workflow files (*.plue.py)" in result.stdout


def test_list_never_wraps_long_lines_off_a_terminal(tmp_path: Path) -> None:
    deep = "/".join(["a-rather-long-directory-name"] * 6) + "/ci.plue.py"
    write(tmp_path, {deep: CI})

    result = run("workflow", "list", tmp_path)

    [row] = [line for line in result.stdout.splitlines() if deep in line]
    assert row.endswith("ok")
    assert all(line == line.rstrip() for line in result.stdout.splitlines())


def test_list_escapes_terminal_control_sequences_from_workflows(tmp_path: Path) -> None:
    write(tmp_path, {"evil.plue.py": CI.replace('"CI"', '"CI\\x1b[2J\\x1b]0;owned\\x07"')})

    result = run("workflow", "list", tmp_path)

    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "CI\\x1b[2J\\x1b]0;owned\\x07" in result.stdout


# --- lint --------------------------------------------------------------------------


def test_lint_prints_every_problem_and_fails(repo: Path) -> None:
    result = run("workflow", "lint", repo)

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("broken.plue.py:1:14: ")
    assert all(line.startswith("cycle.plue.py: ") for line in lines[1:-1])
    assert lines[-1] == f"{len(lines) - 1} problems in 2 of 4 workflow files"


def test_lint_passes_on_the_examples(tmp_path: Path) -> None:
    examples = shutil.copytree(EXAMPLES, tmp_path / "examples")  # the cache goes there, not here

    result = run("workflow", "lint", examples)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "7 workflow files checked, no problems"


# --- plan ---------------------------------------------------------------------------------


def test_plan_shows_a_tree_in_dependency_order(repo: Path) -> None:
    result = run("workflow", "plan", "ci.plue.py", cwd=repo)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("CI  ci.plue.py · ")
    text = result.stdout
    assert "push(main)" in text and "pull_request" in text
    assert text.index("test  bash") < text.index("build  bash  after test  $ make")
    assert result.stderr == ""


def test_plan_json_is_exactly_the_canonical_plan(repo: Path) -> None:
    source = (repo / "ci.plue.py").read_bytes()
    expected = default_evaluator().evaluate(source, "ci.plue.py").plan_json

    result = run("workflow", "plan", repo / "ci.plue.py", "--json")

    assert result.exit_code == 0
    assert result.stdout_bytes == expected + b"\n"
    assert canonical_json(json.loads(result.stdout_bytes)) == expected


def test_plan_with_an_event_gives_the_event_to_the_workflow() -> None:
    payload = str(EVENT_FIXTURES / "issues.opened.json")

    with_event = run("workflow", "plan", EXAMPLES / "triage.plue.py", "--event-name", "issues", "--event", payload)
    without = run("workflow", "plan", EXAMPLES / "triage.plue.py", "--json")

    assert with_event.exit_code == 0, with_event.output
    assert "gh issue edit 1 " in with_event.stdout
    assert without.exit_code == 0
    assert "(no issue: preview)" in without.stdout


def test_plan_reads_the_event_from_stdin(repo: Path) -> None:
    result = run(
        "workflow", "plan", repo / "ci.plue.py", "--event-name", "push", "--event", "-", stdin=json.dumps(PUSH_MAIN)
    )

    assert result.exit_code == 0, result.output


def test_plan_manual_inputs_are_typed_by_the_manual_trigger() -> None:
    nightly = EXAMPLES / "nightly.plue.py"

    full = run("workflow", "plan", nightly, "--event-name", "manual", "--input", "suite=full", "--input", "dry_run=no")
    dry = run("workflow", "plan", nightly, "--event-name", "manual", "--input", "dry_run=true")

    assert full.exit_code == 0 and dry.exit_code == 0
    assert "bench" in full.stdout and "publish_report.py" in full.stdout
    assert "bench" not in dry.stdout and "echo would publish" in dry.stdout


def test_plan_schedule_event_uses_the_workflow_cron() -> None:
    result = run("workflow", "plan", EXAMPLES / "nightly.plue.py", "--event-name", "schedule", "--json")

    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    assert "scheduled 0 3 * * *" in steps[0]["name"]


def test_plan_failure_prints_errors_on_stderr_only(repo: Path) -> None:
    result = run("workflow", "plan", "broken.plue.py", "--json", cwd=repo)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("broken.plue.py:1:14: ")
    assert "Traceback" not in result.stderr


def test_plan_of_an_invalid_plan_lists_validation_problems(repo: Path) -> None:
    result = run("workflow", "plan", repo / "cycle.plue.py")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert all(line.startswith("cycle.plue.py: steps[") for line in result.stderr.splitlines())


@pytest.mark.parametrize(
    "source",
    [
        "import os\n\ndef workflow():\n    return os.system('id')\n",
        "def workflow():\n    return ().__class__.__base__.__subclasses__()\n",
        "def workflow():\n    raise ValueError('x' * 100000)\n",
        "def workflow():\n    return workflow()\n",
        "x = " + "[" * 500 + "]" * 500 + "\n",
    ],
)
def test_a_hostile_file_gives_a_short_message_naming_it(tmp_path: Path, source: str) -> None:
    write(tmp_path, {"hostile.plue.py": source})

    result = run("workflow", "plan", tmp_path / "hostile.plue.py")

    assert result.exit_code == 1
    assert result.stdout == ""
    [message] = result.stderr.splitlines()
    assert message.startswith("hostile.plue.py:")
    assert len(message) < 400
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["workflow", "plan", "missing.plue.py"], "File 'missing.plue.py' does not exist"),
        (["workflow", "plan", "."], "is a directory"),
        (["workflow", "plan", "ci.plue.py", "--input", "novalue"], "'novalue' is not NAME=VALUE"),
        (["workflow", "plan", "ci.plue.py", "--input", "a=1", "--input", "a=2"], "input 'a' is given twice"),
        (["workflow", "plan", "ci.plue.py", "--event-name", "push", "--event", "nope.json"], "cannot read nope.json"),
        (["workflow", "plan", "ci.plue.py", "--event-name", "push", "--event", "ci.plue.py"], "not valid JSON"),
        (["workflow", "plan", "ci.plue.py", "--event-name", "push"], "needs its webhook payload"),
        (["workflow", "plan", "ci.plue.py", "--event", "push-main.json"], "--event needs --event-name"),
        (["workflow", "plan", "ci.plue.py", "--event-name", "deploy"], "unsupported event 'deploy'"),
        (["workflow", "plan", "ops/nightly.plue.py", "--input", "other=1"], "unknown input 'other'"),
        (["workflow", "plan", "ops/nightly.plue.py", "--input", "dry_run=maybe"], "boolean"),
        (["workflow", "match", ".", "--event-name", "pull_request", "--event", "push-main.json"], "payload"),
        (["workflow", "match", "."], "Missing option '--event-name'"),
        (["workflow", "lint", "no-such-dir"], "Directory 'no-such-dir' does not exist"),
        (["workflow", "frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_unusable_command_lines_exit_2_with_a_clear_message(repo: Path, args: list[str], message: str) -> None:
    result = run(*args, cwd=repo)

    assert result.exit_code == 2
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith("plue: error: ")
    assert message in first
    assert "Traceback" not in result.stderr


def test_an_internal_error_is_one_line_not_a_traceback(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(workflow_module.Registry, "scan", boom)
    monkeypatch.delenv("PLUE_DEBUG", raising=False)

    result = run("workflow", "list", repo)

    assert result.exit_code == 1
    assert result.stderr.startswith("plue: error: internal error: RuntimeError: boom")
    assert "Traceback" not in result.stderr


# --- match -------------------------------------------------------------------------------------


def test_match_says_which_workflows_an_event_triggers(repo: Path) -> None:
    result = run("workflow", "match", repo, "--event-name", "push", "--event", repo / "push-main.json")

    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:5]}
    assert rows["ci.plue.py"].split()[1:3] == ["CI", "yes"]
    assert rows["ops/nightly.plue.py"].split()[1:3] == ["Nightly", "no"]
    assert "no trigger for event 'push'" in rows["ops/nightly.plue.py"]
    assert "cannot load the workflow: broken.plue.py:1:14" in rows["broken.plue.py"]
    assert result.stdout.splitlines()[-1] == "push event: triggers 1 of 4 workflows"


def test_match_schedule_and_manual_events(repo: Path) -> None:
    tick = repo / "tick.json"
    tick.write_text(json.dumps({"cron": "0 3 * * *", "scheduled_at": "2025-01-01T03:00:00+00:00"}))

    scheduled = run("workflow", "match", repo, "--event-name", "schedule", "--event", tick)
    manual = run("workflow", "match", repo, "--event-name", "manual")

    assert scheduled.stdout.splitlines()[-1] == "schedule event: triggers 1 of 4 workflows"
    assert manual.stdout.splitlines()[-1] == "manual event: triggers 1 of 4 workflows"


# --- the program as users run it ---------------------------------------------------------------


@pytest.mark.parametrize("args", [[], ["workflow"]])
def test_a_group_alone_prints_its_help(args: list[str]) -> None:
    result = run(*args)

    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: plue")
    assert "Commands:" in result.stdout


def test_version() -> None:
    result = run("--version")

    assert result.exit_code == 0
    assert result.stdout == f"plue {__version__}\n"


def subprocess_run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=environment | env, timeout=120)


def test_python_dash_m_plue_lints_the_examples(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")

    result = subprocess_run([sys.executable, "-m", "plue", "workflow", "lint", "examples"], cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "7 workflow files checked, no problems\n"


def test_console_script_reports_errors_and_exit_codes(repo: Path) -> None:
    script = shutil.which("plue", path=str(Path(sys.executable).parent))
    assert script is not None

    listing = subprocess_run([script, "workflow", "list"], cwd=repo)
    failing = subprocess_run([script, "workflow", "plan", "broken.plue.py"], cwd=repo)
    usage = subprocess_run([script, "workflow", "plan", "ci.plue.py", "--input", "x"], cwd=repo)

    assert listing.returncode == 0 and "ci.plue.py" in listing.stdout
    assert "\x1b[" not in listing.stdout  # no colour into a pipe
    assert failing.returncode == 1 and failing.stderr.startswith("broken.plue.py:1:14: ")
    assert usage.returncode == 2 and usage.stderr.startswith("plue: error: ")
    assert "Traceback" not in failing.stderr + usage.stderr


def run_in_terminal(args: list[str], cwd: Path, **env: str) -> str:
    """Run `args` with stdout on a pseudo-terminal; return what it printed."""
    controller, terminal = pty.openpty()
    environment = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR")}
    process = subprocess.Popen(
        args, cwd=cwd, stdout=terminal, stderr=subprocess.DEVNULL, env=environment | {"TERM": "xterm-256color"} | env
    )
    os.close(terminal)
    output = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=60)
    os.close(controller)
    return output.decode()


def test_colour_on_a_terminal_unless_no_color(repo: Path) -> None:
    args = [sys.executable, "-m", "plue", "workflow", "list"]

    coloured = run_in_terminal(args, cwd=repo)
    plain = run_in_terminal(args, cwd=repo, NO_COLOR="1")

    assert "ci.plue.py" in coloured and "ci.plue.py" in plain
    assert "\x1b[32m" in coloured  # "ok" in green
    assert "\x1b[32m" not in plain and "\x1b[31m" not in plain
