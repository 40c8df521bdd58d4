"""Argument checking shared by the authoring API: `PlanError`, the `api` decorator
that names the call in binding errors, and the normalisers that turn what authors
pass (a name or a list, seconds or "5m", …) into canonical plain data."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

STEP_ID_PATTERN = r"[a-z0-9][a-z0-9_-]*"
STEP_ID_RE = re.compile(STEP_ID_PATTERN + r"\Z")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
INPUT_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
DURATION_RE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")

# Bounds that keep a plan a reasonable size for a human-written workflow.
MAX_RETRIES = 100
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
CONCURRENCY_KEYS = ("group", "cancel_in_progress")
MAX_ATTEMPTS = 10
MAX_LABELS = 32
LABEL_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}"
LABEL_RE = re.compile(LABEL_PATTERN + r"\Z")


# Only the checked constructors hold this token: `Step({...})` with a hand-made dict is refused.
CONSTRUCT = object()


class PlanError(ValueError):
    """A plan was built with wrong arguments; the message says what to fix."""


F = TypeVar("F", bound=Callable[..., Any])


def api(qualname: str) -> Callable[[F], F]:
    """Turn argument-binding `TypeError`s into `PlanError`s naming the call.

    Python's own messages mention positional counts and internals; authors need
    the call name, the wrong argument, and the accepted ones.
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        params = [p for p in signature.parameters if p not in ("cls", "self")]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except TypeError as exc:
                # Only a binding error has no frame below this one; others are real errors.
                if exc.__traceback__ is None or exc.__traceback__.tb_next is not None:
                    raise
                text = str(exc)
            missing = re.search(
                r"missing (?:\d+ )?required (?:positional |keyword-only )?"
                r"arguments?: '(\w+)'",
                text,
            )
            unexpected = re.search(r"unexpected keyword argument '(\w+)'", text)
            accepted = ", ".join(params)
            if missing:
                raise PlanError(f"{qualname}(): missing required argument '{missing.group(1)}'")
            if unexpected:
                raise PlanError(f"{qualname}(): unknown argument '{unexpected.group(1)}' (accepted: {accepted})")
            if "positional argument" in text:
                raise PlanError(
                    f"{qualname}(): too many positional arguments; pass options by name (accepted: {accepted})"
                )
            raise PlanError(f"{qualname}(): {text.split('() ', 1)[-1]}")

        return wrapper  # type: ignore[return-value]

    return decorate


# --- argument normalisers -------------------------------------------------


def shown(value: object) -> str:
    """A value for an error message: plain scalars quoted (bounded), anything else by type.

    Never ``str()`` of an arbitrary object: its repr may hold a memory address, which
    would leak into messages (and, caught in workflow code, into plans).
    """
    if type(value) is str:
        return repr(value[:40])
    if value is None or type(value) in (int, bool):
        return repr(value)
    return f"a {type_name(value)}"


def type_name(value: object) -> str:
    return type(value).__name__


def require_str(value: object, what: str, *, empty_ok: bool = False) -> str:
    if type(value) is not str:
        raise PlanError(f"{what} must be a string, not {type_name(value)}")
    if not empty_ok and not value.strip():
        raise PlanError(f"{what} must not be empty")
    return value


def optional_str(value: object, what: str) -> str | None:
    return None if value is None else require_str(value, what)


def str_list(value: object, what: str) -> list[str]:
    """A name, a glob, or a list of them -> list of strings."""
    if type(value) is str:
        return [require_str(value, what)]
    if type(value) in (list, tuple):
        items = [require_str(item, f"each item of {what}") for item in value]  # type: ignore[attr-defined]
        if not items:
            raise PlanError(f"{what} must not be an empty list; leave it out to match everything")
        return items
    raise PlanError(f"{what} must be a string or a list of strings, not {type_name(value)}")


def optional_str_list(value: object, what: str) -> list[str] | None:
    return None if value is None else str_list(value, what)


