"""Helpers for tests that run real processes: bounded polling, background work, process checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll for a condition (not a sleep as synchronisation): fail if it does not hold in time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@contextmanager
def in_background(work: Callable[[], T], stop: Callable[[], None]) -> Iterator[list[T]]:
    """Run `work` on a daemon thread; the block's end waits for it (bounded).

    If the block fails, `stop` is called first: no run, and none of its processes, outlives a failed test.
    """
    result: list[T] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    try:
        yield result
    except BaseException:
        stop()
        thread.join(timeout=60)
        raise
    thread.join(timeout=60)
    if thread.is_alive():
        stop()
        thread.join(timeout=60)
        pytest.fail("the background work did not end")


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie (a dead process its parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
