"""Log lines on SQLite and PostgreSQL: idempotent batches, order, cursor paging, and the LogWriter."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from test_store_support import db_url, lines, new_run, run_python, store

from plue.store import LogLineTuple, LogWriter, Store, StoreError, StoreUnavailable, writer

__all__ = ["db_url", "store"]  # fixtures


def texts(records: Sequence[Any]) -> list[str]:
    return [record.text for record in records]


# --- append_logs / read_logs ------------------------------------------------------------------


def test_lines_come_back_in_order_with_every_field(store: Store) -> None:
    run_id = new_run(store)
    store.append_logs(run_id, [("install", 1, 1, "stdout", 12.5, "hello"), ("install", 1, 2, "stderr", 13.0, "")])
    store.append_logs(run_id, [("test", 1, 1, "llm.tool_call", 14.0, '{"tool": "bash"}')])
    first, second, third = store.read_logs(run_id)
    assert (first.run_id, first.step_id, first.attempt, first.seq, first.stream, first.at, first.text) == (
        run_id, "install", 1, 1, "stdout", 12.5, "hello",
    )  # fmt: skip
    assert (second.stream, second.text, third.stream) == ("stderr", "", "llm.tool_call")
    assert first.id < second.id < third.id
    assert first.to_json() == {
        "id": first.id, "run_id": run_id, "step_id": "install", "attempt": 1, "seq": 1, "stream": "stdout",
        "at": 12.5, "text": "hello",
    }  # fmt: skip


def test_a_batch_sent_twice_is_stored_once(store: Store) -> None:
    run_id = new_run(store)
    batch = lines("install", 100)
    store.append_logs(run_id, batch)
    store.append_logs(run_id, batch)
    # Overlapping redelivery: the old lines are skipped, the new ones stored, in order.
    store.append_logs(run_id, lines("install", 100, first=51))
    store.append_logs(run_id, [("install", 1, 1, "stdout", 0.0, "a different text for seq 1")])
    records = store.read_logs(run_id)
    assert [record.seq for record in records] == list(range(1, 151))
    assert records[0].text == "install line 1"  # the first delivery wins
    assert texts(records) == texts(store.read_logs(run_id, step_id="install", attempt=1))


def test_the_same_seq_in_another_step_or_attempt_is_another_line(store: Store) -> None:
    run_id = new_run(store)
    store.append_logs(run_id, lines("test", 3) + lines("test", 3, attempt=2) + lines("build", 3))
    assert len(store.read_logs(run_id)) == 9
    assert [(r.attempt, r.seq) for r in store.read_logs(run_id, step_id="test")] == [
        (1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3),
    ]  # fmt: skip
    assert [r.seq for r in store.read_logs(run_id, step_id="test", attempt=2)] == [1, 2, 3]
    assert [r.step_id for r in store.read_logs(run_id, attempt=2)] == ["test"] * 3
    assert store.read_logs(run_id, step_id="missing") == []
    with pytest.raises(ValueError, match="limit"):
        store.read_logs(run_id, limit=0)


def test_cursor_paging_reads_everything_once(store: Store) -> None:
    run_id = new_run(store)
    other = new_run(store)
    for first in range(1, 1000, 100):  # interleave two steps and another run
        store.append_logs(run_id, lines("install", 100, first=first) + lines("test", 50, first=(first + 1) // 2))
        store.append_logs(other, lines("install", 10, first=first))

    def page_through(**filters: Any) -> list[tuple[str, int]]:
        seen: list[tuple[str, int]] = []
        cursor = 0
        while page := store.read_logs(run_id, after=cursor, limit=77, **filters):
            assert len(page) <= 77
            seen += [(record.step_id, record.seq) for record in page]
            cursor = page[-1].id
        return seen

    everything = page_through()
    assert len(everything) == 1500 and len(set(everything)) == 1500
    assert [seq for step, seq in everything if step == "install"] == list(range(1, 1001))
    assert page_through(step_id="test") == [("test", seq) for seq in range(1, 501)]


def test_follow_sees_new_lines_after_the_cursor(store: Store) -> None:
    run_id = new_run(store)
    store.append_logs(run_id, lines("install", 5))
    cursor = store.read_logs(run_id)[-1].id
    assert store.read_logs(run_id, after=cursor) == []
    store.append_logs(run_id, lines("install", 3, first=6))
    assert [record.seq for record in store.read_logs(run_id, after=cursor)] == [6, 7, 8]


def test_log_text_round_trips(store: Store) -> None:
    run_id = new_run(store)
    weird = ["日本語 🚀 עברית", "tab\tand\\backslash", "x" * 1_000_000, "nul\0inside", "bad \udcff byte", " "]
    store.append_logs(run_id, [("install", 1, seq, "stdout", 1.0, text) for seq, text in enumerate(weird, 1)])
    assert texts(store.read_logs(run_id)) == [*weird[:3], "nul\ufffdinside", "bad \ufffd byte", " "]


def test_lines_of_an_unknown_run_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="database"):
        store.append_logs(424242, lines("install", 3))
    store.append_logs(424242, [])  # nothing to store: no error
    assert store.read_logs(424242) == []


# --- LogWriter ---------------------------------------------------------------------------------


def test_writer_stores_everything_in_order(store: Store) -> None:
    run_id = new_run(store)
    with LogWriter(store, run_id, max_batch=64, max_queue=256) as log_writer:
        for first in range(1, 5000, 10):
            log_writer.write(lines("install", 10, first=first))
        log_writer.write(iter(lines("test", 1000)))  # any iterable, split into batches
    assert log_writer.committed == 6000
    records = store.read_logs(run_id)
    assert [(r.step_id, r.seq) for r in records] == [("install", s) for s in range(1, 5001)] + [
        ("test", s) for s in range(1, 1001)
    ]


def test_flush_waits_for_the_commit(store: Store) -> None:
    run_id = new_run(store)
    log_writer = LogWriter(store, run_id, max_batch=10, max_queue=100)
    try:
        total = 0
        for count in (1, 25, 250):
            log_writer.write(lines("install", count, first=total + 1))
            total += count
            log_writer.flush()
            assert (log_writer.committed, log_writer.queued) == (total, 0)
            assert len(store.read_logs(run_id)) == total
        log_writer.flush()  # nothing new: returns at once
    finally:
        log_writer.close()
    log_writer.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        log_writer.write(lines("install", 1))


class SlowStore:
    """A stand-in store whose first append waits until released, recording what it is given."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[list[LogLineTuple]] = []

    def append_logs(self, run_id: int, batch: Sequence[LogLineTuple]) -> None:
        self.entered.set()
        assert self.release.wait(timeout=60), "never released"
        self.batches.append(list(batch))


