"""Several processes and threads on one database: fresh opens, writers, a follower, a cancel from outside.

On SQLite this is the CLI's situation: `plue workflow run` writing while `plue run
logs --follow` reads and `plue run cancel` writes, each its own process on one file.
Processes synchronise on their pipes (print "ready", wait for "go"), never on sleeps.
"""

from __future__ import annotations

import threading
from subprocess import Popen

from sqlalchemy import text
from test_store_support import db_url, lines, new_run, run_python, store

from plue.store import LogRecord, LogWriter, Store, migrate

__all__ = ["db_url", "store"]  # fixtures

OPEN = """
import sys
from plue.store import Store

print("ready", flush=True)
sys.stdin.readline()
with Store.open(url=sys.argv[1]) as store:
    plan = {"name": "p", "steps": [{"id": "a"}]}
    workflow_id = store.upsert_workflow("p.plue.py", "p", "0" * 64, plan)
    print(store.create_run(workflow_id=workflow_id, plan=plan, event_name=None, event=None, inputs={}), flush=True)
"""

WRITE = """
import sys
from plue.store import LogWriter, Store

name = sys.argv[2]
steps = [f"{name}-{index}" for index in range(10)]
with Store.open(url=sys.argv[1]) as store:
    plan = {"name": name, "steps": [{"id": step} for step in steps]}
    workflow_id = store.upsert_workflow(f"{name}.plue.py", name, "0" * 64, plan)
    run_id = store.create_run(workflow_id=workflow_id, plan=plan, event_name=None, event=None, inputs={})
    store.start_run(run_id)
    print("ready", run_id, flush=True)
    sys.stdin.readline()
    with LogWriter(store, run_id, max_batch=500) as writer:
        for step in steps:
            store.step_started(run_id, step, 1, at=1.0)
            for first in range(1, 2001, 50):
                writer.write([(step, 1, seq, "stdout", 1.0, f"{step} {seq}") for seq in range(first, first + 50)])
            writer.flush()  # as the engine's sink does before a step's finish
            store.step_finished(run_id, step, 1, status="success", exit_code=0, outputs={"n": "2000"}, error=None,
                                started_at=1.0, finished_at=2.0)
    store.finish_run(run_id, "success", None, at=3.0)
"""

CANCELLABLE = """
import sys
from plue.store import LogWriter, Store

with Store.open(url=sys.argv[1]) as store:
    plan = {"name": "long", "steps": [{"id": "forever"}]}
    workflow_id = store.upsert_workflow("long.plue.py", "long", "0" * 64, plan)
    run_id = store.create_run(workflow_id=workflow_id, plan=plan, event_name=None, event=None, inputs={})
    store.start_run(run_id)
    store.step_started(run_id, "forever", 1, at=1.0)
    print("ready", run_id, flush=True)
    seq = 0
    with LogWriter(store, run_id) as writer:
        while not store.cancel_requested(run_id):  # the engine polls like this
            writer.write([("forever", 1, seq + n, "stdout", 1.0, "tick") for n in range(1, 101)])
            seq += 100
    store.step_finished(run_id, "forever", 1, status="cancelled", exit_code=None, outputs={}, error="cancelled",
                        started_at=1.0, finished_at=2.0)
    store.finish_run(run_id, "cancelled", None, at=2.0)
"""


def read_ready(process: Popen[str]) -> list[str]:
    assert process.stdout is not None
    words = process.stdout.readline().split()
    assert words[:1] == ["ready"], words
    return words[1:]


def go(process: Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()


def test_processes_open_a_fresh_database_at_once(db_url: str) -> None:
    # Each migrates the empty database unless another did: the migration takes a lock first.
    processes = [run_python(OPEN, db_url) for _ in range(4)]
    for process in processes:
        read_ready(process)
    for process in processes:
        go(process)
    run_ids = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        run_ids.append(int(out))
    assert sorted(run_ids) == [1, 2, 3, 4]
    with Store.open(url=db_url) as opened, opened._engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [migrate.HEAD]


def test_two_writer_processes_and_a_follower(db_url: str) -> None:
    with Store.open(url=db_url):
        pass  # migrated once here, so both writers start from a ready database
    writers = [run_python(WRITE, db_url, name) for name in ("left", "right")]
    run_ids = [int(read_ready(process)[0]) for process in writers]
    for process in writers:
        go(process)

    # Follow both runs while they are written, as `plue run logs --follow` does: poll after the cursor.
    seen: dict[int, list[LogRecord]] = {run_id: [] for run_id in run_ids}
    with Store.open(url=db_url) as follower:
        while True:
            finished = all(process.poll() is not None for process in writers)  # before reading: no line missed
            new = 0
            for run_id in run_ids:
                cursor = seen[run_id][-1].id if seen[run_id] else 0
                page = follower.read_logs(run_id, after=cursor, limit=5000)
                seen[run_id] += page
                new += len(page)
            if finished and not new:
                break
        for process in writers:
            assert process.wait() == 0
        for run_id, name in zip(run_ids, ("left", "right"), strict=True):
            expected = [(f"{name}-{index}", seq) for index in range(10) for seq in range(1, 2001)]
            assert [(record.step_id, record.seq) for record in seen[run_id]] == expected
            run = follower.get_run(run_id)
            assert run is not None and run.status == "success"
            assert [step.status for step in run.steps] == ["success"] * 10


def test_cancel_from_another_process(db_url: str) -> None:
    process = run_python(CANCELLABLE, db_url)
    run_id = int(read_ready(process)[0])
    with Store.open(url=db_url) as canceller:
        assert canceller.request_cancel(run_id) is True
        assert process.wait(timeout=120) == 0
        run = canceller.get_run(run_id)
        assert run is not None
        assert (run.status, run.cancel_requested, run.steps[0].status) == ("cancelled", True, "cancelled")
        assert canceller.request_cancel(run_id) is False
        logged = canceller.read_logs(run_id, limit=10**7)
        assert [record.seq for record in logged] == list(range(1, len(logged) + 1))


def test_writer_threads_and_a_reader_thread(store: Store) -> None:
    run_ids = [new_run(store) for _ in range(3)]
    done = threading.Event()
    errors: list[BaseException] = []
    read: dict[int, int] = {}

    def write(run_id: int) -> None:
        try:
            with LogWriter(store, run_id, max_batch=100, max_queue=1000) as log_writer:
                for first in range(1, 10_001, 25):
                    log_writer.write(lines("install", 25, first=first))
                    if first % 1000 == 1:
                        store.step_started(run_id, "test", first // 1000 + 1, at=1.0)
        except BaseException as exc:
            errors.append(exc)

    def follow() -> None:
        try:
            cursors = dict.fromkeys(run_ids, 0)
            while True:
                finished = done.is_set()
                new = 0
                for run_id in run_ids:
                    page = store.read_logs(run_id, after=cursors[run_id], limit=3000)
                    if page:
                        assert [r.seq for r in page] == list(range(page[0].seq, page[0].seq + len(page)))
                        cursors[run_id] = page[-1].id
                        read[run_id] = read.get(run_id, 0) + len(page)
                        new += len(page)
                if finished and not new:
                    return
        except BaseException as exc:
            errors.append(exc)

    follower = threading.Thread(target=follow)
    follower.start()
    writers = [threading.Thread(target=write, args=(run_id,)) for run_id in run_ids]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    follower.join()
    assert errors == []
    assert read == dict.fromkeys(run_ids, 10_000)
    for run_id in run_ids:
        run = store.get_run(run_id)
        assert run is not None and [step.attempt for step in run.attempts if step.id == "test"] == list(range(1, 11))
