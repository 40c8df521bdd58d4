"""The delivery batcher (group commit): every caller gets its own committed answer, whatever it is batched with."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from test_store_deliveries import PAYLOAD, new_run
from test_store_support import db_url, store

from plue.server.delivery_batcher import DeliveryBatcher
from plue.store import NewDelivery, Store

__all__ = ["db_url", "store"]  # fixtures


def deliver(batcher: DeliveryBatcher, delivery_id: str, outcome: str | None = None) -> Any:
    runs = [new_run("CI")]
    return batcher.record_delivery(
        NewDelivery(delivery_id, "push", None, "octo/hello", PAYLOAD, outcome or "queued", None, tuple(runs), 1.0)
    )


def test_concurrent_callers_each_get_their_committed_answer(store: Store) -> None:
    batcher = DeliveryBatcher(store, max_batch=8)
    ids = [f"d-{index % 30}" for index in range(60)]  # every id sent twice
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda delivery_id: deliver(batcher, delivery_id), ids))
    batcher.close()
    created = [record.delivery_id for record, new in answers if new]
    assert sorted(created) == sorted(set(ids))  # each id recorded once...
    by_id: dict[str, Any] = {}
    for record, _ in answers:  # ...and both callers of an id told the same runs
        assert by_id.setdefault(record.delivery_id, record.run_ids) == record.run_ids
    assert len(store.list_runs(limit=100)) == 30
    assert batcher.recorded == 60 and 1 <= batcher.batches <= 60


def test_a_bad_delivery_fails_alone_and_the_writer_restarts_after_close(store: Store) -> None:
    batcher = DeliveryBatcher(store)
    with ThreadPoolExecutor(6) as pool:
        futures = {key: pool.submit(deliver, batcher, key) for key in "abcde"}
        futures["bad"] = pool.submit(deliver, batcher, "bad", "maybe")
        with pytest.raises(ValueError, match="queued, ignored, error"):
            futures["bad"].result(timeout=60)
        assert all(futures[key].result(timeout=60)[1] for key in "abcde")
    batcher.close()
    record, created = deliver(batcher, "after-close")  # a new writer starts
    assert created and store.get_delivery("after-close") == record
    batcher.close()