class ProbeWriter(LogWriter):
    """Signals when a write() has to wait for room: the backpressure point."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.blocked = threading.Event()
        super().__init__(*args, **kwargs)

    def _wait_for_room(self, lines: int) -> None:
        self.blocked.set()
        super()._wait_for_room(lines)


def test_write_blocks_when_the_queue_is_full() -> None:
    slow = SlowStore()
    probe = ProbeWriter(slow, 1, max_batch=10, max_queue=100)  # type: ignore[arg-type]
    everything = lines("install", 1000)
    probe.write(everything[:10])
    assert slow.entered.wait(timeout=60)  # the writer thread holds these 10 lines, stuck in the store
    probe.write(everything[10:110])  # exactly fills the queue: no wait
    assert not probe.blocked.is_set()
    assert (probe.queued, probe.committed) == (100, 0)
    producer = threading.Thread(target=probe.write, args=(everything[110:],))
    producer.start()
    assert probe.blocked.wait(timeout=60)  # the next line has no room: the producer waits
    assert producer.is_alive() and probe.queued == 100
    slow.release.set()
    producer.join()
    probe.close()
    assert [line for batch in slow.batches for line in batch] == everything
    assert max(len(batch) for batch in slow.batches) <= 10


class FlakyStore:
    """Fails with StoreUnavailable `failures` times, then stores."""

    def __init__(self, failures: int, error: type[Exception] = StoreUnavailable) -> None:
        self.failures = failures
        self.error = error
        self.stored: list[LogLineTuple] = []

    def append_logs(self, run_id: int, batch: Sequence[LogLineTuple]) -> None:
        if self.failures:
            self.failures -= 1
            raise self.error("database is locked")
        self.stored += batch


def test_writer_retries_an_unavailable_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    flaky = FlakyStore(failures=3)
    with LogWriter(flaky, 1, max_batch=5, max_queue=5) as log_writer:  # type: ignore[arg-type]
        log_writer.write(lines("install", 20))
    assert flaky.stored == lines("install", 20)


@pytest.mark.parametrize("error", [StoreUnavailable, StoreError, RuntimeError])
def test_writer_reports_a_lasting_failure(monkeypatch: pytest.MonkeyPatch, error: type[Exception]) -> None:
    monkeypatch.setattr(writer, "RETRY_DELAYS", (0.0,))
    log_writer = LogWriter(FlakyStore(failures=100, error=error), 7, max_batch=5, max_queue=10)  # type: ignore[arg-type]
    log_writer.write(lines("install", 5))
    with pytest.raises(StoreError, match="5 log lines of run 7 could not be stored: database is locked"):
        log_writer.flush()
    with pytest.raises(StoreError, match="could not be stored"):
        log_writer.write(lines("install", 5, first=6))
    with pytest.raises(StoreError, match="could not be stored"):
        log_writer.close()


def test_a_blocked_writer_is_released_by_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "RETRY_DELAYS", ())
    log_writer = LogWriter(FlakyStore(failures=100, error=StoreError), 1, max_batch=5, max_queue=5)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="could not be stored"):
        log_writer.write(lines("install", 1000))  # would block forever if the failure did not wake it
    with pytest.raises(StoreError):
        log_writer.close()


def test_writer_arguments() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        LogWriter(SlowStore(), 1, max_batch=10, max_queue=5)  # type: ignore[arg-type]


MILLION = """
import json, resource, sys, time
from sqlalchemy import func, select
from plue.store import LogWriter, Store
from plue.store.models import log_lines

