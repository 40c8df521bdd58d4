"""`plue workflow run` and `plue run ...`: real repositories, real processes, real SQLite.

No sleeps synchronise anything: a test that must wait for a state polls for it with a
deadline (`wait_for`), and nothing asserts on timing.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import queue
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner, Result
from workflow_repos import EXAMPLES, git_init, write

from plue.cli import cli
from plue.store import Store

T = TypeVar("T")
DEADLINE_SECONDS = 60

PIPELINE = """\
from plue import Plan, Step


def workflow(ctx):
    make = Step.bash("make", 'echo "made it"\\necho "greeting=hello from make" >> "$PLUE_OUTPUT"')
    use = Step.bash("use", "echo 'got: {{ steps.make.outputs.greeting }}'", depends_on=[make])
    return Plan("Pipeline", steps=[make, use])
"""

# `count` appends to count.txt each time it runs; `flaky` fails until the file `fixed` exists.
FLAKY = """\
from plue import Plan, Step


def workflow(ctx):
    count = Step.bash("count", 'echo ran >> count.txt\\necho "runs=$(wc -l < count.txt | tr -d " ")" >> "$PLUE_OUTPUT"')
    flaky = Step.bash(
        "flaky",
        'test -f fixed || { echo "not fixed yet" >&2; exit 3; }\\n'
        'echo "count ran {{ steps.count.outputs.runs }} time(s)"',
        depends_on=[count],
    )
    after = Step.bash("after", "echo after", depends_on=[flaky])
    return Plan("Flaky", steps=[count, flaky, after])
"""

SECRET = """\
from plue import Plan, Step


def workflow(ctx):
    return Plan("Secret", steps=[Step.bash("show", 'echo "token is $API_TOKEN"\\necho "$API_TOKEN" >&2')])
"""

# Prints numbered lines, then waits (in a child process, so the process group matters).
SLEEPER = """\
from plue import Plan, Step


def workflow(ctx):
    wait = Step.bash(
        "wait",
        'for i in $(seq 1 50); do echo "line $i"; done\\nsleep 300 &\\necho $! > sleep.pid\\nwait',
    )
    return Plan("Sleeper", steps=[wait, Step.bash("then", "echo then", depends_on=[wait])])
"""


# --- helpers -----------------------------------------------------------------------------


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> Result:
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [str(arg) for arg in args], env=env, catch_exceptions=False)
    finally:
        os.chdir(previous)


def plue_env(**extra: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("PLUE_DATABASE_URL",)}
    return environment | extra


def plue(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plue", *args], cwd=cwd, capture_output=True, text=True, env=plue_env(**env), timeout=120
    )


def wait_for(what: str, probe: Callable[[], T | None], deadline: float = DEADLINE_SECONDS) -> T:
    """Poll `probe` until it gives something (not None/False), or fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def stored_run(repo: Path, run_id: int | None = None) -> Any:
    store = Store.open(repo=repo)
    try:
        if run_id is None:
            runs = store.list_runs(limit=1)
            return runs[0] if runs else None
        return store.get_run(run_id)
    finally:
        store.close()


def step_of(run: Any, step_id: str) -> Any:
    return next(step for step in run.steps if step.id == step_id)


