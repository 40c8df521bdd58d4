"""Runs whose process died are marked interrupted on the next open; live ones and other hosts' are left alone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from test_store_support import db_url, lines, new_run, run_python, store

from plue.store import INTERRUPTED_ERROR, Store, StoreError, process_owner
from plue.store.recovery import hostname, owner_alive, process_start_time

__all__ = ["db_url", "store"]  # fixtures

# Runs a workflow until it is killed: one step done, one running with 5,000 committed log lines.
DOOMED = """
import sys
from plue.store import LogWriter, Store

store = Store.open(url=sys.argv[1])
plan = {"name": "doomed", "steps": [{"id": "install"}, {"id": "test"}, {"id": "build"}]}
workflow_id = store.upsert_workflow("doomed.plue.py", "doomed", "0" * 64, plan)
run_id = store.create_run(workflow_id=workflow_id, plan=plan, event_name=None, event=None, inputs={})
store.start_run(run_id)
store.step_started(run_id, "install", 1, at=1.0)
store.step_finished(run_id, "install", 1, status="success", exit_code=0, outputs={"k": "v"}, error=None,
                    started_at=1.0, finished_at=2.0)
store.step_started(run_id, "test", 1, at=2.0)
writer = LogWriter(store, run_id, max_batch=1000)
writer.write([("test", 1, seq, "stdout", 3.0, f"line {seq}") for seq in range(1, 5001)])
writer.flush()
print("ready", run_id, flush=True)
if sys.argv[2:] == ["--keep-writing"]:
    for first in range(5001, 10**9, 100):  # until killed, mid-batch or mid-commit
        writer.write([("test", 1, seq, "stdout", 3.0, f"line {seq}") for seq in range(first, first + 100)])
sys.stdin.readline()  # until killed
"""


def start_doomed(url: str, *args: str) -> tuple[subprocess.Popen[str], int]:
    process = run_python(DOOMED, url, *args)
    assert process.stdout is not None
    word, run_id = process.stdout.readline().split()
    assert word == "ready"
    return process, int(run_id)


def test_a_killed_run_is_interrupted_on_the_next_open(db_url: str) -> None:
    process, run_id = start_doomed(db_url)
    try:
        # While its process lives, opening the store leaves the run alone.
        with Store.open(url=db_url) as alive:
            run = alive.get_run(run_id)
            assert run is not None and run.status == "running"
            assert run.owner == process_owner(process.pid)
            assert alive.recover_interrupted() == []
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL

    with Store.open(url=db_url) as reopened:
        run = reopened.get_run(run_id)
        assert run is not None
        assert (run.status, run.error) == ("interrupted", INTERRUPTED_ERROR)
        assert run.finished_at is not None
        install, test, build = run.steps
        assert (install.status, install.outputs) == ("success", {"k": "v"})  # finished steps keep their result
        assert (test.status, test.error) == ("cancelled", INTERRUPTED_ERROR)  # the running one is cancelled
        assert test.finished_at is not None
        assert build.status == "pending"  # never ran
        # Every committed log line survived the kill.
        assert [record.seq for record in reopened.read_logs(run_id)] == list(range(1, 5001))
        assert reopened.recover_interrupted() == []  # nothing left to recover


def test_a_run_killed_while_writing_keeps_a_whole_prefix_of_its_lines(db_url: str) -> None:
    process, run_id = start_doomed(db_url, "--keep-writing")
    with Store.open(url=db_url) as watcher:
        # Kill it once its writer is committing after "ready" (polling here, as a follower would).
        while len(watcher.read_logs(run_id, after=0, limit=6000)) < 6000:
            assert process.poll() is None
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with Store.open(url=db_url) as reopened:
        run = reopened.get_run(run_id)
        assert run is not None and run.status == "interrupted"
        seqs = [record.seq for record in reopened.read_logs(run_id, limit=10**8)]
        # Batches are transactions: what is stored is every line up to some point, none torn or missing.
        assert len(seqs) >= 6000 and seqs == list(range(1, len(seqs) + 1))


def test_recovery_judges_owners(store: Store) -> None:
    mine = new_run(store)  # this process: alive
    reused_pid = new_run(store, start=False)
    store.start_run(reused_pid, owner=f"{hostname()}:{os.getpid()}:1")  # our pid, another process's start time
    gone = new_run(store, start=False)
    store.start_run(gone, owner=f"{hostname()}:{2**22 + 12345}:5")  # above pid_max: no such process
    other_host = new_run(store, start=False)
    store.start_run(other_host, owner=f"not-{hostname()}:1:1")
    weird_owner = new_run(store, start=False)
    store.start_run(weird_owner, owner="something else entirely")
    queued = new_run(store, start=False)
    store.append_logs(gone, lines("install", 3))

    assert sorted(store.recover_interrupted()) == [reused_pid, gone]
    status = {run.id: run.status for run in store.list_runs()}
    assert status == {
        mine: "running",
        reused_pid: "interrupted",
        gone: "interrupted",
        other_host: "running",
        weird_owner: "running",
        queued: "queued",
    }
    assert len(store.read_logs(gone)) == 3
    assert store.recover_interrupted() == []


def test_an_interrupted_run_cannot_finish_later(store: Store) -> None:
    run_id = new_run(store, start=False)
    store.start_run(run_id, owner=f"{hostname()}:{os.getpid()}:1")
    assert store.recover_interrupted() == [run_id]
    with pytest.raises(StoreError, match="is interrupted: it cannot finish again"):
        store.finish_run(run_id, "success", None, at=1.0)


def test_owner_alive() -> None:
    me = process_owner()
    assert me.startswith(f"{hostname()}:{os.getpid()}:")
    assert process_start_time(os.getpid()) == me.rsplit(":", 1)[1]
    assert owner_alive(me) is True
    assert owner_alive(process_owner(1)) is True  # init: another process, alive
    assert owner_alive(f"{hostname()}:{os.getpid()}:1") is False  # pid reused
    assert owner_alive(f"{hostname()}:{2**22 + 1}:1") is False
    assert owner_alive(f"{hostname()}:{os.getpid()}:?") is True  # no start time known: the pid alone
    assert owner_alive(f"{hostname()}:{2**22 + 1}:?") is False
    assert owner_alive(f"other-{hostname()}:{os.getpid()}:1") is None  # not ours to judge
    assert owner_alive("garbage") is None
    assert owner_alive(f"{hostname()}:pid:1") is None


def test_start_time_survives_odd_command_names(tmp_path: Path) -> None:
    # /proc/<pid>/stat's field 2 is the command name in parentheses, which may hold ") (" and spaces.
    odd = tmp_path / "a ) (b c"
    odd.symlink_to(shutil.which("sleep") or "/bin/sleep")
    process = subprocess.Popen([str(odd), "600"])
    try:
        with open(f"/proc/{process.pid}/stat", "rb") as stat:
            assert b"(a ) (b c)" in stat.read()
        start = process_start_time(process.pid)
        assert start is not None and start.isdigit()
        assert owner_alive(process_owner(process.pid)) is True
    finally:
        process.kill()
        process.wait()
    assert owner_alive(f"{hostname()}:{process.pid}:{start}") is False
