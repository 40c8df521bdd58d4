"""The sandboxed evaluator: untrusted ``*.plue.py`` source in, plain plan data out.

Layers (see docs/sandbox.md): a restricted compiler (`policy`), guarded builtins
(`guards`), a fresh forked process per evaluation confined by rlimits, dropped
privileges and seccomp (`confine`, `child`), forked from warm parents (`zygote`)
that the host drives through a pool (`pool`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plue.sandbox.results import Evaluation, EvaluationError, EvaluationRequest, Limits

if TYPE_CHECKING:
    from plue.sandbox.pool import Evaluator, default_evaluator

__all__ = [
    "Evaluation",
    "EvaluationError",
    "EvaluationRequest",
    "Evaluator",
    "Limits",
    "default_evaluator",
]


def __getattr__(name: str) -> Any:
    # The host-side pool (threads, subprocess) is imported only by hosts: the warm
    # parents import this package too, and every megabyte they hold makes each fork dearer.
    if name in ("Evaluator", "default_evaluator"):
        from plue.sandbox import pool

        return getattr(pool, name)
    raise AttributeError(f"module 'plue.sandbox' has no attribute {name!r}")
