"""The authoring API: constructors, their errors, and the plan's canonical JSON."""

from __future__ import annotations

import json

import pytest

from plue import Plan, PlanError, Step, Trigger
from plue.plan import canonical_json, content_hash


def ci_plan() -> Plan:
    return Plan(
        name="CI Pipeline",
        triggers=[Trigger.on_push(branch="main"), Trigger.on_pull_request()],
        steps=[
            Step.bash("test", "npm test"),
            Step.bash("build", "npm run build", depends_on=["test"]),
            Step.llm("review", prompt="Review the code changes", depends_on=["test"]),
        ],
    )


def test_readme_example_builds_the_documented_data() -> None:
    data = ci_plan().to_data()
    assert data["version"] == 1
    assert data["name"] == "CI Pipeline"
    assert [step["id"] for step in data["steps"]] == ["test", "build", "review"]
    assert data["steps"][1] == {
        "id": "build",
        "type": "bash",
        "name": None,
        "cmd": "npm run build",
        "depends_on": ["test"],
        "env": {},
        "timeout": None,
        "retries": 0,
        "retry_backoff": 1,
        "when": "on_success",
    }
    assert data["triggers"][0] == {"event": "push", "branches": ["main"], "tags": None, "paths": None}
    assert data["triggers"][1]["types"] == ["opened", "synchronize", "reopened"]


def test_canonical_json_is_sorted_compact_utf8_and_hash_is_stable() -> None:
    data = ci_plan().to_data()
    raw = canonical_json(data)
    assert raw == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert b" " not in raw.replace(b"npm test", b"").replace(b"npm run build", b"").replace(
        b"Review the code changes", b""
    ).replace(b"CI Pipeline", b"")
    assert content_hash(data) == content_hash(ci_plan().to_data())
    assert len(content_hash(data)) == 64
    other = Plan("CI Pipeline", steps=[Step.bash("test", "npm test")]).to_data()
    assert content_hash(other) != content_hash(data)
    assert canonical_json({"é": "ü"}) == '{"é":"ü"}'.encode()


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_step_types_and_options() -> None:
    python = Step.python("gen", file="scripts/gen.py", env={"DEBUG": True, "N": 3}, timeout="1h30m", retries=2)
    data = python.to_data()
    assert data["file"] == "scripts/gen.py" and data["script"] is None
    assert data["env"] == {"DEBUG": "true", "N": "3"}
    assert data["timeout"] == 5400
    assert data["retries"] == 2
    llm = Step.llm(
        "triage",
        prompt_file="prompts/triage.md",
        inputs={"title": "Crash", "labels": ["bug"]},
        tools=["read_file", "grep", "grep"],
        model="claude-sonnet-4-5",
        max_turns=10,
        output_schema={"type": "object"},
        when="always",
        backoff="30s",
    ).to_data()
    assert llm["tools"] == ["read_file", "grep"]
    assert llm["prompt"] is None and llm["prompt_file"] == "prompts/triage.md"
    assert llm["inputs"] == {"title": "Crash", "labels": ["bug"]}
    assert llm["when"] == "always" and llm["retry_backoff"] == 30


