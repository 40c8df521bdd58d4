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
