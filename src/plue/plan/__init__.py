"""The authoring API — ``Plan``, ``Step``, ``Trigger`` — and the plan's JSON form.

Workflow files build plans with these classes inside the sandbox, so every
constructor checks its arguments and fails with a `PlanError` that names the
call and says what to do. Objects are immutable: each holds its canonical
plain data (str/int/bool/None/list/dict), which is exactly what goes into the
plan JSON.

The JSON form of a plan is documented by ``docs/plan.schema.json``; its
canonical bytes (sorted keys, compact, UTF-8) give the content hash.

Modules: `arguments` (checks and normalisers), `steps`, `triggers`, `plans`, `canonical`.
"""

from plue.plan.arguments import (
    DURATION_RE,
    ENV_NAME_RE,
    INPUT_NAME_RE,
    MAX_RETRIES,
    MAX_TIMEOUT_SECONDS,
    STEP_ID_PATTERN,
    STEP_ID_RE,
    PlanError,
)
from plue.plan.canonical import PLAN_FORMAT_VERSION, canonical_json, content_hash
from plue.plan.plans import Plan
from plue.plan.steps import STEP_TYPES, WHEN_VALUES, Step
from plue.plan.triggers import (
    DEFAULT_ISSUE_COMMENT_TYPES,
    DEFAULT_PULL_REQUEST_TYPES,
    ISSUE_COMMENT_TYPES,
    ISSUE_TYPES,
    MANUAL_INPUT_TYPES,
    PULL_REQUEST_TYPES,
    Trigger,
)

__all__ = [
    "DEFAULT_ISSUE_COMMENT_TYPES",
    "DEFAULT_PULL_REQUEST_TYPES",
    "DURATION_RE",
    "ENV_NAME_RE",
    "INPUT_NAME_RE",
    "ISSUE_COMMENT_TYPES",
    "ISSUE_TYPES",
    "MANUAL_INPUT_TYPES",
    "MAX_RETRIES",
    "MAX_TIMEOUT_SECONDS",
    "PLAN_FORMAT_VERSION",
    "PULL_REQUEST_TYPES",
    "STEP_ID_PATTERN",
    "STEP_ID_RE",
    "STEP_TYPES",
    "WHEN_VALUES",
    "Plan",
    "PlanError",
    "Step",
    "Trigger",
    "canonical_json",
    "content_hash",
]
