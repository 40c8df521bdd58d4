"""Local mode without the command line: the store sink's ordering, the displays, `.env` secrets."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import pytest
from rich.console import Console

from plue import Plan, Step
from plue.cli.live import DisplayEvent, LiveDisplay, PlainDisplay, RunModel
from plue.cli.local_run import LocalRun, Reused
from plue.cli.run_actions import reusable_steps
from plue.cli.secrets import parse_dotenv, resolve_secrets
from plue.engine import (
    RunFinished,
    RunStarted,
    StepFinished,
    StepLogs,
    StepReused,
    StepSkipped,
    StepStarted,
    StepStatus,
)
from plue.engine.masking import Masker
from plue.store import Store


def plan_data(*steps: Step) -> dict[str, Any]:
    return Plan("Test", steps=list(steps)).to_data()


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store.open(repo=tmp_path) as opened:
        yield opened


def new_run(store: Store, plan: dict[str, Any]) -> int:
    workflow_id = store.upsert_workflow("test.plue.py", "Test", "0" * 64, plan)
    return store.create_run(workflow_id=workflow_id, plan=plan, event_name="manual", event=None, inputs={})


class CheckingDisplay:
    """A display that checks, for everything it is shown, that the store already has it."""

    def __init__(self, store: Store, run_id: int, steps: Sequence[str]) -> None:
        self.model = RunModel(steps)
        self.store = store
        self.run_id = run_id
        self.seen: list[DisplayEvent] = []

    def start(self) -> None:
        pass

    def tick(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def show(self, events: Sequence[DisplayEvent]) -> None:
        for event in events:
            self._check(event)
            self.seen.append(event)

    def _check(self, event: DisplayEvent) -> None:
        run = self.store.get_run(self.run_id)
        assert run is not None
        attempts = {(step.id, step.attempt): step for step in run.attempts}
        match event:
            case RunStarted():
                assert run.status != "queued"
            case StepStarted(step_id=step_id, attempt=attempt):
                assert attempts[(step_id, attempt)].started_at is not None
            case StepLogs(lines=lines):
                stored = {(log.step_id, log.attempt, log.seq, log.text) for log in self.store.read_logs(self.run_id)}
                assert {(line.step_id, line.attempt, line.seq, line.text) for line in lines} <= stored
            case StepFinished(step_id=step_id, attempt=attempt, status=status):
                assert attempts[(step_id, attempt)].status == str(status)
            case StepSkipped(step_id=step_id):
                assert any(step.id == step_id and step.status in ("skipped", "cancelled") for step in run.steps)
            case StepReused(step_id=step_id):
                assert any(step.id == step_id and step.reused for step in run.steps)
            case RunFinished(status=status):
                assert run.status == str(status)


def test_everything_is_stored_before_it_is_shown(store: Store, tmp_path: Path) -> None:
    many = 'for i in $(seq 1 3000); do echo "line $i"; done'
    plan = plan_data(
        Step.bash("first", many + '\necho "n=3000" >> "$PLUE_OUTPUT"'),
        Step.bash("second", "echo '{{ steps.first.outputs.n }}'; exit 4", depends_on="first"),
        Step.bash("third", "echo never", depends_on="second"),
    )
    run_id = new_run(store, plan)
    display = CheckingDisplay(store, run_id, ["first", "second", "third"])

    local = LocalRun(store, run_id, plan, display, workspace=tmp_path)
    outcome = local.execute()

    assert local.pump.error is None  # no check of CheckingDisplay failed
    assert outcome.status == "failed" and outcome.signal is None
    kinds = [type(event).__name__ for event in display.seen]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert "StepSkipped" in kinds
    shown = [line.text for event in display.seen if isinstance(event, StepLogs) for line in event.lines]
    assert shown[:3000] == [f"line {i}" for i in range(1, 3001)]
    assert shown[3000:] == ["3000"]


def test_a_rerun_reuses_what_it_is_given(store: Store, tmp_path: Path) -> None:
    plan = plan_data(
        Step.bash("make", "echo ran >> made.txt"),
        Step.bash("use", "echo 'got {{ steps.make.outputs.value }}'", depends_on="make"),
    )
    run_id = new_run(store, plan)
    display = CheckingDisplay(store, run_id, ["make", "use"])

    local = LocalRun(store, run_id, plan, display, workspace=tmp_path, reuse={"make": Reused({"value": "42"}, 0)})
    outcome = local.execute()

    assert local.pump.error is None
    assert outcome.status == "success"
    assert not (tmp_path / "made.txt").exists()
    assert [line.text for event in display.seen if isinstance(event, StepLogs) for line in event.lines] == ["got 42"]


def test_reusable_steps_are_successes_with_nothing_rerun_upstream(store: Store, tmp_path: Path) -> None:
    # a ok -> b failed -> c skipped;  d ok (independent);  e (when=always) ok after b.
    plan = plan_data(
        Step.bash("a", "true"),
        Step.bash("b", "exit 1", depends_on="a"),
        Step.bash("c", "true", depends_on="b"),
        Step.bash("d", "true"),
        Step.bash("e", "true", depends_on="b", when="always"),
    )
    run_id = new_run(store, plan)
    LocalRun(store, run_id, plan, CheckingDisplay(store, run_id, list("abcde")), workspace=tmp_path).execute()
    run = store.get_run(run_id)
    assert run is not None

    assert sorted(reusable_steps(run)) == ["a", "d"]  # e ran after b, which runs again


# --- the displays -------------------------------------------------------------------------------------


def test_plain_display_prints_prefixed_lines_and_transitions() -> None:
    from plue.engine import LogLine, Stream

    lines: list[str] = []
    display = PlainDisplay(RunModel(["test"]), lambda text: lines.extend(text.split("\n")), Masker(["hunter22"]))

    display.show(
        [
            StepStarted("test", 1, 10.0),
            StepLogs(
                (
                    LogLine("test", 1, 1, Stream.STDOUT, 10.1, "ok"),
                    LogLine("test", 1, 2, Stream.STDERR, 10.2, "warn hunter22"),
                )
            ),
            StepFinished("test", 1, StepStatus.FAILED, 10.0, 11.5, exit_code=2, will_retry=True),
            StepStarted("test", 2, 12.0),
            StepLogs((LogLine("test", 2, 1, Stream.STDOUT, 12.1, "\x1b[2Jagain"),)),
            StepFinished("test", 2, StepStatus.SUCCESS, 12.0, 12.25, exit_code=0),
        ]
    )

    assert lines == [
        "==> test started",
        "[test] ok",
        "[test:stderr] warn ***",
        "==> test finished (failed, 1.5s, exit code 2); retrying",
        "==> test started (attempt 2)",
        "[test#2] \\x1b[2Jagain",
        "==> test finished (success, 0.2s, attempt 2)",
    ]


def test_live_display_shows_steps_in_order_with_the_tail_of_running_logs() -> None:
    from plue.engine import LogLine, Stream

    buffer = io.StringIO()
    console = Console(file=buffer, width=100, force_terminal=False, color_system=None)
    display = LiveDisplay(RunModel(["build", "test", "deploy"]), console, Masker(), "CI · run 7")

    for event in [
        RunStarted("7", 1.0),
        StepStarted("build", 1, 1.0),
        StepFinished("build", 1, StepStatus.SUCCESS, 1.0, 2.0, exit_code=0),
        StepStarted("test", 1, 2.0),
        StepLogs(tuple(LogLine("test", 1, i, Stream.STDOUT, 2.0, f"line {i}") for i in range(1, 10))),
    ]:
        display.model.apply(event)
    with console.capture() as captured:
        console.print(display.render(now=5.0))
    text = captured.get()

    assert text.index("build") < text.index("test") < text.index("deploy")
    assert "✓ build" in text and "1.0s" in text and "3.0s" in text
    assert "line 9" in text and "line 6" in text and "line 5" not in text  # the tail only
    assert "· deploy" in text


# --- secrets -------------------------------------------------------------------------------------------------


def test_dotenv_syntax() -> None:
    text = """
# a comment
PLAIN=value with spaces   # trailing comment
export EXPORTED=yes
SINGLE='a # literal \\n'
DOUBLE="line\\nnext \\"quoted\\""
EMPTY=
HASH=a#b
"""
    assert parse_dotenv(text) == {
        "PLAIN": "value with spaces",
        "EXPORTED": "yes",
        "SINGLE": "a # literal \\n",
        "DOUBLE": 'line\nnext "quoted"',
        "EMPTY": "",
        "HASH": "a#b",
    }


@pytest.mark.parametrize("text", ["NO_EQUALS\n", "1BAD=x\n", 'OPEN="never closed\n'])
def test_a_bad_dotenv_line_is_named(text: str) -> None:
    with pytest.raises(click.UsageError, match=r"\.env:1: "):
        parse_dotenv(text)


def test_secrets_come_from_the_environment_first_then_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=from-file\nB=file-only\n")

    assert resolve_secrets(["A", "B"], tmp_path, {"A": "from-env"}) == {"A": "from-env", "B": "file-only"}
    with pytest.raises(click.BadParameter, match="secret C is neither in the environment nor in"):
        resolve_secrets(["C"], tmp_path, {})