def choice_list(value: object, what: str, allowed: Sequence[str], default: Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None if default is None else list(default)
    items = str_list(value, what)
    for item in items:
        if item not in allowed:
            raise PlanError(f"{what}: unknown type '{item}' (expected one of: {', '.join(allowed)})")
    return dedupe(items)


def dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def duration(value: object, what: str) -> int | None:
    """Whole seconds, or a duration such as '90s', '5m', '1h30m' -> seconds."""
    if value is None:
        return None
    if type(value) is int:
        seconds = value
    elif type(value) is str:
        match = DURATION_RE.match(value.strip())
        if not value.strip() or match is None:
            raise PlanError(f"{what}: '{value[:40]}' is not a duration (use seconds, or e.g. '90s', '5m', '1h30m')")
        hours, minutes, secs = (int(part or 0) for part in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise PlanError(f"{what} must be whole seconds or a duration like '5m', not {type_name(value)}")
    if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        raise PlanError(f"{what} must be between 1 second and 7 days, got {seconds}s")
    return seconds


def concurrency_spec(value: object, what: str) -> dict[str, Any] | None:
    """A group name, or `{"group": ..., "cancel_in_progress": ...}` -> the canonical dict (or None)."""
    if value is None:
        return None
    if type(value) is str:
        return {"group": require_str(value, f"{what} group"), "cancel_in_progress": False}
    if type(value) is not dict:
        hint = "a group name or a dict with 'group' and 'cancel_in_progress'"
        raise PlanError(f"{what} must be {hint}, not {type_name(value)}")
    for key in value:
        if key not in CONCURRENCY_KEYS:
            raise PlanError(f"{what}: unknown key {shown(key)} (accepted: {', '.join(CONCURRENCY_KEYS)})")
    if "group" not in value:
        raise PlanError(f"{what}: 'group' is required, e.g. {{'group': 'deploy-' + ctx.event.branch}}")
    cancel = value.get("cancel_in_progress", False)
    if type(cancel) is not bool:
        raise PlanError(f"{what}: cancel_in_progress must be True or False, not {type_name(cancel)}")
    return {"group": require_str(value["group"], f"{what}: group"), "cancel_in_progress": cancel}


def runner_labels(value: object, what: str) -> list[str]:
    """A label or a list of them -> the sorted, de-duplicated list (empty: any runner)."""
    if value is None:
        return []
    items: object = [value] if type(value) is str else value
    if not isinstance(items, (list, tuple)):
        raise PlanError(f"{what} must be a label or a list of labels, e.g. ['linux', 'gpu'], not {type_name(value)}")
    labels: set[str] = set()
    for item in items:
        if type(item) is not str or not LABEL_RE.match(item):
            raise PlanError(
                f"{what}: {shown(item)} is not a runner label (letters, digits and _ . : / -, up to 63 characters)"
            )
        labels.add(item)
    if len(labels) > MAX_LABELS:
        raise PlanError(f"{what}: at most {MAX_LABELS} labels")
    return sorted(labels)


def attempts_count(value: object, what: str) -> int:
    if type(value) is not int or not 1 <= value <= MAX_ATTEMPTS:
        raise PlanError(f"{what} must be a whole number from 1 to {MAX_ATTEMPTS}, not {shown(value)}")
    return value


def env_vars(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise PlanError(f"{what} must be a dict of NAME: value, not {type_name(value)}")
    env: dict[str, str] = {}
    for key, item in value.items():
        if type(key) is not str or not ENV_NAME_RE.match(key):
            raise PlanError(f"{what}: {shown(key)} is not a valid variable name (letters, digits, _)")
        if type(item) is str:
            env[key] = item
        elif type(item) is bool:
            env[key] = "true" if item else "false"
        elif type(item) is int:
            env[key] = str(item)
        else:
            raise PlanError(f"{what}['{key}'] must be a string, int or bool, not {type_name(item)}")
    return env


def plain_copy(value: object, what: str, depth: int = 0) -> Any:
    """Copy JSON-like data exactly (str/int/bool/None/finite float/list/dict)."""
    if depth > 32:
        raise PlanError(f"{what} is nested too deeply (more than 32 levels)")
    kind = type(value)
    if value is None or kind in (str, int, bool):
        return value
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise PlanError(f"{what} contains a non-finite number")
        return value
    if kind in (list, tuple):
        return [plain_copy(item, what, depth + 1) for item in value]  # type: ignore[attr-defined]
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                raise PlanError(f"{what} has a non-string key ({type_name(key)}); use string keys")
            out[key] = plain_copy(item, what, depth + 1)
        return out
    raise PlanError(f"{what} must hold only strings, numbers, booleans, None, lists and dicts, not {kind.__name__}")