TOTAL = 1_000_000
with Store.open(url=sys.argv[1]) as store:
    plan = {"name": "chatty", "steps": [{"id": "spam"}]}
    workflow_id = store.upsert_workflow("chatty.plue.py", "chatty", "0" * 64, plan)
    run_id = store.create_run(workflow_id=workflow_id, plan=plan, event_name=None, event=None, inputs={})
    store.start_run(run_id)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # A generator: the writer must take lines as it can store them, never the whole output at once.
    output = (("spam", 1, seq, "stdout", time.time(), f"line {seq}: " + "x" * 100) for seq in range(1, TOTAL + 1))
    with LogWriter(store, run_id) as writer:
        writer.write(output)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with store._engine.connect() as connection:
        count, low, high = connection.execute(
            select(func.count(), func.min(log_lines.c.seq), func.max(log_lines.c.seq))
            .where(log_lines.c.run_id == run_id)
        ).one()
    last = store.read_logs(run_id, after=0, limit=1)[0]
print(json.dumps({"before_kb": before, "peak_kb": peak, "count": count, "low": low, "high": high,
                  "first": last.text[:8]}))
"""


@pytest.mark.slow
def test_a_million_lines_with_bounded_memory(db_url: str) -> None:
    process = run_python(MILLION, db_url)
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0
    result = json.loads(out)
    assert (result["count"], result["low"], result["high"], result["first"]) == (1_000_000, 1, 1_000_000, "line 1: ")
    # The lines themselves are ~150 MB of Python objects: holding them all would blow this bound.
    growth_mb = (result["peak_kb"] - result["before_kb"]) / 1024
    assert growth_mb < 100, f"peak RSS grew by {growth_mb:.0f} MB"
