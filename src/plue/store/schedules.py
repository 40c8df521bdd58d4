"""Schedule ticks: each (schedule key, tick time) fires once, across processes and restarts.

The unique (key, scheduled_at) row is the claim: the first insert wins, every later
one conflicts and is ignored. Each function runs inside the caller's transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from plue.store.models import schedule_ticks
from plue.store.values import clean_text


def fire(connection: Connection, key: str, scheduled_at: float, fired_at: float) -> bool:
    """True for the one caller that fires this tick."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    inserted = connection.execute(
        dialect.insert(schedule_ticks)
        .values(key=clean_text(key), scheduled_at=scheduled_at, fired_at=fired_at)
        .on_conflict_do_nothing(index_elements=["key", "scheduled_at"])
        .returning(schedule_ticks.c.id)
    ).scalar()
    return inserted is not None


def last_tick(connection: Connection, key: str) -> float | None:
    """The latest tick of the schedule that fired, None if none did."""
    latest = connection.execute(
        select(func.max(schedule_ticks.c.scheduled_at)).where(schedule_ticks.c.key == clean_text(key))
    ).scalar()
    return None if latest is None else float(latest)


def set_run(connection: Connection, key: str, scheduled_at: float, run_id: int) -> bool:
    """Record the run a tick queued (in the transaction that fired it); False if that tick never fired."""
    result = connection.execute(
        update(schedule_ticks)
        .where(schedule_ticks.c.key == clean_text(key), schedule_ticks.c.scheduled_at == scheduled_at)
        .values(run_id=run_id)
    )
    return result.rowcount > 0
