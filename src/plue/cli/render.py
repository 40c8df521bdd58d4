"""How workflows look in the terminal: trigger summaries and the plan tree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from rich.tree import Tree

from plue.cli.output import clean, one_line, plain
from plue.plan import DEFAULT_ISSUE_COMMENT_TYPES, DEFAULT_PULL_REQUEST_TYPES, content_hash

TRIGGER_SEPARATOR = " · "


def summarize_triggers(triggers: Sequence[Mapping[str, Any]]) -> str:
    """E.g. ``push(main) · pull_request · schedule(0 3 * * *)``."""
    return TRIGGER_SEPARATOR.join(summarize_trigger(trigger) for trigger in triggers)


def summarize_trigger(trigger: Mapping[str, Any]) -> str:
    event = str(trigger.get("event"))
    args: list[str] = []
    if event == "push":
        args += _strings(trigger.get("branches"))
        args += [f"tag {tag}" for tag in _strings(trigger.get("tags"))]
    elif event == "pull_request":
        args += _non_default(trigger.get("types"), DEFAULT_PULL_REQUEST_TYPES)
        args += [f"into {branch}" for branch in _strings(trigger.get("branches"))]
    elif event == "issues":
        args += _strings(trigger.get("types"))
        args += [f"label {label}" for label in _strings(trigger.get("labels"))]
    elif event == "issue_comment":
        args += _non_default(trigger.get("types"), DEFAULT_ISSUE_COMMENT_TYPES)
        if trigger.get("contains"):
            args.append(f"contains {trigger['contains']!r}")
    elif event == "schedule":
        args.append(str(trigger.get("cron")))
        if trigger.get("tz") not in (None, "UTC"):
            args.append(str(trigger["tz"]))
    elif event == "manual":
        inputs = trigger.get("inputs")
        args += sorted(inputs) if isinstance(inputs, dict) else []
    if event in ("push", "pull_request"):
        args += [f"path {path}" for path in _strings(trigger.get("paths"))]
    return event + (f"({', '.join(args)})" if args else "")


def _strings(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _non_default(value: object, default: Sequence[str]) -> list[str]:
    items = _strings(value)
    return [] if sorted(items) == sorted(default) else items


def plan_tree(plan: Mapping[str, Any], path: str) -> Tree:
    """The plan as a tree: name, triggers, steps in dependency order."""
    # Imported here, like validation in the registry: `plue workflow list` served from
    # the cache never needs the validation package (~25 ms to import).
    from plue.validation.graph import topological_order

    title = plain(plan.get("name"), "bold")
    title.append(f"  {clean(path)} · {content_hash(plan)[:12]}", style="dim")
    tree = Tree(title)
    if plan.get("description"):
        tree.add(plain(one_line(str(plan["description"]))))
    triggers = tree.add(plain(f"triggers ({len(plan['triggers'])})", "bold"))
    for trigger in plan["triggers"]:
        triggers.add(plain(summarize_trigger(trigger)))
    if not plan["triggers"]:
        triggers.add(plain("none: the workflow only runs when started explicitly", "dim"))
    steps = tree.add(plain(f"steps ({len(plan['steps'])})", "bold"))
    for step in topological_order(plan["steps"]):
        steps.add(_step_line(step))
    return tree


def _step_line(step: Mapping[str, Any]) -> Text:
    line = plain(step["id"], "bold")
    if step.get("name"):
        line.append(f" ({clean(one_line(str(step['name'])))})")
    line.append(f"  {step['type']}", style="cyan")
    if step["depends_on"]:
        line.append(clean(f"  after {', '.join(step['depends_on'])}"), style="dim")
    if step.get("when", "on_success") != "on_success":
        line.append(f"  when {clean(step['when'])}", style="yellow")
    line.append("  " + clean(_step_detail(step)))
    return line


def _step_detail(step: Mapping[str, Any]) -> str:
    kind = step["type"]
    if kind == "bash":
        return "$ " + one_line(str(step.get("cmd", "")))
    if kind == "python":
        return f"file {step['file']}" if step.get("file") else "script: " + one_line(str(step.get("script", "")))
    if kind == "llm":
        if step.get("prompt_file"):
            return f"prompt_file {step['prompt_file']}"
        return "prompt: " + one_line(str(step.get("prompt", "")))
    return ""
