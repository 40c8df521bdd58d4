"""The engine with real processes: order of events, scheduling, skips, retries, timeouts, cancel, outputs, secrets.

No mocks of subprocess, no sleeps as synchronisation, no timing assertions:
where a test must wait for something it polls for the condition, bounded by a
deadline (`wait_until`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from process_support import in_background, process_gone, wait_until

from plue import Plan, Step
from plue.engine import (
    Engine,
    EngineEvent,
    LogLine,
    RunFinished,
    RunStarted,
    RunStatus,
    StepContext,
    StepFinished,
    StepLogs,
    StepResult,
    StepReused,
    StepSkipped,
    StepStarted,
    StepStatus,
    Stream,
)
from plue.steps import default_executors
from plue.steps.llm import MISSING_KEY
from plue.validation import PlanInvalid

# --- helpers ----------------------------------------------------------------------


class RecordingSink:
    """Keeps every event, in the order received."""

    def __init__(self) -> None:
        self.events: list[EngineEvent] = []
        self._lock = threading.Lock()

    def emit(self, event: EngineEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        with self._lock:
            return [event for event in self.events if isinstance(event, kind)]

    def lines(self, step_id: str | None = None, *, stream: Stream | None = None) -> list[LogLine]:
        return [
            line
            for batch in self.of(StepLogs)
            for line in batch.lines
            if (step_id is None or line.step_id == step_id) and (stream is None or line.stream == stream)
        ]

    def texts(self, step_id: str, stream: Stream = Stream.STDOUT, attempt: int | None = None) -> list[str]:
        return [line.text for line in self.lines(step_id, stream=stream) if attempt is None or line.attempt == attempt]

    def finished(self, step_id: str) -> list[StepFinished]:
        return [event for event in self.of(StepFinished) if event.step_id == step_id]

    def last(self, step_id: str) -> StepFinished:
        return self.finished(step_id)[-1]

    def skipped(self, step_id: str) -> StepSkipped:
        (event,) = [event for event in self.of(StepSkipped) if event.step_id == step_id]
        return event

    def run_finished(self) -> RunFinished:
        (event,) = self.of(RunFinished)
        return event


def make_plan(*steps: Step, **options: Any) -> dict[str, Any]:
    return Plan("test", steps=list(steps), **options).to_data()


def make_engine(plan: dict[str, Any], workspace: Path, sink: RecordingSink, **options: Any) -> Engine:
    options.setdefault("retry_delay_scale", 0)
    executors = options.pop("executors", None) or default_executors(kill_grace=1.0)
    return Engine(plan, executors, sink, run_id="run-1", workspace=workspace, **options)


def run_plan(plan: dict[str, Any], workspace: Path, **options: Any) -> tuple[RunStatus, RecordingSink]:
    sink = RecordingSink()
    return make_engine(plan, workspace, sink, **options).run(), sink


def read_pids(workspace: Path, *names: str) -> list[int]:
    return [int((workspace / name).read_text()) for name in names]


def assert_processes_gone(pids: list[int]) -> None:
    for pid in pids:
        wait_until(partial(process_gone, pid), f"process {pid} to be gone")


# Starts background children (a direct one and a nested one) and records their pids, then blocks.
BACKGROUND_CHILDREN = (
    "sleep 1000 & echo $! > bg.pid; "
    "bash -c 'sleep 1000 & echo $! > nested.pid; wait' & echo $! > nested-parent.pid; "
    "while [ ! -s nested.pid ]; do sleep 0.01; done; "
    "touch started; wait"
)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "workspace"
    path.mkdir()
    yield path


# --- order of events ----------------------------------------------------------------


def test_a_chain_emits_its_events_in_order(workspace: Path) -> None:
    plan = make_plan(Step.bash("a", "echo one"), Step.bash("b", "echo two", depends_on=["a"]))
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.SUCCESS
    kinds = [(type(event).__name__, getattr(event, "step_id", None)) for event in sink.events]
    assert kinds == [
        ("RunStarted", None),
        ("StepStarted", "a"),
        ("StepLogs", None),
        ("StepFinished", "a"),
        ("StepStarted", "b"),
        ("StepLogs", None),
        ("StepFinished", "b"),
        ("RunFinished", None),
    ]
    started = sink.of(RunStarted)[0]
    assert started.run_id == "run-1"
    assert sink.last("a").status is StepStatus.SUCCESS and sink.last("a").exit_code == 0
    assert sink.texts("a") == ["one"] and sink.texts("b") == ["two"]
    assert sink.run_finished() == RunFinished(RunStatus.SUCCESS, sink.run_finished().at, None)


def test_every_line_of_an_attempt_comes_before_its_step_finished(workspace: Path) -> None:
    plan = make_plan(Step.bash("many", "seq 5000; seq 3 >&2"), Step.bash("other", "seq 2500"))
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.SUCCESS
    for step_id, count in (("many", 5003), ("other", 2500)):
        finished_at = next(i for i, e in enumerate(sink.events) if isinstance(e, StepFinished) and e.step_id == step_id)
        positions = [
            i
            for i, e in enumerate(sink.events)
            if isinstance(e, StepLogs) and any(x.step_id == step_id for x in e.lines)
        ]
        assert positions and max(positions) < finished_at
        assert [line.seq for line in sink.lines(step_id)] == list(range(1, count + 1))
    assert sink.texts("many") == [str(n) for n in range(1, 5001)]
    assert sink.texts("many", Stream.STDERR) == ["1", "2", "3"]
    assert len(sink.of(StepLogs)) > 2  # batched, but not one event per line
    assert len(sink.of(StepLogs)) < 100


def test_ready_steps_start_in_plan_order(workspace: Path) -> None:
    plan = make_plan(
        Step.bash("c", "true"),
        Step.bash("x", "true", depends_on=["c"]),
        Step.bash("a", "true"),
        Step.bash("b", "true"),
    )
    status, sink = run_plan(plan, workspace, max_parallel=1)
    assert status is RunStatus.SUCCESS
    # When c ends, x (position 1) is ready along with a and b, and goes first.
    assert [event.step_id for event in sink.of(StepStarted)] == ["c", "x", "a", "b"]


def test_a_quiet_step_s_lines_are_flushed_while_it_runs(workspace: Path) -> None:
    plan = make_plan(Step.bash("quiet", "echo hello; while [ ! -e go ]; do sleep 0.01; done; echo bye"))
    sink = RecordingSink()
    engine = make_engine(plan, workspace, sink)
    with in_background(engine.run, engine.cancel) as outcome:
        wait_until(lambda: sink.texts("quiet") == ["hello"], "the first line while the step still runs")
        (workspace / "go").touch()
    assert outcome == [RunStatus.SUCCESS]
    assert sink.texts("quiet") == ["hello", "bye"]


# --- scheduling ----------------------------------------------------------------------

# The first two steps wait (bounded) for each other: they can only finish by running at the same time.
PAIR = (
    "touch $PLUE_STEP_ID.here; for i in $(seq 3000); do [ -e {other}.here ] && break; sleep 0.01; done; "
    "[ -e {other}.here ]"
)


def test_parallel_steps_never_exceed_max_parallel(workspace: Path) -> None:
    pair = [Step.bash("s0", PAIR.format(other="s1")), Step.bash("s1", PAIR.format(other="s0"))]
    plan = make_plan(*pair, *(Step.bash(f"s{i}", "true") for i in range(2, 9)))
    status, sink = run_plan(plan, workspace, max_parallel=2)
    assert status is RunStatus.SUCCESS  # s0 and s1 ran at the same time
    # A process runs between its StepStarted and StepFinished: their overlap bounds the processes'.
    running, most = 0, 0
    for event in sink.events:
        running += isinstance(event, StepStarted) - isinstance(event, StepFinished)
        most = max(most, running)
    assert most == 2


def test_max_parallel_one_runs_steps_one_at_a_time(workspace: Path) -> None:
    record = "echo start >> log; echo end >> log"
    plan = make_plan(*(Step.bash(f"s{i}", record) for i in range(5)))
    status, _ = run_plan(plan, workspace, max_parallel=1)
    assert status is RunStatus.SUCCESS
    assert (workspace / "log").read_text().split() == ["start", "end"] * 5


# --- failures, skips and when ----------------------------------------------------------------


def test_a_failure_skips_its_dependents_and_other_branches_continue(workspace: Path) -> None:
    plan = make_plan(
        Step.bash("a", "echo failing; exit 3"),
        Step.bash("b", "echo never", depends_on=["a"]),
        Step.bash("c", "echo never", depends_on=["b"]),
        Step.bash("d", "echo independent"),
        Step.bash("e", "echo after d", depends_on=["d"]),
    )
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.FAILED
    failed = sink.last("a")
    assert (failed.status, failed.exit_code, failed.error) == (StepStatus.FAILED, 3, "exit code 3")
    assert sink.skipped("b").reason == "dependency 'a' failed"
    assert sink.skipped("c").reason == "dependency 'b' was skipped"
    assert sink.skipped("b").status is StepStatus.SKIPPED
    assert sink.last("e").status is StepStatus.SUCCESS and sink.texts("e") == ["after d"]
    assert not sink.texts("b") and not sink.finished("b")


def test_when_always_and_on_failure(workspace: Path) -> None:
    plan = make_plan(
        Step.bash("a", "exit 1"),
        Step.bash("ok", "true"),
        Step.bash("cleanup", "echo cleanup", depends_on=["a", "ok"], when="always"),
        Step.bash("alert", "echo alert", depends_on=["a"], when="on_failure"),
        Step.bash("no-alert", "echo never", depends_on=["ok"], when="on_failure"),
        Step.bash("after-cleanup", "echo after", depends_on=["cleanup"]),
    )
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.FAILED
    assert sink.texts("cleanup") == ["cleanup"]
    assert sink.texts("alert") == ["alert"]
    assert sink.skipped("no-alert").reason == "no dependency failed"
    assert sink.texts("after-cleanup") == ["after"]


def test_on_failure_runs_when_a_dependency_was_skipped(workspace: Path) -> None:
    plan = make_plan(
        Step.bash("build", "exit 1"),
        Step.bash("deploy", "true", depends_on=["build"]),
        Step.bash("rollback", "echo rollback", depends_on=["deploy"], when="on_failure"),
    )
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.FAILED
    assert sink.texts("rollback") == ["rollback"]


# --- retries ----------------------------------------------------------------------


FLAKY = 'n=$(cat tries 2>/dev/null || echo 0); n=$((n+1)); echo $n > tries; echo "try $n"; [ $n -ge 3 ]'


def test_a_failing_step_is_retried_with_attempt_labelled_logs(workspace: Path) -> None:
    plan = make_plan(Step.bash("flaky", FLAKY, retries=3), Step.bash("next", "true", depends_on=["flaky"]))
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.SUCCESS
    assert [(e.attempt, e.status, e.will_retry) for e in sink.finished("flaky")] == [
        (1, StepStatus.FAILED, True),
        (2, StepStatus.FAILED, True),
        (3, StepStatus.SUCCESS, False),
    ]
    assert [e.attempt for e in sink.of(StepStarted) if e.step_id == "flaky"] == [1, 2, 3]
    for attempt in (1, 2, 3):
        assert sink.texts("flaky", attempt=attempt) == [f"try {attempt}"]
        assert next(line.seq for line in sink.lines("flaky") if line.attempt == attempt) == 1
    retry_notes = sink.texts("flaky", Stream.SYSTEM)
    assert len(retry_notes) == 2 and retry_notes[0].startswith("attempt 1 failed; retrying in 0.0s (attempt 2 of 4)")
    assert sink.last("next").status is StepStatus.SUCCESS


def test_retries_run_out(workspace: Path) -> None:
    plan = make_plan(Step.bash("broken", "echo no; exit 2", retries=2))
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.FAILED
    assert [(e.attempt, e.will_retry) for e in sink.finished("broken")] == [(1, True), (2, True), (3, False)]
    assert sink.last("broken").error == "exit code 2"


def test_cancel_during_a_retry_backoff_ends_the_run_at_once(workspace: Path) -> None:
    plan = make_plan(Step.bash("flaky", "exit 1", retries=1, backoff="1h"))
    sink = RecordingSink()
    engine = make_engine(plan, workspace, sink, retry_delay_scale=1.0)
    with in_background(engine.run, engine.cancel) as outcome:
        wait_until(lambda: any(e.will_retry for e in sink.finished("flaky")), "the first attempt to fail")
        engine.cancel()  # without it the run would wait for an hour (and the block's end would fail)
    assert outcome == [RunStatus.CANCELLED]
    assert sink.skipped("flaky").status is StepStatus.CANCELLED
    assert sink.run_finished().status is RunStatus.CANCELLED


# --- timeouts, cancel, process groups ------------------------------------------------------


def test_a_step_timeout_kills_its_whole_process_group(workspace: Path) -> None:
    plan = make_plan(
        Step.bash("slow", BACKGROUND_CHILDREN, timeout=1),
        Step.bash("after", "true", depends_on=["slow"]),
    )
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.FAILED
    finished = sink.last("slow")
    assert (finished.status, finished.error, finished.exit_code) == (StepStatus.TIMED_OUT, "timed out after 1s", None)
    assert sink.skipped("after").reason == "dependency 'slow' timed out"
    assert_processes_gone(read_pids(workspace, "bg.pid", "nested.pid", "nested-parent.pid"))


def test_background_processes_left_by_a_finished_step_are_killed(workspace: Path) -> None:
    plan = make_plan(Step.bash("leaves", "sleep 1000 >/dev/null 2>&1 & echo $! > bg.pid; echo done"))
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.SUCCESS
    assert sink.texts("leaves") == ["done"]
    assert_processes_gone(read_pids(workspace, "bg.pid"))


def test_cancel_from_another_thread_kills_running_steps(workspace: Path) -> None:
    (workspace / "one").mkdir()
    (workspace / "two").mkdir()
    plan = make_plan(
        Step.bash("one", f"cd one; {BACKGROUND_CHILDREN}"),
        Step.bash("two", f"cd two; {BACKGROUND_CHILDREN}"),
        Step.bash("later", "true", depends_on=["one"]),
    )
    sink = RecordingSink()
    engine = make_engine(plan, workspace, sink, max_parallel=2)

    def both_started() -> bool:
        return (workspace / "one/started").exists() and (workspace / "two/started").exists()

    with in_background(engine.run, engine.cancel) as outcome:
        wait_until(both_started, "both steps to run")
        engine.cancel()
        engine.cancel()  # idempotent
    assert outcome == [RunStatus.CANCELLED]
    for step_id in ("one", "two"):
        assert (sink.last(step_id).status, sink.last(step_id).error) == (StepStatus.CANCELLED, "cancelled")
        assert_processes_gone(read_pids(workspace / step_id, "bg.pid", "nested.pid", "nested-parent.pid"))
    later = sink.skipped("later")
    assert (later.status, later.reason) == (StepStatus.CANCELLED, "the run was cancelled")
    assert sink.run_finished().error is None


def test_cancel_before_run_cancels_every_step(workspace: Path) -> None:
    plan = make_plan(Step.bash("a", "touch ran"), Step.bash("b", "touch ran", depends_on=["a"]))
    sink = RecordingSink()
    engine = make_engine(plan, workspace, sink)
    engine.cancel()
    assert engine.run() is RunStatus.CANCELLED
    assert [e.status for e in sink.of(StepSkipped)] == [StepStatus.CANCELLED] * 2
    assert not (workspace / "ran").exists()


def test_the_run_timeout_cancels_the_run(workspace: Path) -> None:
    plan = make_plan(
        Step.bash("slow", f"{BACKGROUND_CHILDREN}"),
        Step.bash("next", "true", depends_on=["slow"]),
        timeout=1,
    )
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.CANCELLED
    assert sink.run_finished().error == "run timed out after 1s"
    assert sink.last("slow").status is StepStatus.CANCELLED
    assert sink.skipped("next").reason == "the run timed out after 1s"
    assert_processes_gone(read_pids(workspace, "bg.pid", "nested.pid", "nested-parent.pid"))


# --- outputs and templating -----------------------------------------------------------


def test_outputs_in_every_form_and_templates_in_cmd_and_env(workspace: Path) -> None:
    plan = make_plan(
        Step.bash("kv", "echo version=1.2.3 >> $PLUE_OUTPUT; echo 'eq=a=b' >> $PLUE_OUTPUT"),
        Step.bash("heredoc", "printf 'notes<<EOF\\nline one\\nline two\\nEOF\\n' >> $PLUE_OUTPUT"),
        Step.python(
            "json",
            "import json, os\n"
            "with open(os.environ['PLUE_OUTPUT'], 'w') as f:\n"
            "    json.dump({'count': 3, 'name': 'x', 'flags': {'a': True}}, f)\n",
        ),
        Step.bash(
            "use",
            "echo v={{ steps.kv.outputs.version }} eq={{steps.kv.outputs.eq}} code={{ steps.kv.exit_code }}; "
            'echo "$NOTES"; echo "$COUNT $FLAGS"',
            depends_on=["kv", "heredoc", "json"],
            env={"NOTES": "{{ steps.heredoc.outputs.notes }}", "COUNT": "n={{ steps.json.outputs.count }}",
                 "FLAGS": "{{ steps.json.outputs.flags }}"},
        ),
    )  # fmt: skip
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.SUCCESS, sink.events
    assert sink.last("kv").outputs == {"version": "1.2.3", "eq": "a=b"}
    assert sink.last("heredoc").outputs == {"notes": "line one\nline two"}
    assert sink.last("json").outputs == {"count": "3", "name": "x", "flags": '{"a": true}'}
    assert sink.texts("use") == ["v=1.2.3 eq=a=b code=0", "line one", "line two", 'n=3 {"a": true}']
    assert not sink.texts("use", Stream.SYSTEM)


def test_a_missing_output_renders_empty_with_a_warning(workspace: Path) -> None:
    plan = make_plan(
        Step.bash("a", "echo present=yes >> $PLUE_OUTPUT"),
        Step.bash("b", "echo \"[{{ steps.a.outputs.absent }}] {{ steps.a.outputs.present }} {{ other }}\"",
                  depends_on=["a"]),
    )  # fmt: skip
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.SUCCESS
    assert sink.texts("b") == ["[] yes {{ other }}"]
    (warning,) = sink.texts("b", Stream.SYSTEM)
    assert warning == (
        "warning: {{ steps.a.outputs.absent }} rendered as an empty string: step 'a' has no output 'absent'"
    )
    assert sink.lines("b")[0].stream is Stream.SYSTEM  # before the step's own output


def test_bad_output_lines_are_warnings_not_errors(workspace: Path) -> None:
    plan = make_plan(Step.bash("a", "printf 'good=1\\nnot an output\\nbad name=2\\n' >> $PLUE_OUTPUT"))
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.SUCCESS
    assert sink.last("a").outputs == {"good": "1"}
    warnings = sink.texts("a", Stream.SYSTEM)
    assert len(warnings) == 2
    assert warnings[0].startswith("warning: $PLUE_OUTPUT line 2 is not an output")
    assert warnings[1].startswith("warning: $PLUE_OUTPUT line 3: output name 'bad name' is not valid")


def test_a_failed_step_s_outputs_are_kept_for_always_steps(workspace: Path) -> None:
    plan = make_plan(
        Step.bash("a", "echo reason=disk >> $PLUE_OUTPUT; exit 4"),
        Step.bash("report", "echo {{ steps.a.outputs.reason }} {{ steps.a.exit_code }}", depends_on=["a"],
                  when="always"),
    )  # fmt: skip
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.FAILED
    assert sink.last("a").outputs == {"reason": "disk"}
    assert sink.texts("report") == ["disk 4"]


def test_a_given_output_dir_is_kept_and_never_leaks_a_stale_file(workspace: Path, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    writes = make_plan(Step.bash("a", "echo key=first >> $PLUE_OUTPUT"))
    status, sink = run_plan(writes, workspace, output_dir=outputs)
    assert status is RunStatus.SUCCESS and sink.last("a").outputs == {"key": "first"}
    assert (outputs / "a.1.out").read_text() == "key=first\n"  # kept for the caller
    silent = make_plan(Step.bash("a", 'test ! -e "$PLUE_OUTPUT"'))  # a fresh path: created by the step if it writes
    status, sink = run_plan(silent, workspace, output_dir=outputs)
    assert status is RunStatus.SUCCESS and sink.last("a").outputs == {}


# --- environment ------------------------------------------------------------------------


def test_the_environment_of_a_step(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUE_TEST_HOST_ONLY", "leaked")
    show = 'echo "$PLUE_RUN_ID $PLUE_STEP_ID $PLUE_ATTEMPT $CI $SHARED $OWN ${PLUE_TEST_HOST_ONLY:-unset}"'
    plan = make_plan(
        Step.bash("a", show + '; echo "$PLUE_WORKSPACE"; echo "$PLUE_OUTPUT"; echo "$PATH"',
                  env={"OWN": "mine", "SHARED": "step wins"}),
        env={"SHARED": "plan", "OWN": "plan"},
    )  # fmt: skip
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.SUCCESS
    first, ws, output, path = sink.texts("a")
    assert first == "run-1 a 1 true step wins mine unset"
    assert ws == str(workspace)
    assert Path(output).name == "a.1.out" and not Path(output).is_relative_to(workspace)
    assert path == os.environ["PATH"]


def test_base_env_replaces_the_inherited_set(workspace: Path) -> None:
    plan = make_plan(Step.bash("a", 'echo "${HOME:-no home} $ONLY"'))
    status, sink = run_plan(plan, workspace, base_env={"PATH": os.environ["PATH"], "ONLY": "base"})
    assert status is RunStatus.SUCCESS
    assert sink.texts("a") == ["no home base"]


# --- secrets ----------------------------------------------------------------------------


class LeakyExecutor:
    """Fails with the secret in its error and extra: the engine must mask both."""

    def run(self, context: StepContext) -> StepResult:
        token = context.env["TOKEN"]
        context.log(Stream.SYSTEM, f"executor says {token}")
        return StepResult(StepStatus.FAILED, error=f"bad token {token}", extra={"text": f"x {token}", "n": [token]})


def test_secrets_are_masked_in_logs_outputs_and_errors(workspace: Path) -> None:
    secrets = {"TOKEN": "s3cr3t-token", "KEY": "-----BEGIN-----\nline-one-of-key\nline-two-of-key\n-----END-----"}
    plan = make_plan(
        Step.bash("echo", 'echo "token=$TOKEN" >> $PLUE_OUTPUT; echo "the token is $TOKEN"; echo "$KEY" >&2; '
                  'echo "$TOKEN" >&2; exit 1'),
        Step.python("py", "import os\nprint('key:', os.environ['KEY'])"),
        Step.llm("leaky", prompt="x"),
    )  # fmt: skip
    executors = {**default_executors(), "llm": LeakyExecutor()}
    status, sink = run_plan(plan, workspace, secrets=secrets, executors=executors)
    assert status is RunStatus.FAILED
    assert sink.texts("echo") == ["the token is ***"]
    assert sink.texts("echo", Stream.STDERR) == ["***", "***", "***", "***", "***"]
    assert sink.last("echo").outputs == {"token": "***"}
    assert sink.texts("py") == ["key: ***", "***", "***", "***"]
    leaky = sink.last("leaky")
    assert leaky.error == "bad token ***"
    assert leaky.extra == {"text": "x ***", "n": ["***"]}
    assert sink.texts("leaky", Stream.SYSTEM) == ["executor says ***"]
    everything = repr(sink.events)
    for value in ("s3cr3t-token", "line-one-of-key", "line-two-of-key"):
        assert value not in everything


# --- python and llm steps -------------------------------------------------------------------


def test_python_steps_script_and_file(workspace: Path) -> None:
    (workspace / "tools").mkdir()
    (workspace / "tools/build.py").write_text(
        "import os, sys\nprint('from file', os.getcwd() == os.environ['PLUE_WORKSPACE'])\n"
        "print('to stderr', file=sys.stderr)\n"
        "open(os.environ['PLUE_OUTPUT'], 'a').write('built=yes\\n')\n"
    )
    plan = make_plan(
        Step.python("inline", "print('value: {{ steps.file.outputs.built }}')", depends_on=["file"]),
        Step.python("file", file="tools/build.py"),
    )
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.SUCCESS
    assert sink.texts("file") == ["from file True"]
    assert sink.texts("file", Stream.STDERR) == ["to stderr"]
    assert sink.texts("inline") == ["value: yes"]


def test_llm_steps_without_an_api_key_fail_clearly(workspace: Path) -> None:
    plan = make_plan(Step.llm("review", prompt="Review"), Step.bash("after", "true", depends_on=["review"]))
    status, sink = run_plan(plan, workspace)
    assert status is RunStatus.FAILED
    assert sink.last("review").error == MISSING_KEY
    assert sink.skipped("after").reason == "dependency 'review' failed"


class CapturingExecutor:
    """Records the rendered step it is given."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    def run(self, context: StepContext) -> StepResult:
        self.steps.append(dict(context.step))
        return StepResult(StepStatus.SUCCESS, extra={"text": "the answer", "output": {"risk": "low"}})


