"""Runner faults with real processes: `plue server` and `plue runner` subprocesses, a real database.

- a runner killed with SIGKILL mid-step: it is declared lost, the run completes as attempt 2 on another
  runner, and the first attempt's log lines stay;
- the server killed with SIGKILL and restarted on the same port mid-run: the runner's events arrive
  after the restart, none lost, none doubled (SQLite and PostgreSQL);
- across hosts (network namespaces joined by a veth pair): a runner partitioned away longer than
  `lost_after_seconds` is replaced; healed, it aborts its run and its late reports are refused;
- scale: two servers on one PostgreSQL schema, eight runners, hundreds of queued runs, each executed once;
- a server down for longer than `lost_after_seconds` does not, once back, declare lost the runners that
  could not reach it meanwhile.

The test reads and queues through its own `Store` on the servers' database. Steps wait on files the test
creates (or never creates); the test waits for conditions with deadlines, never by sleeping. Steps a
killed runner leaves behind (a SIGKILLed runner cannot end them) are ended by the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from netns_support import Host, linked_hosts
from process_support import process_gone, wait_until
from test_store_support import postgres_schema_url

from plue import Plan, Step
from plue.store import NewRun, Store

DONE_STATUSES = ("success", "failed", "cancelled", "interrupted")
START_TIMEOUT = 60.0


# --- processes --------------------------------------------------------------------------------------------


class Process:
    """A subprocess whose stderr is collected line by line as it comes."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        self.argv = list(argv)
        self.popen = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.lines.append(line.rstrip("\n"))

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def output(self) -> str:
        return "\n".join(self.lines)

    def kill9(self) -> None:
        self.popen.kill()
        self.popen.wait(30)
        self._reader.join(10)

    def stop(self) -> None:
        """SIGTERM (a runner drains, a server shuts down); again, then SIGKILL, if it does not end."""
        for _ in range(2):
            if self.popen.poll() is not None:
                break
            self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(10)
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(30)
        self._reader.join(10)


def plue_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PLUE_")}
    return env | extra


@dataclass
class Deployment:
    """One Plue database and a server configuration for it; servers and runners are started on demand."""

    db_url: str
    root: Path
    config: Path
    store: Store
    runner_token: str

    @classmethod
    @contextmanager
    def open(
        cls, root: Path, db_url: str, *, heartbeat: float, lost_after: float, claim_wait: float = 1.0
    ) -> Iterator[Deployment]:
        root.mkdir(parents=True, exist_ok=True)
        config = root / "plue.toml"
        config.write_text(
            f'database_url = "{db_url}"\n'
            f'data_dir = "{root / "data"}"\n'
            "workers = 0\n"  # only runners execute runs
            'webhook_secret = "unused"\n'
            "[runners]\n"
            f"heartbeat_seconds = {heartbeat}\n"
            f"lost_after_seconds = {lost_after}\n"
            f"claim_wait_seconds = {claim_wait}\n"
        )
        # Opened first: the schema is made here, before any server starts.
        with Store.open(url=db_url) as store:
            yield cls(db_url, root, config, store, store.create_token("runners", "runner"))

    def queue(self, plan: Plan) -> int:
        data = plan.to_data()
        run = NewRun.from_plan("ci.plue.py", data, event_name="push", event={"ref": "refs/heads/main"}, inputs={})
        return self.store.enqueue(run)

    def server(self, port: int, *, host: str = "127.0.0.1", inside: Host | None = None) -> ServerProcess:
        """A `plue server` on `host:port`; call `wait_listening()` (runners may start meanwhile: they retry)."""
        prefix = inside.exec_prefix if inside is not None else []
        argv = [*prefix, sys.executable, "-m", "plue", "server", "--config", str(self.config)]
        process = ServerProcess(
            [*argv, "--host", host, "--port", str(port)], plue_env(PLUE_WEBHOOK_SECRET="unused"), self.root
        )
        process.url = f"http://{host}:{port}"
        return process

    def runner(self, url: str, name: str, *, inside: Host | None = None) -> Process:
        prefix = inside.exec_prefix if inside is not None else []
        work = self.root / "work" / name
        argv = [*prefix, sys.executable, "-m", "plue", "runner", "--server", url, "--name", name]
        return Process([*argv, "--work-dir", str(work)], plue_env(PLUE_TOKEN=self.runner_token), self.root)

    def wait_done(self, run_id: int, timeout: float = 30.0) -> str:
        def done() -> bool:
            run = self.store.get_run(run_id)
            return run is not None and run.status in DONE_STATUSES

        wait_until(done, f"run {run_id} to end", timeout)
        run = self.store.get_run(run_id)
        assert run is not None
        return run.status

    def lines(self, run_id: int, step_id: str) -> list[tuple[int, int, str]]:
        """(step attempt, seq, text) of the step's stdout lines, in stored order."""
        return [
            (line.attempt, line.seq, line.text)
            for line in self.store.read_logs(run_id, step_id=step_id, limit=100_000)
            if line.stream == "stdout"
        ]

    def attempt_statuses(self, run_id: int) -> list[tuple[int, str | None, str]]:
        return [(item.number, item.runner_name, item.status) for item in self.store.attempts(run_id)]


