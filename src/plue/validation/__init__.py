"""Plan checks: the published JSON Schema, then the rules a schema cannot express.

`validate_plan` takes plan data from anywhere (a sandbox result, a stored row, a
hostile hand-made dict) and returns every problem it finds, in a stable order:
grouped by place (the whole plan, then each step, then each trigger), and within
a place schema problems first, then the other checks in order. It never raises.

1. Plain data: only dict/list/str/int/float/bool/None, string keys, finite
   numbers, UTF-8-encodable text, at most 64 levels deep. Anything else makes
   the rest unsafe to check, so it is reported alone.
2. JSON Schema (``schemas/plan.schema.json``, draft 2020-12, via jsonschema).
   jsonschema costs milliseconds on a 10-step plan (and 0.2 s to import), so a
   predicate compiled from the same schema at import answers first; only when
   it says "invalid" is jsonschema loaded (once) to produce the errors. The
   predicate is conservative: it may send a valid plan to jsonschema, never let
   an invalid one through.
3. Step ids unique; ``depends_on`` names existing other steps; no cycles.
4. ``{{ steps.ID.... }}`` references are well formed and point upstream.
5. llm steps: known tool names, a valid output schema, a prompt file inside the repository.
6. Triggers: cron expressions, time zones, manual input defaults, duplicates.

The package, one concept a module (this file is the public API and the pipeline):
``report`` (`Problem`, `PlanInvalid`, collecting problems, message helpers),
``plain`` (1), ``schema`` (2: the schema, jsonschema and its readable messages),
``fastpath`` (2: the schema compiled to predicates), ``graph`` (3, plus
`graph.topological_order`), ``references`` (4), ``llm`` (5), ``triggers`` (6).
"""

from __future__ import annotations

from typing import Any, cast

from plue.plan import Plan
from plue.validation.graph import check_cycles, check_depends_on, check_ids, index_steps
from plue.validation.llm import check_llm_steps
from plue.validation.plain import check_plain
from plue.validation.references import check_references
from plue.validation.report import PlanInvalid, Problem, Report, kind_of
from plue.validation.schema import MAX_DEPENDS_ON, MAX_STEPS, check_schema, plan_schema
from plue.validation.triggers import check_triggers

__all__ = [
    "MAX_DEPENDS_ON",
    "MAX_STEPS",
    "PlanInvalid",
    "Problem",
    "check_plan",
    "plan_schema",
    "validate_plan",
]


def validate_plan(data: object) -> list[Problem]:
    """Every problem of the plan data, or [] when it is valid. Never raises."""
    report = Report(data)
    try:
        _validate(data, report)
    except Exception as exc:  # the contract is "never raise"; the fuzz tests keep this path unused
        report.add("", 0, f"internal error while validating ({type(exc).__name__}); please report it")
    return report.problems()


def check_plan(data: object) -> dict[str, Any]:
    """Return the plan data unchanged if it is valid, else raise `PlanInvalid`."""
    problems = validate_plan(data)
    if problems:
        raise PlanInvalid(problems)
    return cast(dict[str, Any], data)


def _validate(data: object, report: Report) -> None:
    if type(data) is not dict:
        hint = "; pass plan.to_data()" if isinstance(data, Plan) else ""
        report.add("", 0, f"the plan must be a JSON object (a dict), not {kind_of(data)}{hint}")
        return
    if not check_plain(data, report):
        return  # not plain data: the other checks could misbehave on it
    check_schema(data, report)
    steps = index_steps(data)
    check_ids(steps, report)
    check_depends_on(steps, report)
    check_cycles(steps, report)
    check_references(data, steps, report)
    check_llm_steps(steps, report)
    check_triggers(data, report)
