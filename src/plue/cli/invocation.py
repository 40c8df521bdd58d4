"""The event and inputs a command line describes (``--event-name``, ``--event``, ``--input``).

Everything wrong here is the command line's fault, so it is a `click.UsageError`
(exit code 2) with a message naming the option.

GitHub events (push, pull_request, issues, issue_comment) take the webhook body
as ``--event FILE`` (``-`` reads stdin). ``schedule`` and ``manual`` are not
webhooks: their optional ``--event FILE`` holds a JSON object of the arguments of
`schedule_event` / `manual_event` (e.g. ``{"cron": "0 3 * * *"}``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from plue.events import GITHUB_EVENTS, MAX_PAYLOAD_BYTES, Event, EventError, manual_event, parse_event, schedule_event
from plue.plan import INPUT_NAME_RE

SCHEDULE_ARGS = ("cron", "scheduled_at", "repository", "default_branch", "tz")
MANUAL_ARGS = ("inputs", "actor", "ref", "sha", "repository", "default_branch")


def parse_input_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``k=v`` strings -> {k: v}; the value may contain '=' and may be empty."""
    inputs: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not INPUT_NAME_RE.match(name):
            raise click.BadParameter(
                f"{pair[:60]!r} is not NAME=VALUE (NAME: letters, digits, '_' and '-')",
                param_hint="'--input'",
            )
        if name in inputs:
            raise click.BadParameter(f"input '{name}' is given twice", param_hint="'--input'")
        inputs[name] = value
    return inputs


def read_payload(path: str) -> bytes:
    """The bytes of ``--event FILE`` (``-``: stdin), refusing more than a webhook can hold."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_PAYLOAD_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(MAX_PAYLOAD_BYTES + 1)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint="'--event'") from None
    if len(data) > MAX_PAYLOAD_BYTES:
        raise click.BadParameter(f"{path} is larger than a webhook payload can be", param_hint="'--event'")
    return data


def build_event(
    name: str | None,
    payload_path: str | None,
    *,
    default_cron: Callable[[], str | None] = lambda: None,
) -> Event | None:
    """The event the options describe, or None when there is none.

    `default_cron` gives the cron of a schedule event whose payload does not name one
    (e.g. the workflow's own schedule trigger).
    """
    if name is None:
        if payload_path is not None:
            raise click.UsageError("--event needs --event-name (the X-GitHub-Event header of the payload)")
        return None
    payload = read_payload(payload_path) if payload_path is not None else None
    try:
        if name in GITHUB_EVENTS:
            if payload is None:
                raise click.UsageError(f"a {name} event needs its webhook payload: --event FILE")
            return parse_event(name, payload)
        if name == "schedule":
            args = _arguments(payload, payload_path, SCHEDULE_ARGS)
            args.setdefault("cron", default_cron())
            if args["cron"] is None:
                raise click.UsageError('a schedule event needs a cron: --event FILE with {"cron": "..."}')
            args.setdefault("scheduled_at", datetime.now(UTC).replace(second=0, microsecond=0))
            return schedule_event(**args)
        if name == "manual":
            return manual_event(**_arguments(payload, payload_path, MANUAL_ARGS))
        # parse_event words the refusal of an unknown event name.
        return parse_event(name, payload or b"{}")
    except EventError as exc:
        where = f"--event {payload_path}" if payload_path else f"--event-name {name}"
        raise click.BadParameter(str(exc), param_hint=f"'{where}'") from None


def _arguments(payload: bytes | None, path: str | None, accepted: Sequence[str]) -> dict[str, Any]:
    if payload is None:
        return {}
    path = "stdin" if path == "-" else path
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        raise click.BadParameter(f"{path} is not valid JSON", param_hint="'--event'") from None
    if not isinstance(data, Mapping):
        raise click.BadParameter(f"{path} must hold a JSON object", param_hint="'--event'")
    unknown = sorted(set(data) - set(accepted))
    if unknown:
        raise click.BadParameter(
            f"{path}: unknown key {unknown[0][:40]!r} (accepted: {', '.join(accepted)})",
            param_hint="'--event'",
        )
    return dict(data)