class ServerProcess(Process):
    url = ""

    def wait_listening(self) -> None:
        def listening() -> bool:
            return self.said("Uvicorn running on") or self.popen.poll() is not None

        wait_until(listening, "the server to listen", START_TIMEOUT)
        assert self.popen.poll() is None, f"the server did not start:\n{self.output()}"


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick), for a server that must keep it across restarts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def ending(*processes: Process) -> Iterator[list[Process]]:
    """Stop every process given (and every one appended meanwhile) when the block ends, runners first."""
    held = list(processes)
    try:
        yield held
    finally:
        # Runners first, while a server can still take their last reports and their goodbyes.
        for process in sorted(held, key=lambda item: isinstance(item, ServerProcess)):
            process.stop()


def end_process_groups(marks: Path, workspaces: Path) -> None:
    """End the steps whose pid files are in `marks` (a SIGKILLed runner leaves its steps running).

    Only a process still working in one of the test's workspaces: a pid the system gave to another since is spared.
    """
    for pid_file in marks.glob("pid-*"):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text().strip())
            if Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(workspaces):
                os.killpg(pid, signal.SIGKILL)


def sqlite_url(root: Path) -> str:
    return f"sqlite:///{root / 'plue.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        yield from postgres_schema_url()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from postgres_schema_url()


# --- 1. a runner killed mid-step ----------------------------------------------------------------------------


