"""The runner agent: client, remote sink, workspace, the agent loop and `plue runner`.

Against `runner_protocol_server` (a real HTTP server in a thread that speaks the runner protocol and
misbehaves on demand), with the real engine, real processes, real `git archive` tarballs. Nothing
waits by sleeping: tests wait for conditions with deadlines.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import platform
import signal
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from ingest_support import Upstream
from process_support import process_gone, wait_until
from runner_protocol_server import ProtocolState, protocol_server
from server_support import bearer, make_config, serve
from workflow_repos import commit_all, git_init, write

from plue import Plan, Step, __version__
from plue.engine import (
    EngineEvent,
    LogLine,
    RunFinished,
    RunStarted,
    RunStatus,
    StepFinished,
    StepLogs,
    StepReused,
    StepStarted,
    StepStatus,
    Stream,
)
from plue.runners.agent import Agent, AgentOptions
from plue.runners.client import (
    AuthRefused,
    Backoff,
    BadClaim,
    Rejected,
    RunnerClient,
    RunnerGone,
    Unreachable,
)
from plue.runners.remote_sink import RemoteSink
from plue.runners.workspace import WorkspaceError, prepare_workspace, unpack_source, wipe
from plue.server.app import create_app
from plue.server.config import RunnerSettings
from plue.store import NewRun, Store

TOKEN = "runner-token"


def plan_of(*steps: Step, **options: Any) -> dict[str, Any]:
    return Plan("ci", steps=list(steps), **options).to_data()


def lines_of(events: list[EngineEvent], step_id: str | None = None) -> list[LogLine]:
    return [
        line
        for event in events
        if isinstance(event, StepLogs)
        for line in event.lines
        if step_id is None or line.step_id == step_id
    ]


def texts(events: list[EngineEvent], step_id: str, stream: Stream = Stream.STDOUT) -> list[str]:
    return [line.text for line in lines_of(events, step_id) if line.stream == stream]


@pytest.fixture
def state() -> ProtocolState:
    return ProtocolState(TOKEN)


@pytest.fixture
def url(state: ProtocolState) -> Iterator[str]:
    with protocol_server(state) as address:
        yield address


@pytest.fixture
def client(url: str) -> Iterator[RunnerClient]:
    with RunnerClient(url, TOKEN) as runner_client:
        yield runner_client


def source_tarball(root: Path, files: dict[str, str | bytes]) -> bytes:
    """`git archive --format=tar.gz HEAD` of a real repository holding `files` (what the server sends)."""
    repo = git_init(root / "source-repo")
    write(repo, files)
    commit_all(repo)
    return subprocess.run(
        ["git", "archive", "--format=tar.gz", "HEAD"], cwd=repo, check=True, capture_output=True
    ).stdout


# --- the client --------------------------------------------------------------------------------


def test_register_sends_the_runner_and_reads_the_servers_timings(state: ProtocolState, client: RunnerClient) -> None:
    host = {"hostname": "h", "os": "linux", "arch": "x86_64", "python": "3.11", "cpus": 2}
    registration = client.register("r1", ["linux", "gpu"], "0.1.0", host, 2, pool="warm")
    runner = state.runners[registration.runner_id]
    assert runner.body == {
        "name": "r1",
        "labels": ["gpu", "linux"],
        "version": "0.1.0",
        "host": host,
        "capacity": 2,
        "pool": "warm",
    }
    assert (registration.heartbeat_seconds, registration.lost_after_seconds, registration.claim_wait_seconds) == (
        0.2,
        30.0,
        1.0,
    )


def test_errors_say_what_to_do(state: ProtocolState, url: str, client: RunnerClient) -> None:
    with RunnerClient(url, "wrong") as stranger, pytest.raises(AuthRefused, match="refused the token"):
        stranger.register("r", [], "v", {}, 1)
    registration = client.register("r", [], "v", {}, 1)
    assert client.claim(registration.runner_id, 0.05) is None  # 204: nothing queued
    state.fault("heartbeat", "410")
    with pytest.raises(RunnerGone, match="410"):
        client.heartbeat(registration.runner_id, [])
    state.fault("heartbeat", "503", "drop")
    with pytest.raises(Unreachable, match="503"):
        client.heartbeat(registration.runner_id, [])
    with pytest.raises(Unreachable, match="cannot reach"):
        client.heartbeat(registration.runner_id, [])
    with RunnerClient("http://127.0.0.1:1", TOKEN) as nowhere, pytest.raises(Unreachable, match="cannot reach"):
        nowhere.register("r", [], "v", {}, 1)


def test_a_claim_that_cannot_be_used_names_its_attempt(state: ProtocolState, client: RunnerClient) -> None:
    registration = client.register("r", [], "v", {}, 1)
    state.queue_claim({}, raw={"attempt_id": 7, "attempt": 1, "run": {"id": 1, "plan": "not an object"}})
    with pytest.raises(BadClaim, match="'plan'") as caught:
        client.claim(registration.runner_id, 1.0)
    assert caught.value.attempt_id == 7


def test_a_source_must_be_a_path_on_the_server(client: RunnerClient, tmp_path: Path) -> None:
    for source in ("http://elsewhere.example/x.tar.gz", "//elsewhere.example/x", "relative/path"):
        with pytest.raises(Rejected, match="not a path on the server"):
            client.download_source(source, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(0.1, 1.0)
    delays = [backoff.next() for _ in range(8)]
    assert 0.05 <= delays[0] <= 0.1
    assert all(0.5 <= delay <= 1.0 for delay in delays[4:])
    backoff.reset()
    assert backoff.next() <= 0.1


# --- the remote sink ------------------------------------------------------------------------------


def some_events(count: int) -> list[EngineEvent]:
    events: list[EngineEvent] = [RunStarted("", 1.0), StepStarted("build", 1, 1.0)]  # no run id on the wire
    for index in range(count):
        events.append(StepLogs((LogLine("build", 1, index + 1, Stream.STDOUT, 1.0, f"line {index}"),)))
    events.append(StepFinished("build", 1, StepStatus.SUCCESS, 1.0, 2.0, exit_code=0, outputs={"k": "v"}))
    events.append(RunFinished(RunStatus.SUCCESS, 2.0))
    return events


def claimed_attempt(state: ProtocolState, client: RunnerClient) -> int:
    """An attempt the fake server holds as running (registered and claimed through the protocol)."""
    registration = client.register("r", [], "v", {}, 1)
    attempt_id = state.queue_claim(plan_of(Step.bash("build", cmd="true")))
    claim = client.claim(registration.runner_id, 1.0)
    assert claim is not None and claim.attempt_id == attempt_id
    return attempt_id


def test_the_sink_delivers_every_event_once_and_in_order_through_faults(
    state: ProtocolState, client: RunnerClient
) -> None:
    attempt_id = claimed_attempt(state, client)
    # A refused answer, a dropped connection, and a batch stored whose answer is lost (then resent).
    state.fault("events", "503", "drop", "apply_then_drop", "503")
    sink = RemoteSink(client, attempt_id, batch_events=10, retry_initial=0.01, retry_cap=0.05)
    sent = some_events(95)
    for event in sent:
        sink.emit(event)
    assert sink.close(timeout=20)
    assert state.events(attempt_id) == sent
    batches = state.attempts[attempt_id].batches
    assert sorted(set(batches)) == list(range(1, max(batches) + 1))  # numbered 1, 2, ... with no gap
    assert len(batches) > len(set(batches))  # some were sent twice, and stored once
    assert sink.acked == max(batches) and sink.pending == 0


def test_the_sink_keeps_events_while_the_server_is_away_and_delivers_them_after_its_restart(
    state: ProtocolState, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        with protocol_server(state) as url:
            client = stack.enter_context(RunnerClient(url, TOKEN))
            attempt_id = claimed_attempt(state, client)
            port = int(url.rsplit(":", 1)[1])
            sink = RemoteSink(client, attempt_id, retry_initial=0.01, retry_cap=0.1)
            sent = some_events(5)
            sink.emit(sent[0])
            assert sink.flush(timeout=10)
        # The server is gone (connections cut): events emitted now wait in the runner.
        for event in sent[1:]:
            sink.emit(event)
        assert not sink.flush(timeout=0.3)
        with protocol_server(state, port=port):
            assert sink.close(timeout=20)
    assert state.events(attempt_id) == sent


def test_a_fenced_attempt_stops_the_sink_and_drops_what_it_holds(state: ProtocolState, client: RunnerClient) -> None:
    attempt_id = claimed_attempt(state, client)
    stopped: list[str] = []
    sink = RemoteSink(client, attempt_id, on_stopped=stopped.append)
    sink.emit(RunStarted("1", 1.0))
    assert sink.flush(timeout=10)
    state.fence(attempt_id)
    sink.emit(StepStarted("build", 1, 1.0))
    assert not sink.flush(timeout=10)
    assert sink.stopped.is_set() and stopped and stopped[0].startswith("fenced")
    sink.emit(RunFinished(RunStatus.SUCCESS, 2.0))  # ignored: nothing more is sent
    assert not sink.close(timeout=5)
    assert state.events(attempt_id) == [RunStarted("", 1.0)]
    assert state.attempts[attempt_id].batches == [1, 2]


def test_a_refused_batch_ends_the_run_failed_with_the_reason(state: ProtocolState, client: RunnerClient) -> None:
    attempt_id = claimed_attempt(state, client)
    stopped: list[str] = []
    sink = RemoteSink(client, attempt_id, on_stopped=stopped.append)
    sink.emit(RunStarted("1", 1.0))
    assert sink.flush(timeout=10)
    # A step id the wire format refuses: the server answers 400 for the whole batch.
    sink.emit(StepStarted("Not A Step Id", 1, 1.0))
    assert not sink.close(timeout=10)
    state.wait_for(lambda: state.finished(attempt_id) is not None, "the failure report")
    finished = state.finished(attempt_id)
    assert finished is not None and finished.status is RunStatus.FAILED
    assert finished.error is not None and "refused the runner's events" in finished.error
    assert "step id" in (finished.error or "")
    assert stopped and "refused" in stopped[0]


def test_large_log_batches_are_split_and_keep_their_order(state: ProtocolState, client: RunnerClient) -> None:
    attempt_id = claimed_attempt(state, client)
    big = "x" * 60_000
    lines = tuple(LogLine("build", 1, seq, Stream.STDOUT, 1.0, f"{seq} {big}") for seq in range(1, 121))  # ~7 MB
    sink = RemoteSink(client, attempt_id)
    sink.emit(RunStarted("1", 1.0))
    sink.emit(StepLogs(lines))
    assert sink.close(timeout=20)
    events = state.events(attempt_id)
    assert len([event for event in events if isinstance(event, StepLogs)]) > 1
    assert tuple(lines_of(events)) == lines
    assert len(state.attempts[attempt_id].batches) > 1  # no batch over the cap


def test_emit_waits_while_the_sink_holds_too_much(state: ProtocolState, client: RunnerClient) -> None:
    attempt_id = claimed_attempt(state, client)

    def posts() -> int:
        return sum(1 for _, path in state.requests if path.endswith("/events"))

    state.fault("events", *["503"] * 1000)
    sink = RemoteSink(client, attempt_id, max_queued_bytes=100, retry_initial=0.05, retry_cap=0.05)
    sink.emit(RunStarted("", 1.0))
    sink.flush(timeout=0)
    state.wait_for(lambda: posts() >= 1, "the first batch to be in flight")
    filler = [StepLogs((LogLine("build", 1, seq, Stream.STDOUT, 1.0, "y" * 200),)) for seq in range(1, 4)]
    returned = threading.Event()

    def emit_all() -> None:
        for event in filler:
            sink.emit(event)
        returned.set()

    thread = threading.Thread(target=emit_all, daemon=True)
    thread.start()
    # While the server refuses batch 1, the queue is past its bound: the emitting thread is held.
    state.wait_for(lambda: posts() >= 4, "the server to refuse the batch a few more times")
    assert not returned.is_set()
    state.clear_faults("events")
    assert returned.wait(20)  # the server takes them: it goes on
    assert sink.close(timeout=20)
    assert state.events(attempt_id) == [RunStarted("", 1.0), *filler]


# --- the workspace ----------------------------------------------------------------------------------


def test_the_source_tarball_is_unpacked_into_a_fresh_workspace(tmp_path: Path) -> None:
    tarball = tmp_path / "src.tar.gz"
    tarball.write_bytes(source_tarball(tmp_path, {"README": "hi\n", "src/app.py": "print(1)\n"}))
    workspace = prepare_workspace(tmp_path / "work", 5)
    (workspace / "stale").write_text("from a runner that died")
    workspace = prepare_workspace(tmp_path / "work", 5)
    assert list(workspace.iterdir()) == []
    unpack_source(tarball, workspace)
    assert (workspace / "README").read_text() == "hi\n"
    assert (workspace / "src" / "app.py").read_text() == "print(1)\n"


def evil_tarball(path: Path, kind: str) -> None:
    with tarfile.open(path, "w:gz") as archive:
        if kind in ("symlink", "hardlink"):
            member = tarfile.TarInfo("link")
            member.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            member.linkname = "../../outside" if kind == "symlink" else "/etc/passwd"
            archive.addfile(member)
            return
        name = {"dotdot": "../escaped", "absolute": "/tmp/plue-escaped-absolute", "device": "dev"}[kind]
        member = tarfile.TarInfo(name)
        if kind == "device":
            member.type = tarfile.CHRTYPE
            member.devmajor, member.devminor = 1, 3
            archive.addfile(member)
            return
        member.size = 3
        archive.addfile(member, io.BytesIO(b"bad"))


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "device"])
def test_unsafe_entries_are_refused(tmp_path: Path, kind: str) -> None:
    tarball = tmp_path / "evil.tar.gz"
    evil_tarball(tarball, kind)
    workspace = prepare_workspace(tmp_path / "work" / "inner", 1)
    with pytest.raises(WorkspaceError, match="not allowed"):
        unpack_source(tarball, workspace)
    assert not (tmp_path / "work" / "escaped").exists()
    assert not (tmp_path / "outside").exists()
    assert not Path("/tmp/plue-escaped-absolute").exists()


def test_a_tarball_that_is_not_one_is_refused(tmp_path: Path) -> None:
    tarball = tmp_path / "junk.tar.gz"
    tarball.write_bytes(b"this is not gzip")
    with pytest.raises(WorkspaceError, match="not a readable tarball"):
        unpack_source(tarball, prepare_workspace(tmp_path / "work", 1))


def test_wipe_removes_read_only_and_unreadable_trees_but_never_follows_links(tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "precious").write_text("x")
    workspace = tmp_path / "ws"
    (workspace / "ro" / "deep").mkdir(parents=True)
    (workspace / "ro" / "deep" / "file").write_text("x")
    (workspace / "ro" / "file").write_text("x")
    (workspace / "locked").mkdir()
    (workspace / "locked" / "file").write_text("x")
    (workspace / "link").symlink_to(keep)
    os.chmod(workspace / "ro" / "deep" / "file", 0o400)
    os.chmod(workspace / "ro" / "deep", 0o500)
    os.chmod(workspace / "ro", 0o500)
    os.chmod(workspace / "locked", 0o000)
    wipe(workspace)
    assert not workspace.exists()
    assert (keep / "precious").read_text() == "x"


# --- the agent ----------------------------------------------------------------------------------------


class AgentHandle:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.codes: list[int] = []
        self.thread = threading.Thread(target=lambda: self.codes.append(agent.run()), daemon=True)

    def finish(self, timeout: float = 30) -> int:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the agent did not stop"
        return self.codes[0]


@contextmanager
def running_agent(url: str, work_dir: Path, **options: Any) -> Iterator[AgentHandle]:
    client = RunnerClient(url, TOKEN)
    options.setdefault("name", "r1")
    agent = Agent(client, AgentOptions(work_dir=work_dir, kill_grace=1.0, **options))
    handle = AgentHandle(agent)
    handle.thread.start()
    try:
        yield handle
    finally:
        if handle.thread.is_alive():
            for _ in range(3):  # drain, cancel, abort: nothing outlives a test
                agent.stop()
            handle.thread.join(30)
        client.close()


def wait_for_start(workspace: Path) -> None:
    wait_until(lambda: (workspace / "started").exists(), "the step to start")


LONG_STEP = "sleep 1000 & echo $! > child.pid; echo $$ > main.pid; touch started; wait"


def test_a_claimed_run_executes_with_its_source_and_secrets_and_is_released(
    state: ProtocolState, url: str, tmp_path: Path
) -> None:
    plan = plan_of(
        Step.bash("build", cmd='cat README; echo "token is $API_TOKEN"; echo "version=1.2" >> "$PLUE_OUTPUT"'),
        Step.bash("test", cmd='echo "testing {{ steps.build.outputs.version }}"; pwd', depends_on=["build"]),
    )
    tarball = source_tarball(tmp_path, {"README": "hello from the repository\n"})
    attempt_id = state.queue_claim(plan, run_id=42, source=tarball, secrets={"API_TOKEN": "s3cret-value"})
    work = tmp_path / "work"
    with running_agent(url, work, labels=("linux",), pool="warm", once=True) as handle:
        assert handle.finish() == 0
    events = state.events(attempt_id)
    finished = state.finished(attempt_id)
    assert finished is not None and finished.status is RunStatus.SUCCESS
    assert texts(events, "build") == ["hello from the repository", "token is ***"]
    assert texts(events, "test") == ["testing 1.2", str(work / str(attempt_id))]
    (build,) = [event for event in events if isinstance(event, StepFinished) and event.step_id == "build"]
    assert build.outputs == {"version": "1.2"}
    assert not (work / str(attempt_id)).exists()  # wiped
    assert list(work.iterdir()) == []  # and the tarball is gone too
    (runner,) = state.runners.values()
    assert runner.body["labels"] == ["linux"] and runner.body["pool"] == "warm"
    assert runner.body["version"] == __version__ and runner.body["capacity"] == 1
    assert set(runner.body["host"]) == {"hostname", "os", "arch", "python", "cpus"}
    assert state.deregistered == [runner.id]  # --once: one run, then deregistered


def test_cancel_in_a_heartbeat_kills_the_steps_process_group(state: ProtocolState, url: str, tmp_path: Path) -> None:
    attempt_id = state.queue_claim(plan_of(Step.bash("long", cmd=LONG_STEP)))
    work = tmp_path / "work"
    with running_agent(url, work) as handle:
        workspace = work / str(attempt_id)
        wait_for_start(workspace)
        pids = [int((workspace / name).read_text()) for name in ("main.pid", "child.pid")]
        state.cancel(attempt_id)
        state.wait_for(lambda: state.finished(attempt_id) is not None, "the run to end")
        for pid in pids:
            wait_until(partial(process_gone, pid), f"process {pid} to be gone")
        finished = state.finished(attempt_id)
        assert finished is not None and finished.status is RunStatus.CANCELLED
        wait_until(lambda: not workspace.exists(), "the workspace to be wiped")
        handle.agent.stop()
        assert handle.finish() == 0


def test_a_lost_runner_aborts_its_run_and_registers_again(state: ProtocolState, url: str, tmp_path: Path) -> None:
    attempt_id = state.queue_claim(plan_of(Step.bash("long", cmd=LONG_STEP)))
    work = tmp_path / "work"
    with running_agent(url, work) as handle:
        workspace = work / str(attempt_id)
        wait_for_start(workspace)
        pid = int((workspace / "child.pid").read_text())
        first = handle.agent.runner_id
        assert first is not None
        state.lose(first)
        state.wait_for(lambda: len(state.runners) == 2, "the runner to register again")
        wait_until(partial(process_gone, pid), "the lost attempt's step to be killed")
        wait_until(lambda: not workspace.exists(), "the lost attempt's workspace to be wiped")
        wait_until(lambda: handle.agent.runner_id not in (None, first), "the agent to take its new id")
        # The lost attempt reported nothing after it was lost: the server holds only its start.
        assert state.finished(attempt_id) is None
        assert state.attempts[attempt_id].status == "lost"
        # The new registration takes work as before.
        again = state.queue_claim(plan_of(Step.bash("quick", cmd="echo again")))
        state.wait_for(lambda: state.finished(again) is not None, "the next run to end")
        assert texts(state.events(again), "quick") == ["again"]
        handle.agent.stop()
        assert handle.finish() == 0
    assert state.deregistered == [handle.agent.runner_id]


def test_a_fenced_attempt_stops_the_run(state: ProtocolState, url: str, tmp_path: Path) -> None:
    plan = plan_of(Step.bash("long", cmd=LONG_STEP), Step.bash("after", cmd="echo never", depends_on=["long"]))
    attempt_id = state.queue_claim(plan)
    work = tmp_path / "work"
    with running_agent(url, work) as handle:
        workspace = work / str(attempt_id)
        wait_for_start(workspace)
        pid = int((workspace / "main.pid").read_text())
        state.fence(attempt_id)
        wait_until(partial(process_gone, pid), "the fenced attempt's step to be killed")
        wait_until(lambda: not handle.agent.running(), "the attempt to be released")
        assert not workspace.exists()
        assert state.finished(attempt_id) is None
        assert "never" not in texts(state.events(attempt_id), "after")


def test_capacity_lets_runs_execute_side_by_side(state: ProtocolState, url: str, tmp_path: Path) -> None:
    # Each run waits until the other has started: they can only both finish if they run at once.
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()

    def meet(me: str, other: str) -> dict[str, Any]:
        cmd = f"touch {rendezvous}/{me}; while [ ! -e {rendezvous}/{other} ]; do sleep 0.02; done; echo met"
        return plan_of(Step.bash("meet", cmd=cmd, timeout="20s"))

    first = state.queue_claim(meet("a", "b"), run_id=1)
    second = state.queue_claim(meet("b", "a"), run_id=2)
    with running_agent(url, tmp_path / "work", capacity=2) as handle:
        for attempt_id in (first, second):
            state.wait_for(lambda a=attempt_id: state.finished(a) is not None, "both runs to end")  # type: ignore[misc]
            assert texts(state.events(attempt_id), "meet") == ["met"]
        handle.agent.stop()
        assert handle.finish() == 0
    assert len(state.runners) == 1


def test_a_later_attempt_numbers_steps_after_the_stored_ones_and_reuses_what_succeeded(
    state: ProtocolState, url: str, tmp_path: Path
) -> None:
    plan = plan_of(
        Step.bash("build", cmd='echo "version=9" >> "$PLUE_OUTPUT"'),
        Step.bash(
            "test", cmd='echo "attempt $PLUE_ATTEMPT of {{ steps.build.outputs.version }}"', depends_on=["build"]
        ),
    )
    attempt_id = state.queue_claim(
        plan,
        attempt_base={"build": 1, "test": 2},
        reuse={"build": {"outputs": {"version": "7"}, "exit_code": 0}},
    )
    with running_agent(url, tmp_path / "work", once=True) as handle:
        assert handle.finish() == 0
    events = state.events(attempt_id)
    assert [event for event in events if isinstance(event, StepReused)] == [
        StepReused("build", {"version": "7"}, 0, events[1].at)  # type: ignore[union-attr]
    ]
    assert [(e.step_id, e.attempt) for e in events if isinstance(e, StepStarted)] == [("test", 3)]
    assert texts(events, "test") == ["attempt 3 of 7"]


@pytest.mark.parametrize(
    ("claim_options", "expected"),
    [
        ({"plan": {"name": "broken", "steps": [{"id": "x"}]}}, "cannot run:"),
        ({"source": b"not a tarball"}, "not a readable tarball"),
        ({"secrets": {"not a name": "v"}}, "environment variable names"),
    ],
)
def test_a_run_that_cannot_start_ends_failed_with_the_reason(
    state: ProtocolState, url: str, tmp_path: Path, claim_options: dict[str, Any], expected: str
) -> None:
    options = dict(claim_options)
    plan = options.pop("plan", plan_of(Step.bash("a", cmd="true")))
    attempt_id = state.queue_claim(plan, **options)
    with running_agent(url, tmp_path / "work", once=True) as handle:
        assert handle.finish() == 0
    events = state.events(attempt_id)
    assert isinstance(events[0], RunStarted)
    finished = state.finished(attempt_id)
    assert finished is not None and finished.status is RunStatus.FAILED
    assert expected in (finished.error or "")
    assert not (tmp_path / "work" / str(attempt_id)).exists()


def test_a_claim_it_cannot_read_is_ended_failed(state: ProtocolState, url: str, tmp_path: Path) -> None:
    attempt_id = state.queue_claim({}, raw={"attempt_id": 100, "attempt": 1, "run": {"id": 3}})
    with running_agent(url, tmp_path / "work") as handle:
        state.wait_for(lambda: state.finished(attempt_id) is not None, "the unusable claim to be ended")
        finished = state.finished(attempt_id)
        assert finished is not None and finished.status is RunStatus.FAILED
        assert "cannot use the claim" in (finished.error or "")
        handle.agent.stop()
        assert handle.finish() == 0


def test_a_fenced_source_download_aborts_without_a_report(state: ProtocolState, url: str, tmp_path: Path) -> None:
    tarball = source_tarball(tmp_path, {"README": "x"})
    attempt_id = state.queue_claim(plan_of(Step.bash("a", cmd="true")), source=tarball)
    # Downloads fail until the attempt is fenced; heartbeats fail throughout, so only the download's 409 tells.
    state.fault("source", *["drop"] * 1000)
    state.fault("heartbeat", *["drop"] * 1000)
    with running_agent(url, tmp_path / "work") as handle:
        state.wait_for(lambda: ("GET", f"/api/attempts/{attempt_id}/source") in state.requests, "a download")
        state.fence(attempt_id)
        state.clear_faults("source")
        wait_until(lambda: not handle.agent.running() and handle.agent.claimed == 1, "the attempt to be dropped")
        assert state.events(attempt_id) == []
        handle.agent.stop()
        assert handle.finish() == 0


def test_transient_failures_never_stop_the_agent(state: ProtocolState, url: str, tmp_path: Path) -> None:
    state.fault("register", "503", "drop")
    state.fault("claim", "drop", "503", "drop")
    state.fault("heartbeat", "drop", "503")
    state.fault("events", "drop", "503", "apply_then_drop")
    attempt_id = state.queue_claim(plan_of(Step.bash("a", cmd="echo one; echo two")))
    with running_agent(url, tmp_path / "work", once=True) as handle:
        assert handle.finish() == 0
    finished = state.finished(attempt_id)
    assert finished is not None and finished.status is RunStatus.SUCCESS
    assert texts(state.events(attempt_id), "a") == ["one", "two"]


def test_a_drained_runner_finishes_its_run_then_leaves(state: ProtocolState, url: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    attempt_id = state.queue_claim(
        plan_of(Step.bash("wait", cmd=f"touch started; while [ ! -e {gate} ]; do sleep 0.02; done; echo done"))
    )
    with running_agent(url, tmp_path / "work") as handle:
        wait_for_start(tmp_path / "work" / str(attempt_id))
        runner = state.only_runner()
        state.drain(runner.id)
        heartbeats = runner.heartbeats
        state.wait_for(lambda: runner.heartbeats > heartbeats + 1, "a heartbeat that says drain")
        waiting = state.queue_claim(plan_of(Step.bash("next", cmd="true")))  # not taken: it drains
        gate.touch()
        assert handle.finish() == 0
    assert texts(state.events(attempt_id), "wait") == ["done"]
    assert state.deregistered == [runner.id]
    assert waiting not in state.attempts


def test_a_refused_token_stops_the_agent_with_a_reason(state: ProtocolState, url: str, tmp_path: Path) -> None:
    with RunnerClient(url, "not-the-token") as client:
        agent = Agent(client, AgentOptions(name="r", work_dir=tmp_path / "work"))
        assert agent.run() == 1
    assert agent.failure is not None and "refused the token" in agent.failure
    # Refused later (a revoked token): runs are aborted, the agent stops.
    attempt_id = state.queue_claim(plan_of(Step.bash("long", cmd=LONG_STEP)))
    with running_agent(url, tmp_path / "work2") as handle:
        workspace = tmp_path / "work2" / str(attempt_id)
        wait_for_start(workspace)
        pid = int((workspace / "child.pid").read_text())
        state.token = "revoked"
        assert handle.finish() == 1
        assert "refused the token" in (handle.agent.failure or "")
        assert process_gone(pid)


# --- plue runner ----------------------------------------------------------------------------------------


@contextmanager
def runner_process(url: str, work: Path, *args: str, token: str = TOKEN) -> Iterator[RunnerProcess]:
    env = {**os.environ, "PLUE_TOKEN": token}
    env.pop("PLUE_SERVER", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "plue", "runner", "--server", url, "--work-dir", str(work), "--name", "cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    handle = RunnerProcess(process)
    try:
        yield handle
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        handle.reader.join(10)


class RunnerProcess:
    """A `plue runner` subprocess whose stderr is collected as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def wait(self) -> int:
        code = self.process.wait(30)
        self.reader.join(10)
        return code