def test_llm_prompt_and_inputs_are_rendered(workspace: Path) -> None:
    plan = make_plan(
        Step.bash("v", "echo version=2 >> $PLUE_OUTPUT"),
        Step.llm("review", prompt="Release {{ steps.v.outputs.version }}?", depends_on=["v"],
                 inputs={"list": ["{{ steps.v.outputs.version }}", 3], "nested": {"k": "{{steps.v.exit_code}}"}}),
        Step.bash("after", "echo '{{ steps.review.text }}' '{{ steps.review.output }}'", depends_on=["review"]),
    )  # fmt: skip
    capturing = CapturingExecutor()
    status, sink = run_plan(plan, workspace, executors={**default_executors(), "llm": capturing})
    assert status is RunStatus.SUCCESS
    (step,) = capturing.steps
    assert step["prompt"] == "Release 2?"
    assert step["inputs"] == {"list": ["2", 3], "nested": {"k": "0"}}
    assert sink.texts("after") == ['the answer {"risk": "low"}']


# --- rerun --------------------------------------------------------------------------------


def test_reused_steps_are_not_run_and_feed_their_dependents(workspace: Path) -> None:
    plan = make_plan(
        Step.bash("build", "touch built; exit 1"),
        Step.bash("test", "echo testing {{ steps.build.outputs.artifact }} {{ steps.build.exit_code }}",
                  depends_on=["build"]),
    )  # fmt: skip
    status, sink = run_plan(plan, workspace, reuse={"build": ({"artifact": "app.tar"}, 0)})
    assert status is RunStatus.SUCCESS
    assert sink.of(StepReused) == [StepReused("build", {"artifact": "app.tar"}, 0, sink.of(StepReused)[0].at)]
    assert [e.step_id for e in sink.of(StepStarted)] == ["test"]
    assert sink.texts("test") == ["testing app.tar 0"]
    assert not (workspace / "built").exists()
    assert isinstance(sink.events[0], RunStarted) and isinstance(sink.events[1], StepReused)


