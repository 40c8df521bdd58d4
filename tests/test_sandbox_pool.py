"""The host side of the sandbox: what it accepts from a child, and what it leaves behind."""

from __future__ import annotations

import glob
import os
import tempfile

from plue.sandbox import Evaluator, Limits
from plue.sandbox.pool import _interpret

LIMITS = Limits()
OK_OUTCOME = {"exit": 0, "timed_out": False, "too_large": False, "seconds": 0.01}


def test_a_compromised_child_cannot_send_nan_or_hostile_nesting() -> None:
    nan_plan = b'{"ok": true, "printed": "", "plan": {"version": NaN}}'
    deep = b'{"ok": true, "plan": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for output in (nan_plan, deep, b"not json", b"", b"[1, 2]"):
        result = _interpret("w.plue.py", OK_OUTCOME, output, LIMITS)
        assert not result.ok
        assert result.error is not None and result.error.kind == "crash"
        assert "without a result" in result.error.message


def test_a_well_formed_child_result_is_taken() -> None:
    output = b'{"ok": true, "printed": "hi\\n", "plan": {"name": "x"}}'
    result = _interpret("w.plue.py", OK_OUTCOME, output, LIMITS)
    assert result.ok and result.plan == {"name": "x"} and result.printed == "hi\n"


def test_the_working_directory_is_removed_on_close() -> None:
    pattern = os.path.join(tempfile.gettempdir(), "plue-eval-*")
    before = set(glob.glob(pattern))
    with Evaluator(workers=1) as evaluator:
        assert evaluator.evaluate(b"def workflow():\n    return Plan('x', steps=[Step.bash('a', 'b')])\n", "w").ok
        during = set(glob.glob(pattern)) - before
        assert len(during) == 1
        [workdir] = during
        assert os.listdir(workdir) == []  # children never write there
    assert not os.path.exists(workdir)