def test_plue_runner_cannot_reach_the_server(tmp_path: Path) -> None:
    with runner_process("http://127.0.0.1:1", tmp_path / "w", "--register-timeout", "0.3") as runner:
        assert runner.wait() == 1
    assert runner.lines[-1].startswith("plue: error: cannot register: cannot reach the Plue server")
    assert not any("Traceback" in line for line in runner.lines)


def test_plue_runner_with_a_refused_token(url: str, tmp_path: Path) -> None:
    with runner_process(url, tmp_path / "w", token="wrong") as runner:
        assert runner.wait() == 1
    assert "refused the token" in runner.lines[-1] and runner.lines[-1].startswith("plue: error:")


def test_plue_runner_bad_usage(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "plue", "runner", "--server", "ftp://x", "--token", "t"],
        capture_output=True,
        text=True,
        env={key: value for key, value in os.environ.items() if not key.startswith("PLUE_")},
    )
    assert result.returncode == 2 and "not an http:// or https:// URL" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "plue", "runner", "--server", "http://x"],
        capture_output=True,
        text=True,
        env={key: value for key, value in os.environ.items() if not key.startswith("PLUE_")},
    )
    assert result.returncode == 2 and "needs a token" in result.stderr


def queue_gated_run(state: ProtocolState, tmp_path: Path) -> tuple[Path, Path, int]:
    """A run whose step waits until the gate file exists: (the gate, the runner's work dir, the attempt id)."""
    gate = tmp_path / "gate"
    attempt_id = state.queue_claim(
        plan_of(Step.bash("wait", cmd=f"touch started; while [ ! -e {gate} ]; do sleep 0.02; done; echo done"))
    )
    return gate, tmp_path / "work", attempt_id


