"""The step executors with real processes: streams, lines, exit codes, deadline, cancel, process groups, python.

Executors are called directly with a hand-made `StepContext`; the engine tests
cover them through the engine. No sleeps as synchronisation: waits poll for a
condition, bounded by a deadline.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from process_support import in_background, process_gone, wait_until

from plue.engine import StepContext, StepResult, StepStatus, Stream
from plue.steps import BashExecutor, LlmExecutor, PythonExecutor, default_executors, process
from plue.steps.lines import MAX_LINE_BYTES, LineSplitter

# --- helpers ----------------------------------------------------------------------


@dataclass
class Attempt:
    context: StepContext
    lines: list[tuple[Stream, str]] = field(default_factory=list)

    def texts(self, stream: Stream = Stream.STDOUT) -> list[str]:
        return [text for s, text in self.lines if s == stream]


def attempt(workspace: Path, step: dict[str, Any], *, deadline: float | None = None) -> Attempt:
    lines: list[tuple[Stream, str]] = []
    context = StepContext(
        run_id="run",
        step={"id": "s", "timeout": None, **step},
        attempt=1,
        workspace=workspace,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "PLUE_OUTPUT": str(workspace / "out")},
        output_file=workspace / "out",
        log=lambda stream, text: lines.append((stream, text)),
        cancelled=threading.Event(),
        deadline=deadline,
    )
    return Attempt(context, lines)


def run_bash(workspace: Path, cmd: str, **options: Any) -> tuple[StepResult, Attempt]:
    current = attempt(workspace, {"type": "bash", "cmd": cmd}, **options)
    return BashExecutor(kill_grace=1.0).run(current.context), current


def assert_gone(workspace: Path, *pid_files: str) -> None:
    for name in pid_files:
        pid = int((workspace / name).read_text())
        wait_until(partial(process_gone, pid), f"process {pid} ({name}) to be gone")


# --- streams and lines -----------------------------------------------------------------


def test_stdout_and_stderr_are_separate_and_ordered_per_stream(tmp_path: Path) -> None:
    result, run = run_bash(tmp_path, "for i in 1 2 3; do echo out$i; echo err$i >&2; done")
    assert result == StepResult(StepStatus.SUCCESS, exit_code=0)
    assert run.texts(Stream.STDOUT) == ["out1", "out2", "out3"]
    assert run.texts(Stream.STDERR) == ["err1", "err2", "err3"]


def test_ten_megabytes_on_stderr_alone_do_not_deadlock(tmp_path: Path) -> None:
    result, run = run_bash(tmp_path, "head -c 10000000 /dev/zero | tr '\\0' x | fold -w 99 >&2")
    assert result.status is StepStatus.SUCCESS
    assert run.texts(Stream.STDOUT) == []
    lines = run.texts(Stream.STDERR)
    assert len(lines) == 101011 and lines[0] == "x" * 99 and lines[-1] == "x" * (10_000_000 % 99)


def test_a_last_line_without_newline_is_a_line(tmp_path: Path) -> None:
    result, run = run_bash(tmp_path, "printf 'one\\ntwo'; printf 'err' >&2")
    assert result.status is StepStatus.SUCCESS
    assert run.texts() == ["one", "two"] and run.texts(Stream.STDERR) == ["err"]


def test_invalid_utf8_is_replaced_and_crlf_is_a_line_end(tmp_path: Path) -> None:
    result, run = run_bash(tmp_path, "printf 'ok\\xff\\xfe end\\r\\n\\xc3\\xa9t\\xc3\\xa9\\n'")
    assert result.status is StepStatus.SUCCESS
    assert run.texts() == ["ok\ufffd\ufffd end", "été"]


def test_very_long_lines_are_split(tmp_path: Path) -> None:
    result, run = run_bash(tmp_path, "head -c 200000 /dev/zero | tr '\\0' y; echo; echo short")
    assert result.status is StepStatus.SUCCESS
    assert [len(line) for line in run.texts()] == [MAX_LINE_BYTES] * 3 + [200000 - 3 * MAX_LINE_BYTES, 5]


def test_line_splitter_cuts_long_lines_at_character_boundaries() -> None:
    lines: list[str] = []
    splitter = LineSplitter(lines.append, max_line_bytes=8)
    splitter.feed("abcdefgé".encode())  # é is 2 bytes: 9 bytes, no newline yet
    splitter.feed(b"\nsplit ")
    splitter.feed(b"across\r\nfeeds\n\nlast")
    splitter.close()
    assert lines == ["abcdefg", "é", "split ac", "ross", "feeds", "", "last"]
    assert all(len(line.encode()) <= 8 for line in lines)


# --- exit codes and bash options --------------------------------------------------------


def test_exit_codes_signals_and_bash_options(tmp_path: Path) -> None:
    assert run_bash(tmp_path, "exit 7")[0] == StepResult(StepStatus.FAILED, exit_code=7, error="exit code 7")
    assert run_bash(tmp_path, "kill -SEGV $$")[0] == StepResult(StepStatus.FAILED, error="killed by SIGSEGV")
    result, run = run_bash(tmp_path, "false; echo unreachable")  # -e
    assert result.exit_code == 1 and run.texts() == []
    assert run_bash(tmp_path, "false | true")[0].exit_code == 1  # -o pipefail


def test_a_missing_interpreter_fails_the_step_clearly(tmp_path: Path) -> None:
    current = attempt(tmp_path, {"type": "bash", "cmd": "true"})
    result = BashExecutor(bash="/nonexistent/bash").run(current.context)
    assert result.status is StepStatus.FAILED
    assert result.error is not None and result.error.startswith("could not start /nonexistent/bash:")


def test_the_process_runs_in_the_workspace_with_the_context_env_only(tmp_path: Path) -> None:
    result, run = run_bash(tmp_path, 'pwd; echo "${HOME:-nohome}"; echo "$PLUE_OUTPUT"; read -r x || echo eof')
    assert result.status is StepStatus.SUCCESS
    assert run.texts() == [str(tmp_path), "nohome", str(tmp_path / "out"), "eof"]  # stdin is /dev/null


# --- deadline, cancel, process groups ------------------------------------------------------------

CHILDREN = (
    "sleep 1000 & echo $! > bg.pid; "
    "bash -c 'sleep 1000 & echo $! > nested.pid; wait' & echo $! > nested-parent.pid; "
    "while [ ! -s nested.pid ]; do sleep 0.01; done; touch started; wait"
)


def test_the_deadline_kills_the_process_group(tmp_path: Path) -> None:
    # The deadline passes only once the children exist: it is set when `started` appears.
    current = attempt(tmp_path, {"type": "bash", "cmd": CHILDREN, "timeout": 5}, deadline=time.monotonic() + 600)
    run = partial(BashExecutor(kill_grace=1.0).run, current.context)
    with in_background(run, current.context.cancelled.set) as outcome:
        wait_until((tmp_path / "started").exists, "the children to start")
        object.__setattr__(current.context, "deadline", time.monotonic())  # the runner reads it as it waits
    assert outcome == [StepResult(StepStatus.TIMED_OUT, error="timed out after 5s")]
    assert_gone(tmp_path, "bg.pid", "nested.pid", "nested-parent.pid")


def test_cancel_kills_the_process_group(tmp_path: Path) -> None:
    current = attempt(tmp_path, {"type": "bash", "cmd": CHILDREN})
    run = partial(BashExecutor(kill_grace=1.0).run, current.context)
    with in_background(run, current.context.cancelled.set) as outcome:
        wait_until((tmp_path / "started").exists, "the children to start")
        current.context.cancelled.set()
    assert outcome == [StepResult(StepStatus.CANCELLED, error="cancelled")]
    assert_gone(tmp_path, "bg.pid", "nested.pid", "nested-parent.pid")


def test_a_group_that_ignores_sigterm_gets_sigkill(tmp_path: Path) -> None:
    # An ignored signal stays ignored across exec: the sleep ignores SIGTERM too.
    cmd = "trap '' TERM; sleep 1000 & echo $! > bg.pid; touch started; wait"
    current = attempt(tmp_path, {"type": "bash", "cmd": cmd})
    run = partial(BashExecutor(kill_grace=0.2).run, current.context)
    with in_background(run, current.context.cancelled.set) as outcome:
        wait_until((tmp_path / "started").exists, "the step to start")
        current.context.cancelled.set()
    assert outcome == [StepResult(StepStatus.CANCELLED, error="cancelled")]
    assert_gone(tmp_path, "bg.pid")


def test_leftovers_holding_the_pipes_are_killed_when_the_step_ends(tmp_path: Path) -> None:
    result, run = run_bash(tmp_path, "sleep 1000 & echo $! > bg.pid; echo main done")
    assert result.status is StepStatus.SUCCESS and run.texts() == ["main done"]
    assert_gone(tmp_path, "bg.pid")


def test_a_process_that_escaped_the_group_cannot_hold_the_step_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "GIVE_UP_SECONDS", 0.2)
    escape = (
        "setsid sleep 1000 & echo $! > escaped.pid; "
        'for i in $(seq 3000); do [ "$(ps -o sid= -p $! | tr -d " ")" = "$!" ] && break; sleep 0.01; done; '  # left
        "echo main done"
    )
    result, run = run_bash(tmp_path, escape)
    escaped = int((tmp_path / "escaped.pid").read_text())
    try:
        assert result.status is StepStatus.SUCCESS and run.texts() == ["main done"]
        assert run.texts(Stream.SYSTEM) == [
            "warning: a process outside the step's process group kept its output open; stopped reading"
        ]
    finally:
        os.kill(escaped, signal.SIGKILL)  # out of the step's reach by design (setsid): the test cleans up


# --- python ------------------------------------------------------------------------------


def run_python(workspace: Path, **step: Any) -> tuple[StepResult, Attempt]:
    current = attempt(workspace, {"type": "python", "id": "build", "script": None, "file": None, **step})
    return PythonExecutor().run(current.context), current


def test_a_python_script_shows_its_source_in_tracebacks(tmp_path: Path) -> None:
    result, run = run_python(tmp_path, script="import json, os\nprint(json.dumps([os.getcwd()]))\n\n1 / 0\n")
    assert result == StepResult(StepStatus.FAILED, exit_code=1, error="exit code 1")
    assert run.texts() == [f'["{tmp_path}"]']  # a step named like a module does not shadow it
    errors = run.texts(Stream.STDERR)
    assert any(line.endswith('step-build.py", line 4, in <module>') for line in errors), errors
    assert "    1 / 0" in errors and errors[-1] == "ZeroDivisionError: division by zero"


def test_python_output_is_unbuffered(tmp_path: Path) -> None:
    script = "import pathlib, time\nprint('first')\nwhile not pathlib.Path('go').exists(): time.sleep(0.01)\nprint(2)\n"
    current = attempt(tmp_path, {"type": "python", "script": script, "file": None})
    with in_background(partial(PythonExecutor().run, current.context), current.context.cancelled.set) as outcome:
        wait_until(lambda: current.texts() == ["first"], "the first line while the script runs")
        (tmp_path / "go").touch()
    assert outcome[0].status is StepStatus.SUCCESS
    assert current.texts() == ["first", "2"]


def test_a_python_file_runs_from_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools/job.py").write_text("import sys\nprint(sys.argv[0].endswith('tools/job.py'))\n")
    result, run = run_python(tmp_path, file="tools/job.py")
    assert result.status is StepStatus.SUCCESS and run.texts() == ["True"]


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../outside.py", "is outside the workspace"),
        ("/etc/hostname", "is outside the workspace"),
        ("link.py", "is outside the workspace"),
        ("missing.py", "does not exist in the workspace"),
        ("tools", "does not exist in the workspace"),
    ],
)
def test_a_python_file_must_be_in_the_workspace(tmp_path: Path, path: str, problem: str) -> None:
    workspace = tmp_path / "ws"
    (workspace / "tools").mkdir(parents=True)
    (tmp_path / "outside.py").write_text("print('escaped')\n")
    (workspace / "link.py").symlink_to(tmp_path / "outside.py")
    result, run = run_python(workspace, file=path)
    assert result == StepResult(StepStatus.FAILED, error=f"python file {path!r} {problem}" + (
        "; give a path inside the repository" if "outside" in problem else ""))  # fmt: skip
    assert run.lines == []


def test_python_uses_the_runner_s_interpreter(tmp_path: Path) -> None:
    result, run = run_python(tmp_path, script="import sys\nprint(sys.executable)\n")
    assert result.status is StepStatus.SUCCESS and run.texts() == [sys.executable]


# --- llm without a key and the defaults (the llm executor itself: tests/test_llm_step.py) ------------------


def test_an_llm_step_without_an_api_key_fails_clearly(tmp_path: Path) -> None:
    current = attempt(tmp_path, {"type": "llm", "prompt": "hi"})
    result = LlmExecutor().run(current.context)
    assert result.status is StepStatus.FAILED
    assert result.error is not None and result.error.startswith("ANTHROPIC_API_KEY is not set; add it as a secret")


def test_default_executors_cover_every_step_type() -> None:
    executors = default_executors()
    assert set(executors) == {"bash", "python", "llm"}
    assert isinstance(executors["bash"], BashExecutor) and isinstance(executors["python"], PythonExecutor)
