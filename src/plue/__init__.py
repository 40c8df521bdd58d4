"""Plue: workflows written in Python, evaluated in a sandbox, executed as DAGs."""

from plue.plan import Plan, PlanError, Step, Trigger

__version__ = "0.1.0"

__all__ = ["Plan", "PlanError", "Step", "Trigger", "__version__"]
