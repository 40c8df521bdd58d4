"""Escape attempts against the evaluator sandbox: every file in tests/escapes must fail.

Each ``tests/escapes/*.plue.py`` holds one technique. Its header says what it tries
(``# technique: ...``) and how it must end (``# expect: kind[|kind]``); a line
marked ``# <-`` is where the error must be reported. Files are evaluated with tight
limits (1 s wall, 1 s CPU) when they are meant to hit the wall or CPU limit, all at
once in parallel, then checked one by one.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from plue.sandbox import Evaluation, EvaluationRequest, Evaluator, Limits
from plue.sandbox.guards import scrub_caught

ESCAPES = Path(__file__).parent / "escapes"
# Escape files that would write files aim at this path; it must never appear.
CANARY = Path("/tmp/plue-escape-canary")
KINDS = frozenset({"syntax", "forbidden", "runtime", "plan", "timeout", "memory", "cpu", "crash", "limit", "input"})
# What an author must never see in a message: engine frames, paths, addresses, guard names.
INTERNALS = re.compile(
    r"Traceback|site-packages|plue/sandbox|\.py\", line| at 0x[0-9a-f]+"
    r"|guarded_|safe_|_plue_|PlueFacade|TypeAlias|RestrictedPython"
)


@dataclass(frozen=True)
class EscapeCase:
    path: Path
    technique: str
    kinds: frozenset[str]
    lines: frozenset[int]  # where the error may be reported (a loop interrupted by a limit: any of its lines)


def _text(data: bytes) -> str:
    """The file's text, only to read its header (the sandbox gets the raw bytes)."""
    if data.startswith(codecs.BOM_UTF16_LE):
        return data[2:].decode("utf-16-le")
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    return data.decode("utf-8", errors="replace")


def _load(path: Path) -> EscapeCase:
    lines = _text(path.read_bytes()).splitlines()
    assert lines and lines[0].startswith("# technique: "), f"{path.name}: the first line must be '# technique: ...'"
    expect = next((line for line in lines[:5] if line.startswith("# expect: ")), None)
    assert expect is not None, f"{path.name}: no '# expect: kind' line in the header"
    kinds = frozenset(expect.removeprefix("# expect: ").split("#")[0].strip().split("|"))
    assert kinds <= KINDS, f"{path.name}: unknown kinds {sorted(kinds - KINDS)}"
    marked = frozenset(number for number, line in enumerate(lines, start=1) if line.rstrip().endswith("# <-"))
    return EscapeCase(path, lines[0].removeprefix("# technique: "), kinds, marked)


CASES = [_load(path) for path in sorted(ESCAPES.glob("*.plue.py"))]

# Files expected to run into the wall or CPU limit get tight limits, so each costs about a
# second; every other file gets room, so that a busy machine cannot turn, say, a memory
# bomb into a timeout (they all end long before these limits anyway).
TIGHT = Limits(wall_seconds=1, cpu_seconds=1)
ROOMY = Limits(wall_seconds=5, cpu_seconds=5)


def _limits_for(case: EscapeCase) -> Limits:
    return TIGHT if case.kinds & {"timeout", "cpu"} else ROOMY


@pytest.fixture(scope="module")
def escape_results(tight_evaluator: Evaluator, make_push_ctx: Callable[[], dict[str, Any]]) -> dict[str, Evaluation]:
    CANARY.unlink(missing_ok=True)
    requests = [
        EvaluationRequest(case.path.read_bytes(), case.path.name, make_push_ctx(), _limits_for(case)) for case in CASES
    ]
    results = tight_evaluator.evaluate_many(requests)
    return {case.path.name: result for case, result in zip(CASES, results, strict=True)}


def test_there_are_many_distinct_techniques() -> None:
    assert len(CASES) >= 60
    techniques = [case.technique for case in CASES]
    assert len(set(techniques)) == len(techniques), "two files claim the same technique"


@pytest.mark.parametrize("case", CASES, ids=[case.path.name.removesuffix(".plue.py") for case in CASES])
def test_escape_fails_cleanly(
    case: EscapeCase,
    escape_results: dict[str, Evaluation],
    tight_evaluator: Evaluator,
    assert_sandbox_healthy: Callable[[Evaluator], None],
) -> None:
    result = escape_results[case.path.name]
    assert not result.ok, f"{case.path.name} was ACCEPTED: {case.technique}; plan={result.plan}"
    error = result.error
    assert error is not None
    assert error.kind in case.kinds, f"{case.path.name}: kind {error.kind!r}, expected {sorted(case.kinds)}: {error}"
    rendered = str(error)
    assert rendered.startswith(f"{case.path.name}:")
    assert len(rendered) < 400
    assert "\n" not in rendered
    assert not INTERNALS.search(error.message), rendered
    assert not INTERNALS.search(result.printed), result.printed[:400]
    if case.lines:
        assert error.line in case.lines, f"{case.path.name}: reported at line {error.line}, expected {set(case.lines)}"
    # The host is unharmed: no file appeared, and the evaluator still works.
    assert not CANARY.exists()
    assert_sandbox_healthy(tight_evaluator)


def test_caught_os_error_loses_host_paths() -> None:
    """An OSError can only come from the confinement; its file name is a host path."""
    error = OSError(24, "Too many open files", "/usr/lib/python3.11/encodings", None, "/tmp/x")
    scrub_caught(error)
    assert str(error) == "[Errno 24] Too many open files"


def test_caught_memory_error_is_not_caught() -> None:
    with pytest.raises(MemoryError):
        scrub_caught(MemoryError())


def test_caught_messages_lose_addresses() -> None:
    error = ValueError("<function f at 0x7f3a2b1c0d40> is not in list", 3)
    scrub_caught(error)
    assert error.args == ("<function f> is not in list", 3)
