"""Trigger checks the schema cannot express: cron, time zones, manual inputs, duplicates."""

from __future__ import annotations

import functools
import json
from typing import Any, Final
from zoneinfo import ZoneInfo

from plue.validation.report import TYPE_NAMES, Report, field_text, kind_of, show

_INPUT_FITS: Final[dict[str, tuple[type, ...]]] = {
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "choice": (str,),
}


def check_triggers(data: dict[str, Any], report: Report) -> None:
    triggers = data.get("triggers")
    if type(triggers) is not list:
        return
    by_event: dict[str, list[int]] = {}
    for index, trigger in enumerate(triggers):
        if type(trigger) is not dict:
            continue
        event = trigger.get("event")
        if event == "schedule":
            _check_schedule(index, trigger, report)
        elif event == "manual" and type(trigger.get("inputs")) is dict:
            for name, spec in trigger["inputs"].items():
                if type(spec) is dict:
                    _check_manual_input(index, field_text(["inputs", name]), spec, report)
        if type(event) is str:
            by_event.setdefault(event, []).append(index)
    for indexes in by_event.values():
        if len(indexes) > 1:  # only repeated events can hold duplicates; serialising is not free
            _check_duplicate_triggers([(index, triggers[index]) for index in indexes], report)


_SORTED_JSON: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _check_duplicate_triggers(triggers: list[tuple[int, dict[str, Any]]], report: Report) -> None:
    seen: dict[str, int] = {}
    for index, trigger in triggers:
        key = _SORTED_JSON.encode(trigger)  # JSON, not ==: True == 1 in Python
        if key in seen:
            report.add("triggers", index, f"this trigger is the same as triggers[{seen[key]}]; remove one")
        seen.setdefault(key, index)


def _check_schedule(index: int, trigger: dict[str, Any], report: Report) -> None:
    cron, tz = trigger.get("cron"), trigger.get("tz")
    if type(cron) is str and cron.strip():
        fields = cron.split()
        if len(fields) != 5:
            report.add(
                "triggers",
                index,
                f"cron {show(cron)} must have 5 fields (minute hour day month weekday), not {len(fields)}",
            )
        elif not _cron_is_valid(cron):
            report.add("triggers", index, f"cron {show(cron)} is not a valid cron expression")
    if type(tz) is str and tz.strip() and not _zone_exists(tz):
        hint = report.suggest(tz, sorted(_zone_names())) if len(tz) <= 64 else ""
        report.add("triggers", index, f"tz {show(tz)} is not a known IANA time zone{hint}")


@functools.lru_cache(maxsize=4096)  # croniter takes ~80 us; the same crons come back every scan
def _cron_is_valid(cron: str) -> bool:
    from croniter import croniter  # only plans with a schedule need it (30 ms to import)

    try:
        return bool(croniter.is_valid(cron))
    except Exception:  # croniter raises assorted errors on odd input
        return False


def _zone_exists(tz: str) -> bool:
    try:
        ZoneInfo(tz)
    except Exception:  # zoneinfo raises KeyError, ValueError, OSError, ...
        return False
    return True


@functools.cache
def _zone_names() -> frozenset[str]:
    # Only on the error path: listing the zone database reads the disk.
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def _check_manual_input(index: int, name: str, spec: dict[str, Any], report: Report) -> None:
    kind, default, options = spec.get("type"), spec.get("default"), spec.get("options")
    if type(kind) is not str:
        return  # the schema reported it
    if kind == "choice" and options is None:
        report.add("triggers", index, f"{name} is a choice input without options; add options=[...]")
    elif kind != "choice" and options is not None:
        report.add("triggers", index, f"{name} has options, which only a 'choice' input may have")
    if default is None or kind not in _INPUT_FITS:
        return
    if type(default) not in _INPUT_FITS[kind]:
        report.add(
            "triggers",
            index,
            f"{name}: the default {kind_of(default)} does not fit type {kind!r};"
            f" give {TYPE_NAMES.get(kind, 'a string')} or null",
        )
    elif kind == "choice" and type(options) is list and default not in options:
        report.add("triggers", index, f"{name}: the default {show(default)} is not one of the options")
