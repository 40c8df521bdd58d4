"""Events Plue makes itself: schedule ticks and manual runs."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from plue.events.errors import EventError, quote, type_name
from plue.events.github import (
    default_ref,
    split_ref,
)
from plue.events.model import (
    Event,
)
from plue.events.payloads import (
    REPOSITORY_RE,
    SHA_RE,
    plain_inputs,
    ref_problem,
)

# --- schedules and manual runs ----------------------------------------------


def normalize_cron(cron: str, what: str = "cron") -> str:
    """A 5-field cron expression with single spaces, or `EventError`."""
    if type(cron) is not str:
        raise EventError(f"{what} must be a string, not {type_name(cron)}")
    fields = cron.split()
    if len(fields) != 5:
        raise EventError(
            f"{what} {quote(cron, 60)} must have 5 fields (minute hour day month weekday), got {len(fields)}"
        )
    return " ".join(fields)


def schedule_event(
    cron: str,
    scheduled_at: datetime | str,
    repository: str | None = None,
    *,
    default_branch: str | None = None,
    tz: str | None = None,
) -> Event:
    """The event of a cron schedule firing: `cron` is the trigger's expression,
    `scheduled_at` the tick it fired for (timezone-aware, or ISO 8601 with an offset)."""
    expression = normalize_cron(cron)
    when = utc_iso(scheduled_at)
    repository = check_repository(repository)
    default_branch = check_branch(default_branch, "default_branch")
    if tz is not None and (type(tz) is not str or not tz.strip()):
        raise EventError("tz must be a time zone name such as 'Europe/Paris'")
    payload: dict[str, Any] = {"schedule": expression, "scheduled_at": when}
    if tz is not None:
        payload["tz"] = tz
    return Event(
        name="schedule",
        ref=default_ref(default_branch),
        branch=default_branch,
        repository=repository,
        default_branch=default_branch,
        schedule=expression,
        payload=payload,
    )


def utc_iso(value: datetime | str) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise EventError(f"scheduled_at {quote(value, 40)} is not an ISO 8601 time") from None
    if not isinstance(value, datetime):
        raise EventError(f"scheduled_at must be a datetime or ISO 8601 text, not {type_name(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise EventError("scheduled_at must carry a time zone (e.g. 2024-05-01T09:00:00Z)")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def manual_event(
    inputs: Mapping[str, Any] | None = None,
    actor: str | None = None,
    ref: str | None = None,
    *,
    sha: str | None = None,
    repository: str | None = None,
    default_branch: str | None = None,
) -> Event:
    """A run started by hand. `ref` is a full ref or a branch name (default: the default
    branch); `inputs` are the values given for the manual trigger's inputs."""
    given = plain_inputs(inputs or {}, "inputs")
    repository = check_repository(repository)
    default_branch = check_branch(default_branch, "default_branch")
    full_ref = manual_ref(ref, default_branch)
    branch, tag = split_ref(full_ref) if full_ref else (None, None)
    if sha is not None and (type(sha) is not str or not SHA_RE.match(sha)):
        raise EventError(f"sha {quote(sha, 50)} is not a commit SHA (40 or 64 hex digits)")
    if actor is not None and (type(actor) is not str or not actor.strip()):
        raise EventError("actor must be a user name")
    payload = {"inputs": copy.deepcopy(given), "ref": full_ref, "sha": sha, "actor": actor}
    return Event(
        name="manual",
        ref=full_ref,
        branch=branch,
        tag=tag,
        sha=sha,
        actor=actor,
        repository=repository,
        default_branch=default_branch,
        inputs=given,
        payload=payload,
    )


def manual_ref(ref: str | None, default_branch: str | None) -> str | None:
    if ref is None:
        return default_ref(default_branch)
    if type(ref) is not str:
        raise EventError(f"ref must be a string, not {type_name(ref)}")
    full = ref if ref.startswith("refs/") else "refs/heads/" + ref
    problem = ref_problem(full)
    if problem:
        raise EventError(f"ref {quote(ref, 60)} is not a valid git ref ({problem})")
    return full


def check_repository(repository: str | None) -> str | None:
    if repository is not None and (type(repository) is not str or not REPOSITORY_RE.match(repository)):
        raise EventError(f"repository must be 'owner/name', not {quote(repository, 60)}")
    return repository


def check_branch(branch: str | None, what: str) -> str | None:
    if branch is None:
        return None
    if type(branch) is not str or ref_problem("refs/heads/" + branch):
        raise EventError(f"{what} {quote(branch, 60)} is not a valid branch name")
    return branch
