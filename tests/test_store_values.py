"""`clean_json` gives what cleaning every string one by one gives, whichever path it takes."""

from __future__ import annotations

import random
from typing import Any

from plue.store.values import REPLACEMENT, _clean_json, clean_json

ODD = ["\0", "\ud800", "\udfff", "😀", "\\u0000", "\\ud800", "é", "plain", "", "\x7f"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return "".join(rng.choice(ODD) for _ in range(rng.randint(0, 3))) if rng.random() < 0.7 else rng.randint(-5, 5)
    if roll < 0.7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {"".join(rng.choice(ODD) for _ in range(rng.randint(1, 2))): _value(rng, depth + 1) for _ in range(3)}


def test_the_fast_path_agrees_with_cleaning_each_string() -> None:
    rng = random.Random(20261126)
    for _ in range(3000):
        value = _value(rng)
        assert clean_json(value) == _clean_json(value), value


def test_clean_values_come_back_as_they_are_and_dirty_ones_cleaned() -> None:
    payload = {"ref": "refs/heads/main", "commits": [{"message": "fix 😀", "id": "a" * 40}], "n": 3}
    assert clean_json(payload) is payload
    assert clean_json({"a": ["x\0y", {"k\ud800": 1}]}) == {"a": [f"x{REPLACEMENT}y", {f"k{REPLACEMENT}": 1}]}


def test_dump_json_writes_what_json_reads_back_and_falls_back_where_orjson_cannot() -> None:
    import json

    from plue.store.values import dump_json

    rng = random.Random(7)
    for _ in range(500):
        value = clean_json(_value(rng))
        assert json.loads(dump_json(value)) == value
    # Keys that are not strings become strings, as json.dumps makes them.
    assert json.loads(dump_json({1: "a", None: "b", False: "c"})) == {"1": "a", "null": "b", "false": "c"}
    # Integers beyond 64 bits are kept exact (json writes them); NaN becomes null, which PostgreSQL accepts.
    assert json.loads(dump_json({"big": 2**80})) == {"big": 2**80}
    assert json.loads(dump_json({"nan": float("nan"), "inf": float("inf")})) == {"nan": None, "inf": None}


def test_json_columns_round_trip_through_the_store(tmp_path: Any) -> None:
    from plue.store import Store

    store = Store.open(url=f"sqlite:///{tmp_path / 'p.db'}")
    try:
        plan = {"name": "CI", "steps": [{"id": "a", "type": "bash", "cmd": "echo 😀"}], "big": 2**70, "t": [1.5, None]}
        workflow_id = store.upsert_workflow("ci.plue.py", "CI", "0" * 64, plan)
        run_id = store.create_run(workflow_id=workflow_id, plan=plan, event_name="push", event={"n": 2**65}, inputs={})
        run = store.get_run(run_id)
        assert run is not None
        assert run.plan == plan and run.event == {"n": 2**65}
    finally:
        store.close()
