# ctx: push
from __future__ import annotations

from plue import Plan, Step, Trigger

RETRIES: int = 2
targets: list[str] = ["linux", "macos"]
pending: dict[str, list[str]]


def build(target: str, *, flags: list[str] | None = None) -> Step:
    extra: str = " ".join(flags or [])
    return Step.bash(f"build-{target}", f"make {target} {extra}".strip(), retries=RETRIES)


def workflow(ctx) -> Plan:
    steps: list[Step] = [build(t) for t in targets]
    steps.append(build("docs", flags=["-j2"]))
    return Plan("hints", steps=steps, triggers=[Trigger.on_push(branch="main")])