def process_gone(pid: int) -> bool:
    """The process has exited (a zombie that only waits for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except FileNotFoundError:
        return True
    return stat[stat.rfind(b")") + 2 :].split()[0] == b"Z"


class Running:
    """A `plue workflow run` subprocess whose stdout is read line by line as it comes."""

    def __init__(self, repo: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "plue", "workflow", "run", *args],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=plue_env(),
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, wanted: str) -> None:
        end = time.monotonic() + DEADLINE_SECONDS
        while wanted not in self.lines:
            try:
                line = self._queue.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line {wanted!r} in time; got {self.lines}")
            if line is None:
                pytest.fail(f"plue ended before printing {wanted!r}: {self.lines}")
            self.lines.append(line)

    def finish(self) -> tuple[int, str, str]:
        """(exit code, all of stdout, stderr) once the process has ended."""
        code = self.process.wait(timeout=DEADLINE_SECONDS)
        while (line := self._queue.get(timeout=DEADLINE_SECONDS)) is not None:
            self.lines.append(line)
        assert self.process.stderr is not None
        return code, "\n".join(self.lines), self.process.stderr.read()


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = git_init(tmp_path / "repo")
    write(
        root,
        {
            "pipeline.plue.py": PIPELINE,
            "flaky.plue.py": FLAKY,
            "secret.plue.py": SECRET,
            "sleeper.plue.py": SLEEPER,
            ".gitignore": "count.txt\nfixed\nsleep.pid\n.env\n",
        },
    )
    yield root
    # A test that failed halfway may leave its sleeper behind.
    pid_file = root / "sleep.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


# --- workflow run ------------------------------------------------------------------------------


def test_a_successful_run_passes_outputs_and_is_stored(repo: Path) -> None:
    result = run("workflow", "run", "pipeline.plue.py", cwd=repo)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "==> Pipeline · run 1 · pipeline.plue.py"
    assert "==> make started" in lines
    assert "[make] made it" in lines
    assert "[use] got: hello from make" in lines
    assert lines.index("==> make started") < lines.index("[make] made it") < lines.index("[use] got: hello from make")
    assert any(line.startswith("==> use finished (success, ") for line in lines)
    assert lines[-2].startswith("run 1 success in ")
    assert lines[-1] == "details: plue run view 1"

    stored = stored_run(repo, 1)
    assert stored.status == "success"
    assert stored.event_name == "manual"
    assert [(step.id, step.status, step.exit_code) for step in stored.steps] == [
        ("make", "success", 0),
        ("use", "success", 0),
    ]
    assert step_of(stored, "make").outputs == {"greeting": "hello from make"}


def test_a_workflow_can_be_named_instead_of_a_path(repo: Path) -> None:
    by_name = run("workflow", "run", "Pipeline", cwd=repo)
    by_stem = run("workflow", "run", "pipeline", cwd=repo)

    assert by_name.exit_code == 0, by_name.output
    assert by_stem.exit_code == 0, by_stem.output
    assert "[use] got: hello from make" in by_stem.stdout


def test_a_failing_run_exits_1_and_skips_dependents(repo: Path) -> None:
    result = run("workflow", "run", "flaky.plue.py", cwd=repo)

    assert result.exit_code == 1
    assert "[flaky:stderr] not fixed yet" in result.stdout
    assert "==> after skipped (" in result.stdout
    stored = stored_run(repo, 1)
    assert stored.status == "failed"
    assert step_of(stored, "flaky").status == "failed" and step_of(stored, "flaky").exit_code == 3
    assert step_of(stored, "after").status == "skipped"
    assert "flaky" in (step_of(stored, "after").reason or "")
    assert "  flaky failed" in result.stdout


def test_unknown_workflows_and_options_are_usage_errors(repo: Path) -> None:
    unknown = run("workflow", "run", "nope", cwd=repo)
    bad_input = run("workflow", "run", "pipeline.plue.py", "--input", "x", cwd=repo)
    no_run = run("run", "view", "99", cwd=repo)
    no_logs = run("run", "logs", "99", cwd=repo)

    for result in (unknown, bad_input, no_run, no_logs):
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("plue: error: ")
        assert "Traceback" not in result.output
    assert "named 'nope'" in unknown.stderr and "pipeline.plue.py" in unknown.stderr
    assert "no run 99 in " in no_run.stderr


# --- run list / view / logs -----------------------------------------------------------------------


def test_list_view_and_logs_of_stored_runs(repo: Path) -> None:
    assert run("workflow", "run", "pipeline.plue.py", cwd=repo).exit_code == 0
    assert run("workflow", "run", "flaky.plue.py", cwd=repo).exit_code == 1

    listing = run("run", "list", cwd=repo)
    view = run("run", "view", "2", cwd=repo)
    logs = run("run", "logs", "1", cwd=repo)
    one_step = run("run", "logs", "1", "--step", "use", cwd=repo)
    failed_only = run("run", "list", "--status", "failed", cwd=repo)

    assert listing.exit_code == 0
    rows = listing.stdout.splitlines()
    assert rows[0].split() == ["id", "workflow", "status", "event", "started", "duration"]
    assert rows[1].split()[:4] == ["2", "Flaky", "failed", "manual"]
    assert rows[2].split()[:4] == ["1", "Pipeline", "success", "manual"]
    assert [row.split()[0] for row in failed_only.stdout.splitlines()[1:]] == ["2"]

    assert view.exit_code == 0
    text = view.stdout
    assert "Flaky · run 2" in text and "failed" in text
    steps = [line.split()[1] for line in text.splitlines()[1:] if line[:1] and line[0] in "✓✗-"]
    assert steps == ["count", "flaky", "after"]
    assert "runs=1" in text  # outputs
    assert "exit code 3" in text
    assert "skipped" in text

    assert logs.stdout.splitlines() == ["[make] made it", "[use] got: hello from make"]
    assert one_step.stdout.splitlines() == ["[use] got: hello from make"]


def test_json_output_has_stable_field_names(repo: Path) -> None:
    assert run("workflow", "run", "flaky.plue.py", cwd=repo).exit_code == 1

    view = json.loads(run("run", "view", "1", "--json", cwd=repo).stdout)
    listing = json.loads(run("run", "list", "--json", cwd=repo).stdout)

    assert view["id"] == 1 and view["status"] == "failed"
    assert view["workflow"]["name"] == "Flaky" and view["workflow"]["path"] == "flaky.plue.py"
    assert [step["id"] for step in view["steps"]] == ["count", "flaky", "after"]
    for step in view["steps"]:
        assert {"id", "status", "exit_code", "outputs", "attempt", "error"} <= set(step)
    flaky = view["steps"][1]
    assert (flaky["status"], flaky["exit_code"], flaky["attempt"]) == ("failed", 3, 1)
    assert view["steps"][0]["outputs"] == {"runs": "1"}
    assert listing[0]["id"] == 1 and listing[0]["status"] == "failed" and listing[0]["event"] == "manual"


def test_logs_follow_exits_like_the_run(repo: Path) -> None:
    assert run("workflow", "run", "flaky.plue.py", cwd=repo).exit_code == 1
    assert run("workflow", "run", "pipeline.plue.py", cwd=repo).exit_code == 0

    failed = run("run", "logs", "1", "--follow", cwd=repo)
    succeeded = run("run", "logs", "2", "--follow", cwd=repo)

    assert failed.exit_code == 1 and "[flaky:stderr] not fixed yet" in failed.stdout
    assert succeeded.exit_code == 0 and "[make] made it" in succeeded.stdout


# --- rerun ---------------------------------------------------------------------------------------------


def test_rerun_failed_reuses_the_steps_that_succeeded(repo: Path) -> None:
    assert run("workflow", "run", "flaky.plue.py", cwd=repo).exit_code == 1
    (repo / "fixed").write_text("")

    result = run("run", "rerun", "1", "--failed", cwd=repo)

    assert result.exit_code == 0, result.output
    assert (repo / "count.txt").read_text() == "ran\n"  # `count` did not run again
    assert "==> count reused (succeeded in the earlier run)" in result.stdout
    assert "[flaky] count ran 1 time(s)" in result.stdout  # its stored output was used
    stored = stored_run(repo, 2)
    assert stored.status == "success" and stored.parent_run_id == 1
    assert step_of(stored, "count").reused
    assert step_of(stored, "count").outputs == {"runs": "1"}
    assert step_of(stored, "after").status == "success"


def test_rerun_without_failed_runs_everything_again(repo: Path) -> None:
    assert run("workflow", "run", "flaky.plue.py", cwd=repo).exit_code == 1
    (repo / "fixed").write_text("")

    result = run("run", "rerun", "1", cwd=repo)

    assert result.exit_code == 0, result.output
    assert (repo / "count.txt").read_text() == "ran\nran\n"
    assert "[flaky] count ran 2 time(s)" in result.stdout
    assert not step_of(stored_run(repo, 2), "count").reused


# --- secrets ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["env", "dotenv"])
def test_secrets_are_given_to_steps_and_masked_everywhere(repo: Path, source: str) -> None:
    value = "s3cr3t-value-42"
    env: dict[str, str] = {}
    if source == "env":
        env["API_TOKEN"] = value
    else:
        (repo / ".env").write_text(f'# tokens\nOTHER=x\nexport API_TOKEN="{value}"\n')

    result = run("workflow", "run", "secret.plue.py", "--secret", "API_TOKEN", cwd=repo, env=env)
    logs = run("run", "logs", "1", cwd=repo)

    assert result.exit_code == 0, result.output
    assert value not in result.output and value not in logs.output
    assert "[show] token is ***" in result.stdout
    assert logs.stdout.splitlines() == ["[show] token is ***", "[show:stderr] ***"]


def test_a_missing_secret_is_a_usage_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)

    result = run("workflow", "run", "secret.plue.py", "--secret", "NOPE_NOT_SET", cwd=repo)

    assert result.exit_code == 2
    assert result.stderr.startswith("plue: error: ")
    assert "NOPE_NOT_SET" in result.stderr
    assert stored_run(repo) is None  # nothing was started


# --- cancelling, interrupting, killing -------------------------------------------------------------------


def _wait_until_sleeping(repo: Path) -> tuple[int, int]:
    """(run id, pid of the step's sleep) once the step is running and has started its sleep."""
    run_record = wait_for("the step to run", lambda: _running_step(repo))
    pid = wait_for("sleep.pid", lambda: _read_pid(repo / "sleep.pid"))
    return run_record.id, pid


def _running_step(repo: Path) -> Any:
    record = stored_run(repo)
    if record is None or not record.steps:
        return None
    return record if step_of(record, "wait").status == "running" else None


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def test_cancel_from_another_process(repo: Path) -> None:
    running = Running(repo, "sleeper.plue.py")
    run_id, pid = _wait_until_sleeping(repo)

    cancel = run("run", "cancel", str(run_id), cwd=repo)
    code, out, err = running.finish()

    assert cancel.exit_code == 0, cancel.output
    assert f"requested cancellation of run {run_id}" in cancel.stdout
    assert code == 1, err
    assert "cancel requested" in out
    stored = stored_run(repo, run_id)
    assert stored.status == "cancelled"
    assert step_of(stored, "wait").status == "cancelled"
    assert step_of(stored, "then").status in ("skipped", "cancelled", "pending")
    wait_for("the step's sleep to be killed", lambda: process_gone(pid))

    again = run("run", "cancel", str(run_id), cwd=repo)
    assert again.exit_code == 1 and "not running" in again.stderr


def test_logs_follow_a_running_run_until_it_ends(repo: Path) -> None:
    running = Running(repo, "sleeper.plue.py")
    run_id, _ = _wait_until_sleeping(repo)
    follower = subprocess.Popen(
        [sys.executable, "-m", "plue", "run", "logs", str(run_id), "--follow"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=plue_env(),
    )

    assert run("run", "cancel", str(run_id), cwd=repo).exit_code == 0
    out, err = follower.communicate(timeout=DEADLINE_SECONDS)
    running.finish()

    assert follower.returncode == 1, err  # like the run: cancelled
    assert out.splitlines()[:50] == [f"[wait] line {i}" for i in range(1, 51)]


def test_ctrl_c_cancels_the_run_and_exits_130(repo: Path) -> None:
    running = Running(repo, "sleeper.plue.py")
    run_id, pid = _wait_until_sleeping(repo)

    running.process.send_signal(signal.SIGINT)
    code, out, err = running.finish()

    assert code == 130, err
    assert "Traceback" not in err
    assert "interrupted: cancelling the run" in out
    stored = stored_run(repo, run_id)
    assert stored.status == "cancelled"
    assert step_of(stored, "wait").status == "cancelled"
    wait_for("no orphan: the step's sleep is killed", lambda: process_gone(pid))


def test_a_killed_plue_leaves_an_interrupted_run_with_every_shown_line(repo: Path) -> None:
    running = Running(repo, "sleeper.plue.py")
    running.wait_for_line("[wait] line 50")  # shown, so stored (lines are stored before they are shown)
    pid = wait_for("sleep.pid", lambda: _read_pid(repo / "sleep.pid"))

    running.process.kill()
    running.process.wait(timeout=DEADLINE_SECONDS)  # reaped: its pid is gone, not a zombie
    os.kill(pid, signal.SIGKILL)  # the orphaned step: plue could not clean up after a SIGKILL

    listing = plue(["run", "list"], cwd=repo)
    view = plue(["run", "view", "1", "--json"], cwd=repo)
    logs = plue(["run", "logs", "1"], cwd=repo)

    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[1].split()[:3] == ["1", "Sleeper", "interrupted"]
    data = json.loads(view.stdout)
    assert data["status"] == "interrupted"
    assert data["steps"][0]["status"] == "cancelled"
    shown = [line for line in running.lines if line.startswith("[wait] ")]
    assert shown == [f"[wait] line {i}" for i in range(1, 51)]
    assert logs.stdout.splitlines() == shown


# --- the real command line ------------------------------------------------------------------------------


def test_plain_output_from_a_real_process(repo: Path) -> None:
    result = plue(["workflow", "run", "pipeline.plue.py"], cwd=repo)

    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout
    assert "[use] got: hello from make" in result.stdout.splitlines()


def run_in_terminal(args: list[str], cwd: Path, **env: str) -> tuple[int, str]:
    """Run `plue args` with stdout and stderr on a pseudo-terminal: (exit code, what it printed)."""
    controller, terminal = pty.openpty()
    environment = {key: value for key, value in plue_env().items() if key not in ("CI", "NO_COLOR", "FORCE_COLOR")}
    process = subprocess.Popen(
        [sys.executable, "-m", "plue", *args],
        cwd=cwd,
        stdout=terminal,
        stderr=terminal,
        env=environment | {"TERM": "xterm-256color"} | env,
    )
    os.close(terminal)
    output = b""
    while select.select([controller], [], [], DEADLINE_SECONDS)[0]:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        output += chunk
    code = process.wait(timeout=DEADLINE_SECONDS)
    os.close(controller)
    return code, output.decode()


def test_a_live_view_on_a_terminal_unless_ci_is_set(repo: Path) -> None:
    live_code, live = run_in_terminal(["workflow", "run", "pipeline.plue.py"], cwd=repo)
    ci_code, plain = run_in_terminal(["workflow", "run", "pipeline.plue.py"], cwd=repo, CI="true")

    assert live_code == 0 and ci_code == 0
    assert "==> " not in live and "[make]" not in live  # no plain lines
    assert "\x1b[32m✓" in live  # a green tick per step
    assert "run 1 success" in live and "details: plue run view 1" in live
    assert "==> make started" in plain and "[use] got: hello from make" in plain


def test_the_ci_example_runs_end_to_end_offline(tmp_path: Path) -> None:
    root = git_init(tmp_path / "repo")
    shutil.copytree(EXAMPLES, root / "examples", ignore=shutil.ignore_patterns("dist", "__pycache__"))

    result = plue(["workflow", "run", "examples/ci.plue.py"], cwd=root)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("[test] Ran 4 tests in ") for line in lines)
    assert "==> lint finished (success, " in result.stdout
    assert "[smoke] Hello, Plue!" in lines
    assert "[report] tests: 4 passed" in lines
    assert (root / "examples/hello/dist/hello.pyz").is_file()
