"""Events that start workflows — GitHub webhooks, schedules, manual runs — and trigger matching.

Floor 1: imports nothing of plue but `plue.plan`.

    event = parse_event("push", body)            # X-GitHub-Event header, JSON body
    match = match_triggers(plan_data["triggers"], event)
    if match:
        ctx = build_context_data(event)
    print(match.reason)
"""

from plue.events.errors import EventError
from plue.events.github import parse_event
from plue.events.globs import Pattern, PatternFilter, compile_filter, compile_pattern
from plue.events.matching import (
    Match,
    TriggerSpec,
    check_trigger,
    match_trigger,
    match_triggers,
    parse_trigger,
)
from plue.events.model import (
    EVENT_NAMES,
    GITHUB_EVENTS,
    Event,
    IssueInfo,
    PullRequestInfo,
    build_context_data,
)
from plue.events.payloads import MAX_PAYLOAD_BYTES, load_payload
from plue.events.synthetic import manual_event, normalize_cron, schedule_event

__all__ = [
    "EVENT_NAMES",
    "GITHUB_EVENTS",
    "MAX_PAYLOAD_BYTES",
    "Event",
    "EventError",
    "IssueInfo",
    "Match",
    "Pattern",
    "PatternFilter",
    "PullRequestInfo",
    "TriggerSpec",
    "build_context_data",
    "check_trigger",
    "compile_filter",
    "compile_pattern",
    "load_payload",
    "manual_event",
    "match_trigger",
    "match_triggers",
    "normalize_cron",
    "parse_event",
    "parse_trigger",
    "schedule_event",
]