def test_sigterm_drains_the_current_run_then_exits_0(state: ProtocolState, url: str, tmp_path: Path) -> None:
    gate, work, attempt_id = queue_gated_run(state, tmp_path)
    with runner_process(url, work, "--labels", "linux") as runner:
        wait_for_start(work / str(attempt_id))
        runner.process.send_signal(signal.SIGTERM)
        wait_until(lambda: runner.said("stopping: the current runs finish first"), "the drain to begin")
        waiting = state.queue_claim(plan_of(Step.bash("next", cmd="true")))
        gate.touch()
        assert runner.wait() == 0
    finished = state.finished(attempt_id)
    assert finished is not None and finished.status is RunStatus.SUCCESS
    assert texts(state.events(attempt_id), "wait") == ["done"]
    assert waiting not in state.attempts  # taken by nobody
    (runner_record,) = state.runners.values()
    assert state.deregistered == [runner_record.id]
    assert list(work.iterdir()) == []


_TGKILL = {"x86_64": 234, "aarch64": 131}.get(platform.machine())


@pytest.mark.skipif(_TGKILL is None, reason="tgkill's system call number is known for x86_64 and aarch64 only")
def test_a_sigterm_delivered_to_another_thread_still_drains(state: ProtocolState, url: str, tmp_path: Path) -> None:
    """The kernel may hand a process's SIGTERM to any of its threads; Python runs the handler in the main
    thread only when that thread runs, so a main thread asleep until notified would never drain."""
    gate, work, attempt_id = queue_gated_run(state, tmp_path)
    with runner_process(url, work, "--labels", "linux") as runner:
        wait_for_start(work / str(attempt_id))
        pid = runner.process.pid
        others = [int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid]
        assert others, "the runner has worker threads"
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(_TGKILL, pid, others[0], signal.SIGTERM) == 0, os.strerror(ctypes.get_errno())
        wait_until(lambda: runner.said("stopping: the current runs finish first"), "the drain to begin")
        gate.touch()
        assert runner.wait() == 0
    finished = state.finished(attempt_id)
    assert finished is not None and finished.status is RunStatus.SUCCESS


