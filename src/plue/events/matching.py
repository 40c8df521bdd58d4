"""Does an event start a workflow? Matching events against trigger data from `plue.plan`.

The rules follow GitHub Actions where the two overlap:

- push: `branches` and `tags` filters; with only `branches`, tag pushes never match; with
  only `tags`, branch pushes never match; with neither, every push matches. `paths`
  matches when at least one changed file passes. Path filters are not evaluated for tag
  pushes. When the changed files are unknown, `paths` is not applied and the push
  matches (GitHub runs the workflow when it cannot compute the diff); when no file
  changed it does not match. Deleting a branch or tag is a push too: it matches
  branch/tag filters as on GitHub (the event has ``deleted=True`` and ``sha=None``), but
  never a `paths` filter on a branch, since a deletion changes no files.
- pull_request: `types` (default opened, synchronize, reopened) against the action;
  `branches` against the base branch; `paths` as for push.
- issues: `types` (default: all); `labels` matches if the issue carries any of them,
  compared case-insensitively as GitHub does; for `labeled`/`unlabeled` the label just
  added or removed counts.
- issue_comment: `types` (default created); `contains` is a case-sensitive substring of
  the comment body. Comments on pull requests are issue comments too.
- schedule: the cron that fired equals the trigger's (whitespace normalised), and so
  does the time zone when the event names one.
- manual: any manual trigger.

Invalid trigger data (unknown keys, bad patterns, a pattern list with only ``!``
patterns, ...) raises `EventError`; `check_trigger` finds these up front.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from plue.events.errors import EventError, quote, type_name
from plue.events.globs import PatternFilter, compile_filter
from plue.events.model import LABEL_ACTIONS, Event
from plue.events.synthetic import normalize_cron
from plue.plan import (
    DEFAULT_ISSUE_COMMENT_TYPES,
    DEFAULT_PULL_REQUEST_TYPES,
    ISSUE_COMMENT_TYPES,
    ISSUE_TYPES,
    PULL_REQUEST_TYPES,
    Trigger,
)

TRIGGER_KEYS: dict[str, tuple[str, ...]] = {
    "push": ("branches", "tags", "paths"),
    "pull_request": ("types", "branches", "paths"),
    "issues": ("types", "labels"),
    "issue_comment": ("types", "contains"),
    "schedule": ("cron", "tz"),
    "manual": ("inputs",),
}
ALLOWED_TYPES = {
    "pull_request": PULL_REQUEST_TYPES,
    "issues": ISSUE_TYPES,
    "issue_comment": ISSUE_COMMENT_TYPES,
}
DEFAULT_TYPES: dict[str, tuple[str, ...] | None] = {
    "pull_request": DEFAULT_PULL_REQUEST_TYPES,
    "issues": None,
    "issue_comment": DEFAULT_ISSUE_COMMENT_TYPES,
}
MAX_REASON = 600
MAX_SHOWN = 6


class Match(NamedTuple):
    """Whether an event matched, and a short sentence saying why (for ``plue workflow match``).

    It is falsy when the event did not match, so ``if match_trigger(...)`` reads right.
    """

    matched: bool
    reason: str

    def __bool__(self) -> bool:
        return self.matched


@dataclass(frozen=True, kw_only=True)
class TriggerSpec:
    """Trigger data, checked, with defaults applied and patterns compiled."""

    event: str
    branches: PatternFilter | None = None
    tags: PatternFilter | None = None
    paths: PatternFilter | None = None
    types: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    contains: str | None = None
    cron: str | None = None
    tz: str = "UTC"


# --- reading trigger data ---------------------------------------------------


def parse_trigger(trigger: Mapping[str, Any] | Trigger) -> TriggerSpec:
    """Check trigger data (or a `Trigger`) and compile it; raises `EventError` if invalid."""
    data = trigger.to_data() if isinstance(trigger, Trigger) else trigger
    if not isinstance(data, Mapping):
        raise EventError(f"a trigger must be a mapping, not {type_name(data)}")
    kind = data.get("event")
    if type(kind) is not str or kind not in TRIGGER_KEYS:
        raise EventError(f"trigger event {quote(kind, 40)} is not one of: {', '.join(TRIGGER_KEYS)}")
    unknown = sorted(str(key) for key in data if key != "event" and key not in TRIGGER_KEYS[kind])
    if unknown:
        accepted = ", ".join(TRIGGER_KEYS[kind])
        raise EventError(f"{kind} trigger: unknown key {quote(unknown[0], 40)} (accepted: {accepted})")
    where = f"{kind} trigger"
    if kind == "schedule":
        return _schedule_spec(data, where)
    if kind == "manual":
        if data.get("inputs") is not None and not isinstance(data.get("inputs"), Mapping):
            raise EventError(f"{where}: inputs must be a mapping")
        return TriggerSpec(event=kind)
    return TriggerSpec(
        event=kind,
        branches=_filter(data, "branches", where),
        tags=_filter(data, "tags", where),
        paths=_filter(data, "paths", where),
        types=_types(data, kind, where),
        labels=_strings(data, "labels", where),
        contains=_text(data, "contains", where),
    )


def check_trigger(trigger: Mapping[str, Any] | Trigger) -> None:
    """Raise `EventError` if the trigger data could not be matched (bad pattern, bad key...)."""
    parse_trigger(trigger)


def _schedule_spec(data: Mapping[str, Any], where: str) -> TriggerSpec:
    cron = data.get("cron")
    if cron is None:
        raise EventError(f"{where}: cron is missing")
    tz = _text(data, "tz", where)
    return TriggerSpec(event="schedule", cron=normalize_cron(cron, f"{where}: cron"), tz=tz or "UTC")


def _strings(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if type(value) is str:
        value = [value]
    if type(value) not in (list, tuple) or not value:
        raise EventError(f"{where}: {key} must be a non-empty list of strings or null")
    for item in value:
        if type(item) is not str or not item:
            raise EventError(f"{where}: {key} must hold non-empty strings, not {quote(item, 40)}")
    return tuple(value)


def _filter(data: Mapping[str, Any], key: str, where: str) -> PatternFilter | None:
    patterns = _strings(data, key, where)
    return None if patterns is None else compile_filter(patterns, f"{where}: {key}")


def _types(data: Mapping[str, Any], kind: str, where: str) -> tuple[str, ...] | None:
    types = _strings(data, "types", where)
    if types is None:
        return DEFAULT_TYPES.get(kind)
    for name in types:
        if name not in ALLOWED_TYPES[kind]:
            raise EventError(f"{where}: unknown type {quote(name, 40)}")
    return types


def _text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and (type(value) is not str or not value):
        raise EventError(f"{where}: {key} must be a non-empty string or null")
    return value


# --- matching -----------------------------------------------------------------


def match_trigger(trigger: Mapping[str, Any] | Trigger, event: Event) -> Match:
    """Whether `event` matches one trigger (plain trigger data or a `Trigger`), and why."""
    spec = parse_trigger(trigger)
    _check_event(event)
    return _match(spec, event)


def match_triggers(triggers: Sequence[Mapping[str, Any] | Trigger], event: Event) -> Match:
    """Whether `event` matches any of a workflow's triggers: the first match wins;
    otherwise the reasons of the triggers for this kind of event, joined."""
    if isinstance(triggers, str | bytes | Mapping) or not isinstance(triggers, Sequence):
        raise EventError(f"triggers must be a list of triggers, not {type_name(triggers)}")
    specs = [parse_trigger(trigger) for trigger in triggers]
    _check_event(event)
    if not specs:
        return Match(False, "the workflow has no triggers")
    reasons = []
    for number, spec in enumerate(specs, start=1):
        if spec.event != event.name:
            continue
        result = _match(spec, event)
        if result.matched:
            return result
        reasons.append((number, result.reason))
    if not reasons:
        return Match(False, f"no trigger for event '{event.name}'")
    if len(reasons) == 1:
        return Match(False, reasons[0][1])
    return Match(False, _clip("; ".join(f"trigger {n}: {reason}" for n, reason in reasons)))


def _check_event(event: Event) -> None:
    if not isinstance(event, Event):
        raise EventError(f"event must be an Event, not {type_name(event)}")


def _match(spec: TriggerSpec, event: Event) -> Match:
    if spec.event != event.name:
        return Match(False, f"no trigger for event '{event.name}' (this one is for '{spec.event}')")
    matcher = _MATCHERS[spec.event]
    result = matcher(spec, event)
    return Match(result.matched, _clip(result.reason))


def _match_push(spec: TriggerSpec, event: Event) -> Match:
    ref_match = _push_ref(spec, event)
    if not ref_match.matched or spec.paths is None:
        return _with_deletion_note(ref_match, event)
    if event.tag is not None:
        return _with_deletion_note(Match(True, f"{ref_match.reason}; paths are not evaluated for tag pushes"), event)
    if event.deleted:
        return Match(
            False,
            f"{ref_match.reason}, but a deletion changes no files, so paths {_show(spec.paths.texts)} cannot match",
        )
    return _and_paths(ref_match, spec.paths, event.changed_files)


def _push_subject(event: Event) -> str:
    """E.g. "push to branch main", "push of tag v1", "push deleting branch x"."""
    if event.branch is not None:
        kind, name, verb = "branch", event.branch, "push to"
    elif event.tag is not None:
        kind, name, verb = "tag", event.tag, "push of"
    else:
        return f"push to {_name(event.ref or 'an unknown ref')}"
    return f"{'push deleting' if event.deleted else verb} {kind} {_name(name)}"


def _push_ref(spec: TriggerSpec, event: Event) -> Match:
    subject = _push_subject(event)
    if spec.branches is None and spec.tags is None:
        return Match(True, f"{subject} (any branch or tag)")
    if event.branch is not None:
        if spec.branches is None:
            return Match(False, f"{subject} does not match: the trigger lists only tags")
        return _decide(spec.branches, event.branch, subject, "branch", "branches")
    if event.tag is not None:
        if spec.tags is None:
            return Match(False, f"{subject} does not match: the trigger lists only branches")
        return _decide(spec.tags, event.tag, subject, "tag", "tags")
    return Match(False, f"{subject} is neither a branch nor a tag, so branch and tag filters fail")


def _with_deletion_note(result: Match, event: Event) -> Match:
    if result.matched and event.deleted:
        return Match(True, f"{result.reason} (a deletion: there is no commit, sha is None)")
    return result


def _decide(patterns: PatternFilter, name: str, subject: str, noun: str, filter_name: str) -> Match:
    decision = patterns.decide(name)
    if decision.included:
        return Match(True, f"{subject} matches {quote(decision.pattern)}")
    if decision.pattern is not None:
        return Match(False, f"{noun} {_name(name)} is excluded by {quote(decision.pattern)}")
    return Match(False, f"{noun} {_name(name)} does not match {filter_name} {_show(patterns.texts)}")


def _and_paths(first: Match, paths: PatternFilter, files: tuple[str, ...] | None) -> Match:
    """Combine a matched ref/branch reason with the `paths` filter over the changed files."""
    shown = _show(paths.texts)
    if files is None:
        return Match(
            True,
            f"{first.reason}; the changed files are unknown, so paths {shown} could not be"
            " applied (GitHub runs the workflow when it cannot compute the diff)",
        )
    if not files:
        return Match(False, f"{first.reason}, but no files changed, so paths {shown} cannot match")
    for path in files:
        decision = paths.decide(path)
        if decision.included:
            return Match(
                True,
                f"{first.reason} and changed file {_name(path)} matches {quote(decision.pattern)}",
            )
    last = paths.decide(files[0])
    if len(files) == 1 and last.pattern is not None:
        tail = f"the changed file {_name(files[0])} is excluded by {quote(last.pattern)}"
    elif len(files) == 1:
        tail = f"the changed file {_name(files[0])} does not match paths {shown}"
    else:
        tail = f"none of the {len(files)} changed files ({_show(files)}) matches paths {shown}"
    return Match(False, f"{first.reason}, but {tail}")


def _match_pull_request(spec: TriggerSpec, event: Event) -> Match:
    types_match = _check_types(spec, event, "pull_request")
    if types_match is not None:
        return types_match
    base = event.pull_request.base_ref if event.pull_request is not None else None
    subject = f"pull_request {event.action}" + (f" into {_name(base)}" if base else "")
    if spec.branches is None:
        first = Match(True, f"{subject} (any base branch)")
    elif base is None:
        return Match(False, f"{subject} has no base branch, so branches cannot match")
    else:
        first = _decide(spec.branches, base, subject, "base branch", "branches")
    if not first.matched or spec.paths is None:
        return first
    return _and_paths(first, spec.paths, event.changed_files)


def _check_types(spec: TriggerSpec, event: Event, kind: str) -> Match | None:
    """A non-match if the event's action is not in the trigger's types, else None."""
    if spec.types is None or event.action in spec.types:
        return None
    return Match(False, f"{kind} action {quote(event.action)} is not in types {_show(spec.types)}")


def _match_issues(spec: TriggerSpec, event: Event) -> Match:
    types_match = _check_types(spec, event, "issues")
    if types_match is not None:
        return types_match
    issue = f"issue #{event.issue.number}" if event.issue is not None else "the issue"
    subject = f"issues {event.action} on {issue}"
    if spec.labels is None:
        return Match(True, f"{subject} (any action)" if spec.types is None else subject)
    found = _label_hit(spec.labels, event)
    if found is not None:
        return Match(True, f"{subject}: {found}")
    carried = f"it has {_show(list(event.labels))}" if event.labels else "it has no labels"
    return Match(False, f"{issue} has none of the labels {_show(spec.labels)} ({carried})")


def _label_hit(wanted: tuple[str, ...], event: Event) -> str | None:
    """How the event carries one of the `wanted` labels (case-insensitive), or None."""
    folded = {name.casefold() for name in wanted}
    if event.label is not None and event.action in LABEL_ACTIONS and event.label.casefold() in folded:
        change = "added" if event.action == "labeled" else "removed"
        return f"label {quote(event.label)} was just {change}"
    for label in event.labels:
        if label.casefold() in folded:
            return f"it has label {quote(label)}"
    return None


def _match_issue_comment(spec: TriggerSpec, event: Event) -> Match:
    types_match = _check_types(spec, event, "issue_comment")
    if types_match is not None:
        return types_match
    target = "the issue"
    if event.issue is not None:
        kind = "pull request" if event.issue.is_pull_request else "issue"
        target = f"{kind} #{event.issue.number}"
    subject = f"issue_comment {event.action} on {target}"
    if spec.contains is None:
        return Match(True, f"{subject} (any comment)")
    if event.comment_body is not None and spec.contains in event.comment_body:
        return Match(True, f"{subject} contains {quote(spec.contains)}")
    return Match(False, f"comment on {target} does not contain {quote(spec.contains)}")


def _match_schedule(spec: TriggerSpec, event: Event) -> Match:
    fired = event.schedule
    if fired != spec.cron:
        return Match(False, f"schedule fired for cron {quote(fired)}, not this trigger's {quote(spec.cron)}")
    event_tz = event.payload.get("tz")
    if event_tz is not None and event_tz != spec.tz:
        return Match(
            False,
            f"schedule {quote(fired)} fired in time zone {quote(event_tz)}, this trigger uses {quote(spec.tz)}",
        )
    return Match(True, f"schedule {quote(fired)} matches this trigger's cron")


def _match_manual(spec: TriggerSpec, event: Event) -> Match:
    return Match(True, "a manual run matches the manual trigger")


_MATCHERS = {
    "push": _match_push,
    "pull_request": _match_pull_request,
    "issues": _match_issues,
    "issue_comment": _match_issue_comment,
    "schedule": _match_schedule,
    "manual": _match_manual,
}


# --- wording -----------------------------------------------------------------


def _name(text: str) -> str:
    """A branch, tag or path as shown in a reason: bare, but cut if very long."""
    return text if len(text) <= 80 else text[:76] + "…" + text[-3:]


def _show(items: Sequence[str]) -> str:
    """A short list for a reason: "['main', 'dev']", or the first few and "+N more"."""
    shown = ", ".join(quote(item, 60) for item in items[:MAX_SHOWN])
    if len(items) > MAX_SHOWN:
        shown += f", … +{len(items) - MAX_SHOWN} more"
    return f"[{shown}]"


def _clip(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"