def test_depends_on_accepts_steps_and_single_ids() -> None:
    test = Step.bash("test", "make test")
    assert Step.bash("a", "x", depends_on=test).depends_on == ("test",)
    assert Step.bash("b", "x", depends_on="test").depends_on == ("test",)
    assert Step.bash("c", "x", depends_on=[test, "lint"]).depends_on == ("test", "lint")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Step.bash("x"), "Step.bash(): missing required argument 'cmd'"),
        (lambda: Step.bash("x", "c", cmdd=1), "Step.bash(): unknown argument 'cmdd' (accepted: id, cmd,"),
        (lambda: Step.bash("x", 5), "Step.bash('x'): cmd must be a string, not int"),
        (lambda: Step.bash("x", "  "), "Step.bash('x'): cmd must not be empty"),
        (lambda: Step.bash("X y", "c"), "step id 'X y' is invalid"),
        (lambda: Step.bash("x", "c", "d"), "too many positional arguments"),
        (lambda: Step.bash("x", "c", retries=-1), "retries must be a whole number from 0 to 100"),
        (lambda: Step.bash("x", "c", when="sometimes"), "when must be one of on_success, always, on_failure"),
        (lambda: Step.bash("x", "c", timeout="soon"), "'soon' is not a duration"),
        (lambda: Step.bash("x", "c", timeout=0), "between 1 second and 7 days"),
        (lambda: Step.bash("x", "c", env={"A-B": "1"}), "'A-B' is not a valid variable name"),
        (lambda: Step.bash("x", "c", env={"A": [1]}), "env['A'] must be a string, int or bool"),
        (lambda: Step.bash("x", "c", depends_on=["a", "a"]), "depends_on lists 'a' twice"),
        (lambda: Step.python("x"), "give exactly one of script=... or file=..."),
        (lambda: Step.python("x", "s", file="f"), "give exactly one of script=... or file=..."),
        (lambda: Step.llm("x"), "give exactly one of prompt=... or prompt_file=..."),
        (lambda: Step.llm("x", "p", max_turns=0), "max_turns must be a whole number from 1 to 1000"),
        (lambda: Step.llm("x", "p", inputs={1: "a"}), "non-string key"),
        (lambda: Step.llm("x", "p", inputs={"a": float("inf")}), "non-finite number"),
        (lambda: Step.llm("x", "p", output_schema=[1]), "output_schema must be a dict"),
        (lambda: Step({"id": "x"}), "make steps with Step.bash"),
        (lambda: Trigger({"event": "push"}), "make triggers with"),
        (lambda: Trigger.on_schedule("* * *"), "must have 5 fields"),
        (lambda: Trigger.on_schedule("61 * * * *"), "is not a valid cron expression"),
        (lambda: Trigger.on_schedule(cron=5), "cron must be a string, not int"),
        (lambda: Trigger.on_push(branch="a", branches="b"), "give branch=... or branches=..., not both"),
        (lambda: Trigger.on_push(branch=[]), "must not be an empty list"),
        (lambda: Trigger.on_push(tags=3), "must be a string or a list of strings"),
        (lambda: Trigger.on_pull_request(types=["opend"]), "unknown type 'opend'"),
        (lambda: Trigger.on_issue(types="created"), "unknown type 'created'"),
        (lambda: Trigger.manual(inputs={"env": {"options": []}}), "must not be an empty list"),
        (lambda: Trigger.manual(inputs={"env": {"type": "choice"}}), "a choice input needs options"),
        (lambda: Trigger.manual(inputs={"env": {"typ": "string"}}), "unknown key 'typ'"),
        (lambda: Trigger.manual(inputs={"x": {"options": ["a"], "default": "b"}}), "default 'b' is not one of"),
        (lambda: Trigger.manual(inputs={"files": ["a", "b"]}), "default must be a string, not list"),
        (lambda: Trigger.manual(inputs={"n": {"type": "number", "default": "3"}}), "default must be a number, not str"),
        (lambda: Plan(), "Plan(): missing required argument 'name'"),
        (lambda: Plan(""), "Plan(): name must not be empty"),
        (lambda: Plan("x", steps=[1]), "steps[0] is a int, expected Step.bash"),
        (lambda: Plan("x", steps=Step.bash("a", "b")), "steps must be a list, not Step"),
        (lambda: Plan("x", triggers=["push"]), "triggers[0] is a str"),
    ],
)
def test_wrong_construction_fails_with_a_clear_message(build: object, message: str) -> None:
    with pytest.raises(PlanError) as caught:
        build()  # type: ignore[operator]
    assert message in str(caught.value)


def test_errors_inside_the_api_are_not_disguised_as_argument_errors() -> None:
    # A TypeError raised while building (not while binding arguments) stays what it is.
    with pytest.raises(PlanError, match=r"each item of Step\.bash\('x'\): depends_on must be a string"):
        Step.bash("x", "c", depends_on=[1])


def test_objects_are_read_only() -> None:
    step = Step.bash("a", "b")
    with pytest.raises(AttributeError):
        step.id = "c"  # type: ignore[misc]
    plan = Plan("x", steps=[step])
    with pytest.raises(AttributeError):
        plan.name = "y"  # type: ignore[misc]
    env = {"A": "1"}
    step_with_env = Step.bash("e", "x", env=env)
    env["A"] = "2"
    assert step_with_env.env == {"A": "1"}
    step_with_env.env["A"] = "3"
    assert step_with_env.to_data()["env"] == {"A": "1"}