def test_a_runner_killed_mid_step_is_lost_and_its_run_completes_as_attempt_2_elsewhere(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    # Step attempt 1 blocks on a file nobody creates; attempt 2 (numbered after the stored one) goes through.
    step = Step.bash(
        "work",
        cmd=(
            f'echo $$ > {marks}/pid-$PLUE_ATTEMPT; echo "attempt $PLUE_ATTEMPT begins"; '
            f'if [ "$PLUE_ATTEMPT" = 1 ]; then while [ ! -e {marks}/never ]; do sleep 0.05; done; fi; '
            'echo "attempt $PLUE_ATTEMPT ends"'
        ),
    )
    try:
        with (
            Deployment.open(tmp_path / "plue", sqlite_url(tmp_path), heartbeat=0.5, lost_after=2.0) as deployment,
            ending() as processes,
        ):
            server = deployment.server(free_port())
            first = deployment.runner(server.url, "first")  # starts with the server: it retries until it listens
            processes += [server, first]
            server.wait_listening()
            run_id = deployment.queue(Plan("ci", steps=[step]))
            # Attempt 1's first line is stored before the runner dies: it must outlive the runner.
            wait_until(lambda: deployment.lines(run_id, "work") == [(1, 1, "attempt 1 begins")], "attempt 1 to log")
            second = deployment.runner(server.url, "second")  # idle, long-polling, when the first one dies
            processes.append(second)
            wait_until(lambda: second.said("registered as second"), "the second runner to register")
            first.kill9()

            assert deployment.wait_done(run_id) == "success", second.output()
            assert deployment.attempt_statuses(run_id) == [(1, "first", "lost"), (2, "second", "success")]
            lost = deployment.store.attempts(run_id)[0]
            assert lost.error is not None and "runner first was lost" in lost.error
            assert deployment.lines(run_id, "work") == [
                (1, 1, "attempt 1 begins"),
                (2, 1, "attempt 2 begins"),
                (2, 2, "attempt 2 ends"),
            ]
            run = deployment.store.get_run(run_id)
            assert run is not None
            assert [(item.attempt, item.status) for item in run.attempts] == [(1, "cancelled"), (2, "success")]
            assert "runner first was lost" in (run.attempts[0].error or run.attempts[0].reason or "")
            (gone,) = [item for item in deployment.store.list_runners(include_gone=True) if item.name == "first"]
            assert gone.status == "lost"
    finally:
        end_process_groups(marks, tmp_path / "plue" / "work")


# --- 2. the server killed and restarted mid-run ------------------------------------------------------------

LINES_BEFORE = 1000  # printed while the server is killed
LINES_AFTER = 1000  # printed while it is down


def test_a_server_killed_and_restarted_mid_run_gets_every_line_once(tmp_path: Path, db_url: str) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    # Lines 1..1000 trickle out (the server is killed meanwhile), 1001..2000 are printed while it is down.
    step = Step.bash(
        "stream",
        cmd=(
            f"echo $$ > {marks}/pid-$PLUE_ATTEMPT; "
            f'for i in $(seq 1 {LINES_BEFORE}); do echo "line $i"; '
            "if [ $((i % 20)) = 0 ]; then sleep 0.02; fi; done; "
            f"touch {marks}/first-half; while [ ! -e {marks}/gate ]; do sleep 0.02; done; "
            f'for i in $(seq {LINES_BEFORE + 1} {LINES_BEFORE + LINES_AFTER}); do echo "line $i"; done; '
            f"touch {marks}/second-half"
        ),
    )
    # The outage is a few seconds: far below lost_after_seconds, so the runner is never declared lost.
    try:
        with (
            Deployment.open(tmp_path / "plue", db_url, heartbeat=0.5, lost_after=30.0) as deployment,
            ending() as processes,
        ):
            port = free_port()
            server = deployment.server(port)
            runner = deployment.runner(server.url, "streamer")
            processes += [server, runner]
            server.wait_listening()
            run_id = deployment.queue(Plan("ci", steps=[step]))

            def stored() -> int:
                return len(deployment.lines(run_id, "stream"))

            wait_until(lambda: stored() >= 200, "lines to be stored")
            server.kill9()  # mid-stream: batches are in flight or queued in the runner
            (marks / "gate").touch()
            wait_until(lambda: (marks / "second-half").exists(), "the step to print while the server is down")
            kept = stored()
            assert kept < LINES_BEFORE + LINES_AFTER  # the rest waits in the runner

            restarted = deployment.server(port)
            processes.append(restarted)
            restarted.wait_listening()
            assert deployment.wait_done(run_id) == "success", runner.output() + restarted.output()

            lines = deployment.lines(run_id, "stream")
            expected = [(1, seq, f"line {seq}") for seq in range(1, LINES_BEFORE + LINES_AFTER + 1)]
            assert lines == expected  # every line, once, in order
            assert deployment.attempt_statuses(run_id) == [(1, "streamer", "success")]
            (attempt,) = deployment.store.attempts(run_id)
            assert attempt.acked_seq > 1
            assert not runner.said("declared this runner lost")
    finally:
        end_process_groups(marks, tmp_path / "plue" / "work")


OUTAGE_LOST_AFTER = 4.0


def test_a_server_down_longer_than_lost_after_seconds_does_not_lose_its_runners_runs(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    step = Step.bash(
        "stream",
        cmd=(
            f'echo $$ > {marks}/pid-$PLUE_ATTEMPT; echo "before"; '
            f'while [ ! -e {marks}/gate ]; do sleep 0.02; done; echo "while down"; touch {marks}/printed'
        ),
    )
    try:
        with (
            Deployment.open(
                tmp_path / "plue", sqlite_url(tmp_path), heartbeat=0.5, lost_after=OUTAGE_LOST_AFTER
            ) as deployment,
            ending() as processes,
        ):
            port = free_port()
            server = deployment.server(port)
            runner = deployment.runner(server.url, "streamer")
            processes += [server, runner]
            server.wait_listening()
            run_id = deployment.queue(Plan("ci", steps=[step]))
            wait_until(lambda: deployment.lines(run_id, "stream") == [(1, 1, "before")], "the first line")
            (record,) = deployment.store.list_runners()
            server.kill9()
            (marks / "gate").touch()
            wait_until(lambda: (marks / "printed").exists(), "the step to print while the server is down")

            def silent_too_long() -> bool:  # no server took a heartbeat for longer than lost_after_seconds
                runner_record = deployment.store.get_runner(record.id)
                assert runner_record is not None
                return time.time() - runner_record.last_heartbeat > OUTAGE_LOST_AFTER + 0.5

            wait_until(silent_too_long, "the outage to outlast lost_after_seconds")
            # The runner is held (SIGSTOP) while the server comes back, so that the server looks first:
            # a runner retries every heartbeat_seconds and may well report before the reaper's first pass.
            runner.popen.send_signal(signal.SIGSTOP)
            try:
                restarted = deployment.server(port)
                processes.append(restarted)
                restarted.wait_listening()
                # Half of lost_after_seconds: a server that reaps at once has done it; a correct one has not.
                back_at = time.monotonic()

                def reaped_or_half_time() -> bool:
                    runner_record = deployment.store.get_runner(record.id)
                    lost = runner_record is not None and runner_record.status == "lost"
                    return lost or time.monotonic() - back_at > OUTAGE_LOST_AFTER / 2

                wait_until(reaped_or_half_time, "the restarted server's first looks")
            finally:
                runner.popen.send_signal(signal.SIGCONT)
            assert deployment.wait_done(run_id) == "success", runner.output() + restarted.output()
            # The runner was never silent to a running server that long: the run completes as its first attempt.
            assert deployment.attempt_statuses(run_id) == [(1, "streamer", "success")]
            assert deployment.lines(run_id, "stream") == [(1, 1, "before"), (1, 2, "while down")]
    finally:
        end_process_groups(marks, tmp_path / "plue" / "work")


# --- 3. across hosts: a partition longer than lost_after_seconds ------------------------------------------


def test_a_partitioned_runner_is_replaced_and_after_the_heal_aborts_its_run(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    # Attempt 1 logs a line, then (once the test has cut the link) a late line, then blocks for good.
    step = Step.bash(
        "work",
        cmd=(
            f'echo $$ > {marks}/pid-$PLUE_ATTEMPT; echo "attempt $PLUE_ATTEMPT begins"; '
            f'if [ "$PLUE_ATTEMPT" = 1 ]; then while [ ! -e {marks}/partitioned ]; do sleep 0.05; done; '
            f'echo "late line from attempt 1"; touch {marks}/late-printed; '
            f"while [ ! -e {marks}/never ]; do sleep 0.05; done; fi; "
            'echo "attempt $PLUE_ATTEMPT ends"'
        ),
    )
    try:
        with (
            linked_hosts() as link,
            Deployment.open(tmp_path / "plue", sqlite_url(tmp_path), heartbeat=0.5, lost_after=2.0) as deployment,
            ending() as processes,
        ):
            # The server listens on its end of the pair only; the far runner can reach nothing else of it.
            server = deployment.server(8080, host=link.server.address, inside=link.server)
            far = deployment.runner(server.url, "far", inside=link.other)
            processes += [server, far]
            server.wait_listening()

            hello = deployment.queue(Plan("hello", steps=[Step.bash("hello", cmd="echo across the link")]))
            assert deployment.wait_done(hello) == "success", far.output()
            assert deployment.attempt_statuses(hello) == [(1, "far", "success")]
            assert deployment.lines(hello, "hello") == [(1, 1, "across the link")]

            run_id = deployment.queue(Plan("ci", steps=[step]))
            wait_until(lambda: deployment.lines(run_id, "work") == [(1, 1, "attempt 1 begins")], "attempt 1 to log")
            link.cut()
            (marks / "partitioned").touch()  # the late line is printed behind the partition
            wait_until(
                lambda: [item.status for item in deployment.store.attempts(run_id)] == ["lost"],
                "the server to declare the far runner lost",
            )
            near = deployment.runner(server.url, "near", inside=link.server)
            processes.append(near)
            assert deployment.wait_done(run_id) == "success", near.output()
            wait_until(lambda: (marks / "late-printed").exists(), "the late line to be printed")

            link.heal()
            first_step = int((marks / "pid-1").read_text())
            wait_until(lambda: process_gone(first_step), "the far runner to abort its run")
            wait_until(lambda: far.said("aborting"), "the far runner to say it aborts")
            # Back, it registers again under a new id and waits for work, its workspace wiped.
            wait_until(
                lambda: any(item.name == "far" for item in deployment.store.list_runners()),
                "the far runner to register again",
            )
            wait_until(lambda: not any((deployment.root / "work" / "far").iterdir()), "the far workspace wiped")

            assert deployment.attempt_statuses(run_id) == [(1, "far", "lost"), (2, "near", "success")]
            assert deployment.lines(run_id, "work") == [
                (1, 1, "attempt 1 begins"),
                (2, 1, "attempt 2 begins"),
                (2, 2, "attempt 2 ends"),
            ]  # the late line was refused
            run = deployment.store.get_run(run_id)
            assert run is not None and run.status == "success"
            assert [(item.attempt, item.status) for item in run.attempts] == [(1, "cancelled"), (2, "success")]
    finally:
        end_process_groups(marks, tmp_path / "plue" / "work")


# --- 4. scale: two servers on one PostgreSQL, eight runners -----------------------------------------------

SCALE_RUNS = 1000
SCALE_RUNNERS = 8


def test_two_servers_and_eight_runners_execute_every_queued_run_exactly_once(tmp_path: Path, postgres_url: str) -> None:
    with (
        Deployment.open(tmp_path / "plue", postgres_url, heartbeat=1.0, lost_after=30.0) as deployment,
        ending() as processes,
    ):
        plan = Plan("ci", steps=[Step.bash("hello", cmd='echo "run $PLUE_RUN_ID"')])
        run_ids = [deployment.queue(plan) for _ in range(SCALE_RUNS)]
        servers = [deployment.server(free_port()) for _ in range(2)]
        runners = [deployment.runner(servers[index % 2].url, f"r{index}") for index in range(SCALE_RUNNERS)]
        processes += [*servers, *runners]
        for server in servers:
            server.wait_listening()

        def drained() -> bool:
            # Queued before running: a run moves queued -> running -> done, so it cannot slip between the two.
            return not any(deployment.store.list_runs(status=status, limit=1) for status in ("queued", "running"))

        wait_until(drained, "the queue to drain", timeout=120)

        executed_by: dict[str, int] = {}
        for run_id in run_ids:
            run = deployment.store.get_run(run_id)
            assert run is not None and run.status == "success", run
            (attempt,) = deployment.store.attempts(run_id)  # exactly one execution
            assert attempt.status == "success" and attempt.runner_name is not None
            executed_by[attempt.runner_name] = executed_by.get(attempt.runner_name, 0) + 1
            assert deployment.lines(run_id, "hello") == [(1, 1, f"run {run_id}")]  # no line lost or doubled
        # Both servers handed out work: runners r0, r2, ... dial the first, r1, r3, ... the second.
        assert {int(name[1:]) % 2 for name in executed_by} == {0, 1}, executed_by
        assert sum(executed_by.values()) == SCALE_RUNS
