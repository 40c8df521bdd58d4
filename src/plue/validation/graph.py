"""The step graph: ids, ``depends_on``, cycles, ancestors, and a topological order."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from plue.validation.report import Report, id_text, show


@dataclass
class Steps:
    """The plan's steps as far as they are readable, by position."""

    items: list[dict[str, Any] | None]  # None where the step is not an object
    ids: list[str | None]  # None where the id is missing or not a string
    first: dict[str, int]  # id -> the first position that uses it
    edges: list[list[int]] = field(default_factory=list)  # position -> its dependencies
    _components: list[list[int]] | None = None

    def components(self) -> list[list[int]]:
        """Strongly connected components of the dependency graph, dependencies first."""
        if self._components is None:
            # Usual case: every step lists only earlier steps, so plan order is a topological order.
            if all(dep < node for node, deps in enumerate(self.edges) for dep in deps):
                self._components = [[node] for node in range(len(self.edges))]
            else:
                self._components = _components(self.edges)
        return self._components


def index_steps(data: dict[str, Any]) -> Steps:
    raw = data.get("steps")
    items = [s if type(s) is dict else None for s in raw] if type(raw) is list else []
    ids = [s.get("id") if s is not None and type(s.get("id")) is str else None for s in items]
    first: dict[str, int] = {}
    for index, step_id in enumerate(ids):
        if step_id is not None:
            first.setdefault(step_id, index)
    return Steps(items, ids, first, [[] for _ in items])


def check_ids(steps: Steps, report: Report) -> None:
    for index, step_id in enumerate(steps.ids):
        if step_id is not None and steps.first[step_id] != index:
            report.add(
                "steps",
                index,
                f"step id {show(step_id)} is also used by steps[{steps.first[step_id]}]; step ids must be unique",
            )


def check_depends_on(steps: Steps, report: Report) -> None:
    """Report bad entries and fill `steps.edges` with the good ones."""
    known = list(steps.first)
    for index, step in enumerate(steps.items):
        deps = step.get("depends_on") if step is not None else None
        if type(deps) is not list:
            continue
        for dep in deps:
            if type(dep) is not str:
                continue
            if dep == steps.ids[index]:
                report.add("steps", index, f"depends_on lists the step itself ({show(dep)}); remove it")
            elif dep not in steps.first:
                hint = report.suggest(dep, known)
                report.add("steps", index, f"depends_on names {show(dep)}, but no step has that id{hint}")
            else:
                steps.edges[index].append(steps.first[dep])


def check_cycles(steps: Steps, report: Report) -> None:
    for component in steps.components():
        if len(component) < 2:
            continue
        members = set(component)
        start = min(component)  # the cycle's first step in plan order
        cycle = _shortest_cycle(start, steps.edges, members)
        names = [id_text(steps.ids[i] or f"steps[{i}]") for i in cycle]
        shown = names if len(names) <= 8 else [*names[:4], f"… {len(names) - 7} more …", *names[-3:]]
        others = len(members) - len(cycle)
        more = f"; {others} more steps are caught in the same loop" if others else ""
        report.add(
            "steps",
            start,
            f"dependency cycle: {' -> '.join([*shown, names[0]])} (each step depends on the next);"
            f" remove one of these dependencies{more}",
        )


def _components(edges: list[list[int]]) -> list[list[int]]:
    """Strongly connected components (Tarjan, iterative), dependencies first."""
    order = [-1] * len(edges)
    low = [0] * len(edges)
    on_stack = [False] * len(edges)
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for root in range(len(edges)):
        if order[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            node, next_edge = work[-1]
            if order[node] == -1:
                order[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            if next_edge < len(edges[node]):
                work[-1] = (node, next_edge + 1)
                target = edges[node][next_edge]
                if order[target] == -1:
                    work.append((target, 0))
                elif on_stack[target]:
                    low[node] = min(low[node], order[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == order[node]:
                component: list[int] = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found


def _shortest_cycle(start: int, edges: list[list[int]], members: set[int]) -> list[int]:
    """The shortest path start -> ... -> start inside one component (breadth first)."""
    came_from: dict[int, int] = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in edges[node]:
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return path[::-1]
            if target in members and target not in came_from:
                came_from[target] = node
                queue.append(target)
    return [start]  # unreachable for a real component


def ancestor_masks(edges: list[list[int]], components: list[list[int]]) -> list[int]:
    """Each step's transitive dependencies as a bit set (bit i = steps[i])."""
    masks = [0] * len(edges)
    for component in components:  # dependencies come first
        members = set(component)
        mask = 0
        for node in component:
            for dep in edges[node]:
                mask |= (1 << dep) | (0 if dep in members else masks[dep])
        for node in component:
            masks[node] = mask
    return masks


def topological_order(steps: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The steps of a plan, each after its dependencies, in a deterministic order.

    For a valid plan (``validate_plan`` found nothing): Kahn's algorithm in rounds,
    each round taking, in plan order, every remaining step whose ``depends_on`` are
    all placed; so ties keep the plan's order, and ``a, b (after a), c`` gives
    ``a, c, b``. The same steps always give the same order. On other data it still
    returns every step once: a dependency that names no step is ignored, and when a
    cycle leaves no step ready, all remaining steps follow in plan order. Each step
    needs an ``id`` and a ``depends_on`` list, as in plan data.
    """
    by_id = {str(step["id"]): step for step in steps}
    placed: set[str] = set()
    order: list[Mapping[str, Any]] = []
    remaining = list(steps)
    while remaining:
        ready = [s for s in remaining if all(dep in placed or dep not in by_id for dep in s["depends_on"])]
        if not ready:  # a cycle: validation reports it; show the rest in plan order
            ready = remaining
        for step in ready:
            placed.add(str(step["id"]))
            order.append(step)
        remaining = [s for s in remaining if str(s["id"]) not in placed]
    return order
