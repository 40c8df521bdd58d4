"""LLM usage rows on SQLite and PostgreSQL: stored with the step's end, read back per run, junk tolerated."""

from __future__ import annotations

from test_store_support import db_url, new_run, store

from plue.store import Store

__all__ = ["db_url", "store"]  # fixtures


def _finish(store: Store, run_id: int, step_id: str, attempt: int, calls: list[dict[str, object]]) -> None:
    store.step_started(run_id, step_id, attempt, at=1.0)
    store.step_finished(
        run_id, step_id, attempt, status="success", exit_code=None, outputs={}, error=None,
        started_at=1.0, finished_at=2.0, extra={"text": "ok"}, llm_calls=calls,
    )  # fmt: skip


def test_calls_are_stored_with_the_step_and_read_back_in_order(store: Store) -> None:
    run_id = new_run(store)
    other = new_run(store)
    calls = [
        {"turn": 1, "model": "claude-sonnet-4-5", "input_tokens": 1200, "output_tokens": 80, "cache_read_tokens": 0,
         "cache_write_tokens": 1000, "latency_ms": 812.5, "stop_reason": "tool_use", "request_id": "req_1",
         "at": 1.5, "cost_usd": 0.0051},
        {"turn": 2, "model": "claude-sonnet-4-5", "input_tokens": 1300, "output_tokens": 20, "cache_read_tokens": 1000,
         "cache_write_tokens": 0, "latency_ms": 400.0, "stop_reason": "end_turn", "request_id": "req_2",
         "at": 1.9, "cost_usd": 0.0042},
    ]  # fmt: skip
    _finish(store, run_id, "test", 1, calls)
    _finish(store, other, "test", 1, calls[:1])
    usage = store.llm_usage(run_id)
    assert [(u.step_id, u.attempt, u.turn, u.stop_reason, u.request_id) for u in usage] == [
        ("test", 1, 1, "tool_use", "req_1"),
        ("test", 1, 2, "end_turn", "req_2"),
    ]
    assert usage[0].to_json() == {"step_id": "test", "attempt": 1, **calls[0]}
    assert len(store.llm_usage(other)) == 1
    assert store.llm_usage(other + 100) == []


def test_a_step_without_calls_stores_no_usage(store: Store) -> None:
    run_id = new_run(store)
    _finish(store, run_id, "test", 1, [])
    assert store.llm_usage(run_id) == []


def test_malformed_numbers_count_as_zero_and_text_is_cleaned(store: Store) -> None:
    run_id = new_run(store)
    junk: dict[str, object] = {"model": "m\x00x", "input_tokens": "12", "output_tokens": True}
    junk.update({"cost_usd": float("nan"), "latency_ms": None, "turn": -3, "at": None})
    _finish(store, run_id, "test", 1, [junk])
    (usage,) = store.llm_usage(run_id)
    assert (usage.input_tokens, usage.output_tokens, usage.cost_usd, usage.latency_ms) == (0, 0, 0.0, None)
    assert usage.turn == 0 and usage.at == 2.0  # clamped; the step's end time when the call has none
    assert "\x00" not in usage.model