# --- bounded memory ---------------------------------------------------------------------------


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class CountingSink:
    """Counts lines and samples this process's RSS at every batch; keeps nothing."""

    def __init__(self) -> None:
        self.lines = 0
        self.peak_rss = _rss_bytes()
        self.last_seq = 0

    def emit(self, event: EngineEvent) -> None:
        if isinstance(event, StepLogs):
            self.lines += len(event.lines)
            self.last_seq = event.lines[-1].seq
            self.peak_rss = max(self.peak_rss, _rss_bytes())


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_a_million_lines_flow_through_with_bounded_memory(workspace: Path) -> None:
    plan = make_plan(Step.bash("seq", "seq 1000000"))
    sink = CountingSink()
    before = _rss_bytes()
    engine = Engine(plan, default_executors(), sink, run_id="big", workspace=workspace)
    assert engine.run() is RunStatus.SUCCESS
    assert sink.lines == 1_000_000 and sink.last_seq == 1_000_000
    assert sink.peak_rss - before < 64 * 1024 * 1024  # holding the lines would take hundreds of MB


# --- misuse and failures of the pieces --------------------------------------------------------


def test_invalid_plans_and_arguments_are_refused(workspace: Path) -> None:
    plan = make_plan(Step.bash("a", "true"))
    sink = RecordingSink()
    with pytest.raises(PlanInvalid):
        Engine({**plan, "steps": []}, default_executors(), sink, run_id="r", workspace=workspace)
    with pytest.raises(ValueError, match="no executor for step type 'bash'"):
        Engine(plan, {}, sink, run_id="r", workspace=workspace)
    with pytest.raises(ValueError, match="reuse names steps that are not in the plan: zz"):
        Engine(plan, default_executors(), sink, run_id="r", workspace=workspace, reuse={"zz": ({}, 0)})
    with pytest.raises(ValueError, match="secret names"):
        Engine(plan, default_executors(), sink, run_id="r", workspace=workspace, secrets={"A-B": "xyz"})
    with pytest.raises(ValueError, match="not a directory"):
        Engine(plan, default_executors(), sink, run_id="r", workspace=workspace / "missing")
    engine = Engine(plan, default_executors(), sink, run_id="r", workspace=workspace)
    engine.run()
    with pytest.raises(RuntimeError, match="runs once"):
        engine.run()


