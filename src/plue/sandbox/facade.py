"""What workflow code is given: the ``plue`` facade, and the kinds of values the guards know."""

from __future__ import annotations

from plue.plan import Plan, PlanError, Step, Trigger
from plue.sandbox.context import ReadOnly


class SandboxViolation(Exception):
    """Workflow code tried something the sandbox does not allow."""


class PlueFacade:
    """What ``import plue`` gives workflow code: the authoring API and nothing else.

    Never the real package: plain attributes of real modules lead to ``os``.
    """

    __slots__ = ()
    Plan = Plan
    Step = Step
    Trigger = Trigger
    PlanError = PlanError
    _public_attrs = frozenset({"Plan", "Step", "Trigger", "PlanError"})

    def __repr__(self) -> str:
        return "<plue>"


FACADE = PlueFacade()

PLAIN_TYPES: tuple[type, ...] = (
    type(None), bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset, range,
)  # fmt: skip
CONTAINER_TYPES = (list, tuple, set, frozenset)
FACADE_TYPES: tuple[type, ...] = (Plan, Step, Trigger, PlueFacade, ReadOnly)
FACADE_CLASSES = frozenset({Plan, Step, Trigger})


def kind_of(value: object) -> str:
    if type(value) is PlueFacade:
        return "the plue module"
    if callable(value) and not isinstance(value, type):
        return "a function"
    return f"a {type(value).__name__}"