def test_a_second_sigterm_cancels_the_current_run(state: ProtocolState, url: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    attempt_id = state.queue_claim(plan_of(Step.bash("long", cmd=LONG_STEP)))
    with runner_process(url, work) as runner:
        workspace = work / str(attempt_id)
        wait_for_start(workspace)
        pid = int((workspace / "child.pid").read_text())
        runner.process.send_signal(signal.SIGTERM)
        wait_until(lambda: runner.said("stopping"), "the drain to begin")
        runner.process.send_signal(signal.SIGTERM)
        assert runner.wait() == 0
    assert process_gone(pid)
    finished = state.finished(attempt_id)
    assert finished is not None and finished.status is RunStatus.CANCELLED


def test_a_source_the_server_keeps_failing_to_make_fails_the_run(
    state: ProtocolState, url: str, tmp_path: Path
) -> None:
    attempt_id = state.queue_claim(plan_of(Step.bash("a", cmd="true")), source=b"unused")
    state.fault("source", *["503"] * 50)
    with running_agent(url, tmp_path / "work", once=True) as handle:
        assert handle.finish() == 0
    finished = state.finished(attempt_id)
    assert finished is not None and finished.status is RunStatus.FAILED
    assert "cannot fetch the run's source: the server answered 503" in (finished.error or "")


# --- end to end: the real server, `plue runner` processes ------------------------------------------------


@dataclass
class RealServer:
    url: str
    store: Store
    upstream: Upstream
    sha: str
    runner_token: str
    tokens: dict[str, str]  # scope -> token

    def queue(self, plan: dict[str, Any]) -> int:
        return self.store.enqueue(
            NewRun.from_plan(
                "ci.plue.py",
                plan,
                event_name="push",
                event={"ref": "refs/heads/main"},
                inputs={},
                repository=self.upstream.name,
                sha=self.sha,
                ref="refs/heads/main",
                branch="main",
            )
        )

    def texts(self, run_id: int, step_id: str) -> list[str]:
        return [line.text for line in self.store.read_logs(run_id, step_id=step_id) if line.stream == "stdout"]


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[RealServer]:
    upstream = Upstream(tmp_path / "upstream")
    sha = upstream.push({"README.md": "hello from upstream\n"})
    config = make_config(
        tmp_path / "data",
        {upstream.name: upstream.url},
        workers=0,  # only runner agents execute runs
        secrets={"DEPLOY_KEY": "s3cret-deploy-key"},
        runners=RunnerSettings(heartbeat_seconds=0.3, lost_after_seconds=30.0, claim_wait_seconds=1.0),
    )
    app = create_app(config, start_background=False)
    store: Store = app.state.plue.store
    tokens = {scope: store.create_token(f"{scope}-token", scope) for scope in ("runner", "read", "write")}
    with serve(app) as running:
        yield RealServer(running.url, store, upstream, sha, tokens["runner"], tokens)


def test_end_to_end_a_queued_run_executes_on_a_runner(real_server: RealServer, tmp_path: Path) -> None:
    plan = plan_of(
        Step.bash("build", cmd='cat README.md; echo "key=$DEPLOY_KEY"; echo "version=1.2" >> "$PLUE_OUTPUT"'),
        Step.bash("test", cmd='echo "testing {{ steps.build.outputs.version }}"', depends_on=["build"]),
        runs_on=["linux"],
    )
    run_id = real_server.queue(plan)
    work = tmp_path / "work"
    with runner_process(
        real_server.url, work, "--once", "--labels", "linux,x86", token=real_server.runner_token
    ) as runner:
        assert runner.wait() == 0, runner.lines
    run = real_server.store.get_run(run_id)
    assert run is not None and run.status == "success", run
    assert real_server.texts(run_id, "build") == ["hello from upstream", "key=***"]
    assert real_server.texts(run_id, "test") == ["testing 1.2"]
    steps = {step.id: step for step in run.steps}
    assert steps["build"].outputs == {"version": "1.2"} and steps["test"].status == "success"
    (attempt,) = real_server.store.attempts(run_id)
    assert attempt.status == "success"
    assert list(work.iterdir()) == []  # the workspace is wiped
    (record,) = real_server.store.list_runners(include_gone=True)
    assert record.name == "cli" and record.labels == ("linux", "x86") and record.status == "offline"


def test_end_to_end_a_run_needing_labels_the_runner_lacks_is_not_taken(real_server: RealServer, tmp_path: Path) -> None:
    gpu_run = real_server.queue(plan_of(Step.bash("train", cmd="echo gpu"), runs_on=["gpu"]))  # older
    linux_run = real_server.queue(plan_of(Step.bash("lint", cmd="echo lint"), runs_on=["linux"]))
    with runner_process(
        real_server.url, tmp_path / "work", "--once", "--labels", "linux", token=real_server.runner_token
    ) as runner:
        assert runner.wait() == 0, runner.lines
    linux = real_server.store.get_run(linux_run)
    gpu = real_server.store.get_run(gpu_run)
    assert linux is not None and linux.status == "success"
    assert gpu is not None and gpu.status == "queued"
    assert real_server.store.attempts(gpu_run) == []


def test_end_to_end_cancel_reaches_the_running_step(real_server: RealServer, tmp_path: Path) -> None:
    run_id = real_server.queue(plan_of(Step.bash("long", cmd=LONG_STEP)))
    work = tmp_path / "work"
    with runner_process(real_server.url, work, "--once", token=real_server.runner_token) as runner:
        wait_until(lambda: bool(real_server.store.attempts(run_id)), "the run to be claimed")
        (attempt,) = real_server.store.attempts(run_id)
        workspace = work / str(attempt.id)
        wait_for_start(workspace)
        pids = [int((workspace / name).read_text()) for name in ("main.pid", "child.pid")]
        listed = subprocess.run(
            [sys.executable, "-m", "plue", "runner", "list", "--server", real_server.url, "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, "PLUE_TOKEN": real_server.tokens["read"]},
        )
        assert listed.returncode == 0, listed.stderr
        (shown,) = json.loads(listed.stdout)
        assert shown["name"] == "cli" and shown["status"] == "busy" and shown["current_runs"] == [run_id]
        with httpx.Client(base_url=real_server.url) as http:
            response = http.post(f"/api/runs/{run_id}/cancel", headers=bearer(real_server.tokens["write"]))
        assert response.status_code == 200, response.text
        for pid in pids:
            wait_until(partial(process_gone, pid), f"process {pid} to be killed")
        assert runner.wait() == 0, runner.lines
    run = real_server.store.get_run(run_id)
    assert run is not None and run.status == "cancelled"
    assert [step.status for step in run.steps] == ["cancelled"]
    assert list(work.iterdir()) == []