def test_triggers_normalise_their_filters() -> None:
    push = Trigger.on_push(branch=["main", "release/**"], tags="v*", paths=["src/**", "!src/docs/**"]).to_data()
    assert push == {
        "event": "push",
        "branches": ["main", "release/**"],
        "tags": ["v*"],
        "paths": ["src/**", "!src/docs/**"],
    }
    assert Trigger.on_schedule(" 0  3 * * 1-5 ", tz="Europe/Paris").to_data() == {
        "event": "schedule",
        "cron": "0 3 * * 1-5",
        "tz": "Europe/Paris",
    }
    assert Trigger.on_issue(labels="bug").to_data() == {"event": "issues", "types": None, "labels": ["bug"]}
    assert Trigger.on_issue_comment("/deploy").to_data() == {
        "event": "issue_comment",
        "types": ["created"],
        "contains": "/deploy",
    }
    manual = Trigger.manual(inputs={"dry_run": False, "env": {"options": ["staging", "prod"], "required": True}})
    assert manual.to_data()["inputs"] == {
        "dry_run": {"type": "boolean", "description": None, "required": False, "default": False, "options": None},
        "env": {
            "type": "choice",
            "description": None,
            "required": True,
            "default": None,
            "options": ["staging", "prod"],
        },
    }


def test_plan_level_options() -> None:
    plan = Plan("x", steps=[Step.bash("a", "b")], description="d", env={"CI": True}, timeout="2h")
    data = plan.to_data()
    assert (data["description"], data["env"], data["timeout"]) == ("d", {"CI": "true"}, 7200)
    assert plan.steps[0].id == "a" and plan.triggers == ()


def test_concurrency_is_a_group_name_or_a_group_with_cancel_in_progress() -> None:
    steps = [Step.bash("a", "b")]
    assert Plan("x", steps=steps).to_data()["concurrency"] is None
    named = Plan("x", steps=steps, concurrency="deploy-prod")
    assert named.to_data()["concurrency"] == {"group": "deploy-prod", "cancel_in_progress": False}
    full = Plan("x", steps=steps, concurrency={"group": "deploy-main", "cancel_in_progress": True})
    assert full.concurrency == {"group": "deploy-main", "cancel_in_progress": True}
    assert Plan("x", steps=steps, concurrency={"group": "g"}).concurrency == {"group": "g", "cancel_in_progress": False}
    assert content_hash(named.to_data()) != content_hash(Plan("x", steps=steps).to_data())
    full.concurrency["group"] = "changed"  # type: ignore[index]
    assert full.to_data()["concurrency"]["group"] == "deploy-main"  # a copy: plans are read-only


@pytest.mark.parametrize(
    ("concurrency", "message"),
    [
        ("", "Plan('x'): concurrency group must not be empty"),
        (3, "Plan('x'): concurrency must be a group name or a dict with 'group' and 'cancel_in_progress', not int"),
        ({"cancel_in_progress": True}, "Plan('x'): concurrency: 'group' is required"),
        ({"group": "g", "cancel-in-progress": True}, "unknown key 'cancel-in-progress' (accepted: group, cancel_in"),
        ({"group": "g", "cancel_in_progress": "yes"}, "cancel_in_progress must be True or False, not str"),
        ({"group": ["a"]}, "Plan('x'): concurrency: group must be a string, not list"),
    ],
)
def test_wrong_concurrency_fails_with_a_clear_message(concurrency: object, message: str) -> None:
    with pytest.raises(PlanError) as caught:
        Plan("x", steps=[Step.bash("a", "b")], concurrency=concurrency)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_runs_on_is_sorted_deduplicated_and_checked() -> None:
    plan = Plan("p", steps=[Step.bash("a", "true")], runs_on=["linux", "gpu", "linux"], max_attempts=3)
    assert plan.runs_on == ["gpu", "linux"]
    assert plan.max_attempts == 3
    assert Plan("p", steps=[Step.bash("a", "true")], runs_on="arm64").to_data()["runs_on"] == ["arm64"]
    default = Plan("p", steps=[Step.bash("a", "true")]).to_data()
    assert (default["runs_on"], default["max_attempts"]) == ([], 2)
    with pytest.raises(PlanError, match=r"runs_on: 'has space' is not a runner label"):
        Plan("p", steps=[Step.bash("a", "true")], runs_on=["has space"])
    with pytest.raises(PlanError, match="runs_on must be a label or a list of labels"):
        Plan("p", steps=[Step.bash("a", "true")], runs_on={"gpu": True})
    with pytest.raises(PlanError, match="max_attempts must be a whole number from 1 to 10, not 0"):
        Plan("p", steps=[Step.bash("a", "true")], max_attempts=0)