class ExplodingExecutor:
    def run(self, context: StepContext) -> StepResult:
        raise RuntimeError("boom")


def test_an_executor_that_raises_fails_its_step(workspace: Path) -> None:
    plan = make_plan(Step.llm("x", prompt="p"), Step.bash("y", "true"))
    status, sink = run_plan(plan, workspace, executors={**default_executors(), "llm": ExplodingExecutor()})
    assert status is RunStatus.FAILED
    assert sink.last("x").error == "the llm executor failed: RuntimeError: boom"
    assert sink.last("y").status is StepStatus.SUCCESS


class BrokenSink(RecordingSink):
    def emit(self, event: EngineEvent) -> None:
        if isinstance(event, StepStarted) and event.step_id == "b":
            raise OSError("disk full")
        super().emit(event)


def test_a_failing_sink_cancels_the_run_and_its_error_is_raised(workspace: Path) -> None:
    plan = make_plan(Step.bash("a", BACKGROUND_CHILDREN), Step.bash("b", "true"))
    sink = BrokenSink()
    engine = make_engine(plan, workspace, sink, max_parallel=2)
    with pytest.raises(OSError, match="disk full"):
        engine.run()
    assert not sink.of(RunFinished)  # nothing is emitted after the failure
    if (workspace / "bg.pid").exists():
        assert_processes_gone(read_pids(workspace, "bg.pid"))
