"""The sandboxed evaluator: untrusted ``*.plue.py`` source in, plain plan data out.

Layers (see docs/sandbox.md): a restricted compiler (`policy`), guarded builtins
(`guards`), a fresh forked process per evaluation confined by rlimits, dropped
privileges and seccomp (`confine`, `child`), forked from warm parents (`zygote`)
that the host drives through a pool (`pool`).
"""

from plue.sandbox.pool import Evaluator, default_evaluator
from plue.sandbox.results import Evaluation, EvaluationError, EvaluationRequest, Limits

__all__ = [
    "Evaluation",
    "EvaluationError",
    "EvaluationRequest",
    "Evaluator",
    "Limits",
    "default_evaluator",
]
