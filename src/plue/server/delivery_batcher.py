"""Group commit of webhook deliveries: those that arrive while a transaction commits go in the next one.

Each delivery and its runs must be durable before the webhook answers, and a transaction
per delivery spends most of its time in round trips and the commit itself. One writer
thread records whatever deliveries are waiting, all in one transaction
(`Store.record_deliveries`): a lone delivery goes alone at once (no added wait), a burst
goes in batches as large as the time one commit took to gather. Every caller still gets
its own answer, and gets it only after its delivery is committed.

If a batch fails as a whole (a value the database refuses, say), each of its deliveries
is recorded alone, so one bad delivery cannot fail the others. If the database is
unavailable, every waiting caller gets that error (the webhook answers 503 and GitHub can
redeliver).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import Final

from plue.store import DeliveryRecord, NewDelivery, Store, StoreUnavailable

MAX_BATCH: Final = 64  # deliveries per transaction at most (statement size, latency of the first)

log = logging.getLogger(__name__)


class DeliveryBatcher:
    """Records deliveries through `store` with group commit; the ingestor's `DeliveryRecorder`."""

    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._pending: list[tuple[NewDelivery, Future[tuple[DeliveryRecord, bool]]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None  # the writer, while it runs (guarded by _lock)
        self._stopping = False
        self.batches = 0  # transactions committed (for benchmarks and tests)
        self.recorded = 0

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None:
        return self.store.get_delivery(delivery_id)

    def record_delivery(self, item: NewDelivery) -> tuple[DeliveryRecord, bool]:
        """As `Store.record_delivery`; returns once the delivery (or the earlier one) is committed."""
        return self.submit(item).result()

    async def record(self, item: NewDelivery) -> tuple[DeliveryRecord, bool]:
        """`record_delivery` for the event loop: the caller waits without holding a thread."""
        return await asyncio.wrap_future(self.submit(item))

    def submit(self, item: NewDelivery) -> Future[tuple[DeliveryRecord, bool]]:
        """Queue `item` for the next transaction; the future is done once it is committed (or failed)."""
        future: Future[tuple[DeliveryRecord, bool]] = Future()
        with self._lock:
            self._pending.append((item, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_loop, name="plue-delivery-writer", daemon=True)
                self._thread.start()
            self._wake.notify()
        return future

    def close(self) -> None:
        """Record what is waiting, then stop the writer thread (a later delivery starts another)."""
        with self._lock:
            self._stopping = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        with self._lock:
            self._stopping = False

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if not self._pending:
                    self._thread = None  # decided under the lock: the next delivery starts a new writer
                    return
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            self._record(batch)

    def _record(self, batch: list[tuple[NewDelivery, Future[tuple[DeliveryRecord, bool]]]]) -> None:
        try:
            results = self.store.record_deliveries([item for item, _ in batch])
        except StoreUnavailable as exc:
            for _, future in batch:
                future.set_exception(exc)
            return
        except Exception as exc:  # the batch as a whole was refused: each alone, so only the bad one fails
            if len(batch) > 1:
                log.warning("a batch of %d deliveries failed (%s); recording them one by one", len(batch), exc)
                for one in batch:
                    self._record([one])
            else:
                batch[0][1].set_exception(exc)
            return
        self.batches += 1
        self.recorded += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
