"""Plan validation: the JSON Schema, ids, dependencies, cycles, references, triggers, robustness."""

from __future__ import annotations

import copy
import json
import pickle
import random
import re
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from plue import Plan, Step, Trigger
from plue.plan import STEP_TYPES, canonical_json
from plue.validation import (
    MAX_DEPENDS_ON,
    MAX_STEPS,
    PlanInvalid,
    Problem,
    check_plan,
    plan_schema,
    validate_plan,
)
from plue.validation.graph import topological_order
from plue.validation.plain import _plain_ok, _plain_problems
from plue.validation.report import MAX_PROBLEMS
from plue.validation.schema import _FAST_CHECK, _PATTERN_HINTS, _schema_validator

ROOT = Path(__file__).resolve().parent.parent


# --- helpers ----------------------------------------------------------------


def realistic_plan() -> dict[str, Any]:
    """Ten steps of every type, references, and one trigger of every kind."""
    steps = [
        Step.bash("checkout", "git fetch --depth 1"),
        Step.bash("lint", "ruff check .", depends_on="checkout"),
        Step.bash(
            "test",
            "pytest && echo version=1.2 >> $PLUE_OUTPUT",
            depends_on="checkout",
            env={"CI": True, "JOBS": 4},
            timeout="10m",
            retries=2,
            backoff="5s",
        ),
        Step.python("report", "print('{{ steps.test.outputs.version }}')", depends_on=["test", "lint"]),
        Step.python("stats", file="tools/stats.py", depends_on="test", name="Statistics"),
        Step.llm(
            "review",
            "Review version {{steps.test.outputs.version}} (exit {{ steps.test.exit_code }})",
            inputs={"files": ["a.py", "{{ steps.lint.exit_code }}"], "limits": {"lines": 300}},
            tools=["read_file", "grep"],
            model="claude-sonnet-4-5",
            max_turns=20,
            depends_on=["test", "lint"],
        ),
        Step.llm(
            "summary",
            prompt_file="prompts/summary.md",
            inputs={"review": "{{ steps.review.text }}"},
            output_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}},
            depends_on=["review"],
        ),
        Step.bash(
            "notify",
            "echo '{{ steps.summary.output }}'",
            depends_on=["summary"],
            env={"MSG": "{{ steps.review.text }}"},
            when="always",
        ),
        Step.bash("cleanup", "rm -rf build", depends_on=["notify"], when="on_failure"),
        Step.bash("deploy", "./deploy {{ steps.test.outputs.version }}", depends_on=["report", "stats", "notify"]),
    ]
    triggers = [
        Trigger.on_push("main", paths=["src/**"]),
        Trigger.on_push(tags="v*"),
        Trigger.on_pull_request(branches="main"),
        Trigger.on_issue(["opened", "labeled"], labels="bug"),
        Trigger.on_issue_comment("/review"),
        Trigger.on_schedule("0 3 * * 1-5", tz="Europe/Paris"),
        Trigger.manual(
            {
                "target": {"options": ["staging", "production"], "default": "staging"},
                "dry_run": True,
                "count": 3,
                "ratio": 0.5,
                "note": {"type": "string", "description": "Why", "required": True},
            }
        ),
    ]
    return Plan("CI", steps=steps, triggers=triggers, description="Build", env={"A": "1"}, timeout="1h").to_data()


def simple_plan(*steps: Step, triggers: list[Trigger] | None = None) -> dict[str, Any]:
    return Plan("p", steps=list(steps) or [Step.bash("a", "true")], triggers=triggers or []).to_data()


def messages(data: object) -> list[str]:
    return [str(problem) for problem in validate_plan(data)]


def step_index(data: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(step for step in data["steps"] if step["id"] == step_id)  # type: ignore[no-any-return]


def chain(count: int) -> dict[str, Any]:
    steps = [Step.bash("s0", "true")]
    steps += [
        Step.bash(f"s{i}", f"echo {{{{ steps.s{i - 1}.exit_code }}}}", depends_on=f"s{i - 1}") for i in range(1, count)
    ]
    return Plan("chain", steps=steps).to_data()


# --- the API ------------------------------------------------------------------


def test_problem_str_has_place_and_message() -> None:
    assert str(Problem("it is wrong", "steps[1] (build)")) == "steps[1] (build): it is wrong"
    assert str(Problem("it is wrong")) == "it is wrong"


def test_plan_invalid_lists_every_problem_one_per_line() -> None:
    error = PlanInvalid([Problem("first"), Problem("second", "triggers[0]")])
    assert str(error) == "first\ntriggers[0]: second"
    assert error.problems == [Problem("first"), Problem("second", "triggers[0]")]
    assert isinstance(error, ValueError)


def test_plan_invalid_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(PlanInvalid([Problem("bad", "steps[0] (a)")])))
    assert error.problems == [Problem("bad", "steps[0] (a)")]
    assert str(error) == "steps[0] (a): bad"


def test_check_plan_returns_the_same_data_when_valid() -> None:
    data = realistic_plan()
    assert check_plan(data) is data


def test_check_plan_raises_with_all_problems() -> None:
    data = simple_plan()
    data["name"] = ""
    data["steps"][0]["depends_on"] = ["zzz"]
    with pytest.raises(PlanInvalid) as caught:
        check_plan(data)
    assert [str(p) for p in caught.value.problems] == [
        "the plan name is empty; give the Plan a name",
        "steps[0] (a): depends_on names 'zzz', but no step has that id",
    ]
    assert str(caught.value).splitlines() == [str(p) for p in caught.value.problems]


def test_validation_does_not_change_the_data() -> None:
    data = realistic_plan()
    data["steps"][2]["depends_on"].append("nope")
    before = copy.deepcopy(data)
    validate_plan(data)
    assert data == before


def test_plan_schema_returns_a_fresh_copy() -> None:
    schema = plan_schema()
    schema["title"] = "changed"
    assert plan_schema()["title"] == "Plue plan"


# --- plans from the real API are valid ---------------------------------------------


def test_realistic_plan_is_valid() -> None:
    assert validate_plan(realistic_plan()) == []


def test_every_plan_shape_of_the_api_is_valid() -> None:
    data = Plan(
        "minimal",
        steps=[
            Step.bash("a", "true"),
            Step.python("b", "pass"),
            Step.llm("c", "hi"),
            Step.llm("d", prompt_file="p.md", inputs={"deep": [[[{"x": None, "y": 1.5, "z": False}]]]}),
        ],
        triggers=[Trigger.on_push(), Trigger.on_issue(), Trigger.manual(), Trigger.on_schedule("*/5 * * * *")],
    ).to_data()
    assert validate_plan(data) == []


def test_plan_without_triggers_is_valid() -> None:
    assert validate_plan(simple_plan()) == []


def test_thousand_step_chain_is_valid() -> None:
    data = chain(1000)
    assert len(data["steps"]) == MAX_STEPS
    assert validate_plan(data) == []


def test_thousand_step_fan_out_and_in_is_valid() -> None:
    steps = [Step.bash("root", "true")]
    steps += [Step.bash(f"leaf-{i}", f"echo {i}", depends_on="root") for i in range(998)]
    steps.append(
        Step.bash(
            "join",
            "echo {{ steps.leaf-0.outputs.x }} {{ steps.leaf-997.exit_code }} {{ steps.root.exit_code }}",
            depends_on=[f"leaf-{i}" for i in range(998)],
        )
    )
    data = Plan("wide", steps=steps).to_data()
    assert len(data["steps"]) == 1000
    assert validate_plan(data) == []


def test_plans_listing_dependencies_after_their_dependents_are_valid() -> None:
    data = simple_plan(
        Step.bash("deploy", "echo {{ steps.build.outputs.tag }}", depends_on="build"),
        Step.bash("build", "make", depends_on="setup"),
        Step.bash("setup", "true"),
    )
    assert validate_plan(data) == []


# --- schema problems ---------------------------------------------------------------


def test_top_level_must_be_an_object() -> None:
    assert messages(None) == ["the plan must be a JSON object (a dict), not null"]
    assert messages([1]) == ["the plan must be a JSON object (a dict), not a list"]
    assert messages("plan") == ["the plan must be a JSON object (a dict), not the string 'plan'"]
    plan = Plan("p", steps=[Step.bash("a", "true")])
    assert messages(plan) == ["the plan must be a JSON object (a dict), not a Plan; pass plan.to_data()"]


def test_empty_object_names_every_missing_key() -> None:
    assert messages({}) == [
        "'version', 'name', 'description', 'env', 'timeout', 'concurrency', 'runs_on', 'max_attempts',"
        " 'triggers' and 'steps' are required"
    ]


def test_missing_step_key_is_required() -> None:
    data = simple_plan(Step.bash("a", "true"), Step.bash("build", "make"))
    del data["steps"][1]["cmd"]
    assert messages(data) == ["steps[1] (build): 'cmd' is required"]


def test_unknown_key_suggests_the_closest() -> None:
    data = simple_plan()
    data["steps"][0]["comand"] = "x"
    data["steps"][0]["zzz"] = 1
    data["timeot"] = 5
    assert messages(data) == [
        "unknown key 'timeot'; did you mean 'timeout'?",
        "steps[0] (a): unknown keys 'comand' and 'zzz'; the keys here are: "
        "id, type, name, depends_on, env, timeout, retries, retry_backoff, when, cmd",
    ]


def test_wrong_types_say_what_is_expected_and_what_was_given() -> None:
    data = simple_plan()
    data["steps"][0]["cmd"] = 5
    data["steps"][0]["retries"] = True
    data["steps"][0]["timeout"] = "5m"
    data["env"] = []
    assert messages(data) == [
        "env must be an object, not a list",
        "steps[0] (a): cmd must be a string, not the number 5",
        "steps[0] (a): retries must be a whole number, not true",
        "steps[0] (a): timeout must be a whole number or null, not the string '5m'",
    ]


def test_whole_numbers_reject_floats_even_when_integral() -> None:
    data = simple_plan()
    data["timeout"] = 60.0
    data["version"] = 1.0
    assert messages(data) == [
        "timeout must be a whole number or null, not the number 60.0",
        "version must be 1 (the plan format this Plue reads), not the number 1.0",
    ]


def test_unknown_version_is_refused() -> None:
    data = simple_plan()
    data["version"] = 2
    assert messages(data) == ["version must be 1 (the plan format this Plue reads), not the number 2"]


def test_bounds_are_reported_with_units() -> None:
    data = simple_plan()
    data["steps"][0]["timeout"] = 0
    data["steps"][0]["retries"] = 101
    data["steps"][0]["retry_backoff"] = 10**6
    assert messages(data) == [
        "steps[0] (a): retries must be at most 100, not 101",
        "steps[0] (a): retry_backoff must be at most 604800 seconds, not 1000000",
        "steps[0] (a): timeout must be at least 1 second, not 0",
    ]


def test_enums_list_their_values() -> None:
    data = simple_plan()
    data["steps"][0]["when"] = "sometimes"
    data["steps"][0]["type"] = "sh"
    assert messages(data) == [
        "steps[0] (a): type must be one of 'bash', 'python', 'llm'; not the string 'sh'",
    ]
    data["steps"][0]["type"] = "bash"
    assert messages(data) == [
        "steps[0] (a): when must be one of 'on_success', 'always', 'on_failure'; not the string 'sometimes'"
    ]


def test_long_enums_suggest_instead_of_listing() -> None:
    data = simple_plan(triggers=[Trigger.on_pull_request()])
    data["triggers"][0]["types"] = ["opend"]
    assert messages(data) == [
        "triggers[0]: types[0]: the string 'opend' is not an accepted value; did you mean 'opened'?"
    ]


def test_step_that_is_not_an_object() -> None:
    data = simple_plan()
    data["steps"].append("echo hi")
    assert messages(data) == ["steps[1]: the step must be an object, not the string 'echo hi'"]


def test_steps_that_is_not_a_list_skips_step_checks() -> None:
    data = simple_plan()
    data["steps"] = {"a": {}}
    assert messages(data) == ["steps must be a list, not an object"]


def test_missing_step_type_is_reported_once() -> None:
    data = simple_plan()
    del data["steps"][0]["type"]
    assert messages(data) == ["steps[0] (a): 'type' is required"]


@pytest.mark.parametrize("bad_id", ["Build", "-a", "a b", "a.b", "", "build\n", "ä"])
def test_malformed_step_ids(bad_id: str) -> None:
    data = simple_plan()
    data["steps"][0]["id"] = bad_id
    shown = repr(bad_id)
    where = f"steps[0] ({bad_id})" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", bad_id) else f"steps[0] ({shown})"
    assert messages(data) == [
        f"{where}: step id {shown} is invalid; use lowercase letters, digits, '-' and '_',"
        " starting with a letter or digit"
    ]


def test_env_names_are_checked_including_a_trailing_newline() -> None:
    data = simple_plan()
    data["steps"][0]["env"] = {"GOOD": "1", "BAD\n": "2", "1X": "3"}
    assert messages(data) == [
        "steps[0] (a): env: 'BAD\\n' is not a valid variable name; use letters, digits and '_',"
        " not starting with a digit",
        "steps[0] (a): env: '1X' is not a valid variable name; use letters, digits and '_', not starting with a digit",
    ]


def test_env_values_must_be_strings() -> None:
    data = simple_plan()
    data["steps"][0]["env"] = {"N": 1}
    assert messages(data) == ["steps[0] (a): env.N must be a string, not the number 1"]


def test_blank_strings_are_refused() -> None:
    data = simple_plan(Step.python("p", "pass"))
    data["steps"][0]["script"] = "   "
    data["description"] = ""
    assert messages(data) == [
        "description must not be empty or blank",
        "steps[0] (p): script must not be empty or blank",
    ]


def test_python_step_needs_exactly_one_of_script_and_file() -> None:
    data = simple_plan(Step.python("p", "pass"))
    data["steps"][0]["file"] = "x.py"
    assert messages(data) == ["steps[0] (p): give exactly one of script or file; the other must be null"]
    data["steps"][0]["file"] = data["steps"][0]["script"] = None
    assert messages(data) == ["steps[0] (p): give exactly one of script or file; the other must be null"]


def test_llm_step_needs_exactly_one_of_prompt_and_prompt_file() -> None:
    data = simple_plan(Step.llm("l", "hi"))
    data["steps"][0]["prompt_file"] = "p.md"
    assert messages(data) == ["steps[0] (l): give exactly one of prompt or prompt_file; the other must be null"]


def test_list_rules() -> None:
    data = simple_plan(Step.bash("a", "true"), Step.llm("l", "hi", depends_on="a"), triggers=[Trigger.on_push()])
    data["steps"][1]["tools"] = []
    data["steps"][1]["depends_on"] = ["a", "a"]
    data["triggers"][0]["branches"] = []
    assert messages(data) == [
        "steps[1] (l): depends_on lists 'a' more than once",
        "steps[1] (l): tools must not be an empty list; use null instead",
        "triggers[0]: branches must not be an empty list; use null instead",
    ]


def test_unknown_trigger_event() -> None:
    data = simple_plan(triggers=[Trigger.on_push()])
    data["triggers"][0]["event"] = "pushed"
    assert messages(data) == [
        "triggers[0]: event must be one of 'push', 'pull_request', 'issues', 'issue_comment', 'schedule', "
        "'manual'; not the string 'pushed'"
    ]


def test_manual_input_spec_shape() -> None:
    data = simple_plan(triggers=[Trigger.manual({"n": 1})])
    inputs = data["triggers"][0]["inputs"]
    inputs["bad name"] = inputs.pop("n")
    inputs["bad name"]["min"] = 0
    del inputs["bad name"]["required"]
    assert messages(data) == [
        "triggers[0]: inputs: 'bad name' is not a valid input name; use letters, digits, '_' and '-', not starting"
        " with a digit",
        "triggers[0]: inputs['bad name']: 'required' is required",
        "triggers[0]: inputs['bad name']: unknown key 'min'; the keys here are: type, description, required, "
        "default, options",
    ]


# --- plan-level rules -----------------------------------------------------------------


def test_plan_without_steps() -> None:
    assert messages(Plan("empty").to_data()) == ["the plan has no steps; add at least one Step"]


def test_blank_plan_name() -> None:
    data = simple_plan()
    data["name"] = " \t"
    assert messages(data) == ["the plan name is empty; give the Plan a name"]


def test_too_many_steps() -> None:
    data = chain(MAX_STEPS + 1)
    assert messages(data) == [
        f"the plan has {MAX_STEPS + 1} steps; at most {MAX_STEPS} are allowed, split the workflow"
    ]


def test_too_many_dependencies() -> None:
    data = chain(3)
    data["steps"][2]["depends_on"] = [f"x{i}" for i in range(MAX_DEPENDS_ON + 1)]
    problems = messages(data)
    assert problems[0] == f"steps[2] (s2): depends_on lists 1001 steps; at most {MAX_DEPENDS_ON} are allowed"
    assert len(problems) == MAX_PROBLEMS


# --- ids and depends_on -------------------------------------------------------------


def test_duplicate_ids_name_both_positions() -> None:
    data = simple_plan(Step.bash("build", "a"), Step.bash("test", "b"), Step.bash("build", "c"))
    assert messages(data) == [
        "steps[2] (build): step id 'build' is also used by steps[0]; step ids must be unique",
    ]


def test_unknown_dependency_suggests_the_closest_id() -> None:
    data = simple_plan(Step.bash("build", "make"), Step.bash("test", "t", depends_on=["biuld", "zzzz"]))
    assert messages(data) == [
        "steps[1] (test): depends_on names 'biuld', but no step has that id; did you mean 'build'?",
        "steps[1] (test): depends_on names 'zzzz', but no step has that id",
    ]


def test_step_depending_on_itself() -> None:
    data = simple_plan(Step.bash("a", "x"))
    data["steps"][0]["depends_on"] = ["a"]
    assert messages(data) == ["steps[0] (a): depends_on lists the step itself ('a'); remove it"]


# --- cycles -----------------------------------------------------------------------------


def with_deps(*pairs: tuple[str, list[str]]) -> dict[str, Any]:
    return simple_plan(*[Step.bash(step_id, "true", depends_on=deps) for step_id, deps in pairs])


def test_two_step_cycle() -> None:
    data = with_deps(("a", ["b"]), ("b", ["a"]))
    assert messages(data) == [
        "steps[0] (a): dependency cycle: a -> b -> a (each step depends on the next); remove one of these dependencies"
    ]


def test_cycle_starts_at_its_first_step_in_plan_order() -> None:
    data = with_deps(("x", []), ("c", ["a"]), ("b", ["c"]), ("a", ["b"]))
    assert messages(data) == [
        "steps[1] (c): dependency cycle: c -> a -> b -> c (each step depends on the next); remove one of these "
        "dependencies"
    ]


def test_separate_cycles_are_each_named() -> None:
    data = with_deps(("a", ["b"]), ("b", ["a"]), ("ok", ["a"]), ("x", ["z"]), ("y", ["x"]), ("z", ["y"]))
    assert messages(data) == [
        "steps[0] (a): dependency cycle: a -> b -> a (each step depends on the next); remove one of these dependencies",
        "steps[3] (x): dependency cycle: x -> z -> y -> x (each step depends on the next); remove one of these "
        "dependencies",
    ]


def test_tangled_cycle_names_the_shortest_loop_and_counts_the_rest() -> None:
    data = with_deps(("a", ["b", "c"]), ("b", ["c"]), ("c", ["d"]), ("d", ["a"]))
    assert messages(data) == [
        "steps[0] (a): dependency cycle: a -> c -> d -> a (each step depends on the next); remove one of these "
        "dependencies; 1 more steps are caught in the same loop"
    ]


def test_thousand_step_cycle_is_found_without_recursion() -> None:
    data = chain(1000)
    data["steps"][0]["depends_on"] = ["s999"]
    assert messages(data) == [
        "steps[0] (s0): dependency cycle: s0 -> s999 -> s998 -> s997 -> … 993 more … -> s3 -> s2 -> s1 -> s0 "
        "(each step depends on the next); remove one of these dependencies"
    ]


def test_self_dependency_is_not_also_a_cycle() -> None:
    data = with_deps(("a", []))
    data["steps"][0]["depends_on"] = ["a"]
    assert len(messages(data)) == 1


# --- topological order ----------------------------------------------------------------


def ordered_ids(data: dict[str, Any]) -> list[str]:
    return [str(step["id"]) for step in topological_order(data["steps"])]


def test_topological_order_puts_each_step_after_its_dependencies_ties_in_plan_order() -> None:
    data = with_deps(("deploy", ["test", "lint"]), ("test", ["build"]), ("build", []), ("lint", []))
    assert ordered_ids(data) == ["build", "lint", "test", "deploy"]
    assert ordered_ids(with_deps(("a", []), ("b", ["a"]), ("c", []))) == ["a", "c", "b"]  # by rounds


def test_topological_order_of_a_realistic_plan() -> None:
    data = realistic_plan()
    order = topological_order(data["steps"])
    assert sorted(map(id, order)) == sorted(map(id, data["steps"]))  # the same step objects, each once
    position = {step["id"]: index for index, step in enumerate(order)}
    assert all(position[dep] < position[step["id"]] for step in data["steps"] for dep in step["depends_on"])
    assert topological_order(copy.deepcopy(data["steps"])) == order  # deterministic
    rounds = ["checkout", "lint", "test", "report", "stats", "review", "summary", "notify", "cleanup", "deploy"]
    assert ordered_ids(data) == rounds


def test_topological_order_of_a_plan_listed_backwards() -> None:
    data = chain(200)
    data["steps"].reverse()
    assert ordered_ids(data) == [f"s{i}" for i in range(200)]


def test_topological_order_keeps_every_step_of_an_invalid_plan() -> None:
    # Not a valid plan: a cycle (a, b) and an unknown dependency (zzz); the order still ends.
    data = with_deps(("x", []), ("a", ["b"]), ("b", ["a"]), ("c", ["x", "zzz"]), ("d", ["a"]))
    assert validate_plan(data)
    assert ordered_ids(data) == ["x", "c", "a", "b", "d"]


# --- output references ------------------------------------------------------------------


def test_every_reference_form_is_accepted_with_any_spacing() -> None:
    data = simple_plan(
        Step.llm("ask", "hi"),
        Step.bash(
            "use",
            "{{steps.ask.text}} {{  steps.ask.output  }} {{ steps.ask.exit_code}} {{\tsteps.ask.outputs.my-key_2 }}",
            depends_on="ask",
        ),
    )
    assert validate_plan(data) == []


def test_reference_to_a_step_that_is_not_upstream() -> None:
    data = simple_plan(
        Step.bash("build", "make"),
        Step.bash("test", "echo version=1 >> $PLUE_OUTPUT"),
        Step.bash("lint", "true"),
        Step.bash("deploy", "./deploy {{ steps.test.outputs.version }}", depends_on="build"),
    )
    assert messages(data) == [
        "steps[3] (deploy): cmd refers to steps.test.outputs.version but 'test' is not upstream of 'deploy'; add it"
        " to depends_on"
    ]


def test_transitive_dependencies_are_upstream() -> None:
    data = simple_plan(
        Step.bash("a", "true"),
        Step.bash("b", "true", depends_on="a"),
        Step.bash("c", "echo {{ steps.a.outputs.x }}", depends_on="b"),
    )
    assert validate_plan(data) == []


def test_downstream_step_is_not_upstream() -> None:
    data = simple_plan(Step.bash("a", "echo {{ steps.b.exit_code }}"), Step.bash("b", "true", depends_on="a"))
    assert messages(data) == [
        "steps[0] (a): cmd refers to steps.b.exit_code but 'b' is not upstream of 'a'; add it to depends_on"
    ]


def test_reference_to_an_unknown_step_suggests_one() -> None:
    data = simple_plan(Step.bash("build", "make"), Step.bash("b", "{{ steps.biuld.exit_code }}", depends_on="build"))
    assert messages(data) == [
        "steps[1] (b): cmd refers to steps.biuld.exit_code, but no step has that id; did you mean 'build'?"
    ]


def test_reference_to_the_step_itself() -> None:
    data = simple_plan(Step.bash("a", "echo {{ steps.a.exit_code }}"))
    assert messages(data) == [
        "steps[0] (a): cmd refers to steps.a.exit_code, the step's own result; a step can only use results of the"
        " steps it depends on"
    ]


def test_text_and_output_only_for_llm_steps() -> None:
    data = simple_plan(
        Step.python("calc", "pass"),
        Step.bash("use", "{{ steps.calc.text }} {{ steps.calc.output }}", depends_on="calc"),
    )
    assert messages(data) == [
        "steps[1] (use): cmd refers to steps.calc.text, but .text exists only for llm steps and 'calc' is a python"
        " step; use steps.calc.outputs.NAME",
        "steps[1] (use): cmd refers to steps.calc.output, but .output exists only for llm steps and 'calc' is a "
        "python step; use steps.calc.outputs.NAME",
    ]


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{ steps.a.foo }}", "{{ steps.a.foo }} is not a valid step reference"),
        ("{{ steps.a.outputs }}", "{{ steps.a.outputs }} needs an output name: {{ steps.a.outputs.NAME }}"),
        ("{{ steps.a.outputs.x.y }}", "{{ steps.a.outputs.x.y }} is not a valid step reference"),
        ("{{ steps.a.outputs.9x }}", "{{ steps.a.outputs.9x }} is not a valid step reference"),
        ("{{ steps..exit_code }}", "{{ steps..exit_code }} is not a valid step reference"),
        ("{{ steps.a }}", "{{ steps.a }} is not a valid step reference"),
        ("{{ steps. }}", "{{ steps. }} is not a valid step reference"),
        ("{{ steps.a.exit_code | default }}", "{{ steps.a.exit_code | default }} is not a valid step reference"),
    ],
)
def test_malformed_references(template: str, problem: str) -> None:
    data = simple_plan(Step.bash("a", "true"), Step.bash("b", f"echo {template}", depends_on="a"))
    assert messages(data) == [f"steps[1] (b): cmd: {problem}" + _forms_suffix(problem)]


def _forms_suffix(problem: str) -> str:
    if "needs an output name" in problem:
        return ""
    return "; use steps.ID.outputs.NAME, steps.ID.exit_code, or steps.ID.text / steps.ID.output (llm steps)"


def test_other_templates_are_left_alone() -> None:
    data = simple_plan(
        Step.bash("a", "echo {{ inputs.name }} {{ stepsx }} {{ steps }} {{}} {{ x.steps.a.foo }} {{ event.ref }}"),
        Step.python("p", "print(f'{{literal}}')\nd = {{'k': 1}}"),
    )
    assert validate_plan(data) == []


def test_references_are_found_in_every_rendered_field() -> None:
    data = simple_plan(
        Step.bash("early", "true"),
        Step.python("py", "print('{{ steps.late.exit_code }}')", env={"X": "{{ steps.late.outputs.v }}"}),
        Step.llm(
            "ask",
            "{{ steps.late.exit_code }}",
            inputs={"k": ["ok", {"deep": "{{ steps.late.exit_code }}"}], "{{ steps.late.exit_code }}": 1},
        ),
        Step.bash("late", "true", name="{{ steps.nope.text }}"),
    )
    assert messages(data) == [
        "steps[1] (py): script refers to steps.late.exit_code but 'late' is not upstream of 'py'; add it to depends_on",
        "steps[1] (py): env.X refers to steps.late.outputs.v but 'late' is not upstream of 'py'; add it to depends_on",
        "steps[2] (ask): prompt refers to steps.late.exit_code but 'late' is not upstream of 'ask'; add it to "
        "depends_on",
        "steps[2] (ask): inputs.k[1].deep refers to steps.late.exit_code but 'late' is not upstream of 'ask'; add it"
        " to depends_on",
    ]


def test_plan_level_env_cannot_refer_to_steps() -> None:
    data = simple_plan()
    data["env"] = {"V": "{{ steps.a.outputs.v }}", "W": "{{ inputs.w }}"}
    assert messages(data) == [
        "env.V refers to steps.a.outputs.v, but the plan's env is shared by every step; set it in the env of the "
        "steps that use it"
    ]


def test_repeated_reference_is_reported_once() -> None:
    data = simple_plan(Step.bash("a", "true"), Step.bash("b", "{{ steps.a.exit_code }} {{ steps.a.exit_code }}"))
    assert len(messages(data)) == 1


# --- triggers -----------------------------------------------------------------------


def schedule(cron: str, tz: str = "UTC") -> dict[str, Any]:
    data = simple_plan(triggers=[Trigger.on_schedule("0 0 * * *")])
    data["triggers"][0].update(cron=cron, tz=tz)
    return data


def test_cron_needs_five_fields() -> None:
    assert messages(schedule("0 0 * *")) == [
        "triggers[0]: cron '0 0 * *' must have 5 fields (minute hour day month weekday), not 4"
    ]
    assert messages(schedule("0 0 0 * * * *"))[0].endswith("not 7")
    assert messages(schedule("@daily")) == [
        "triggers[0]: cron '@daily' must have 5 fields (minute hour day month weekday), not 1"
    ]


@pytest.mark.parametrize("cron", ["61 * * * *", "* 24 * * *", "* * 32 * *", "* * * 13 *", "x * * * *", "*/0 * * * *"])
def test_invalid_cron(cron: str) -> None:
    assert messages(schedule(cron)) == [f"triggers[0]: cron {cron!r} is not a valid cron expression"]


@pytest.mark.parametrize("cron", ["*/15 * * * *", "0 9-17 * * mon-fri", "0 0 1,15 * *", "5 4 * * sun"])
def test_valid_cron(cron: str) -> None:
    assert validate_plan(schedule(cron)) == []


def test_unknown_time_zone_suggests_one() -> None:
    assert messages(schedule("0 0 * * *", "Europe/Pariss")) == [
        "triggers[0]: tz 'Europe/Pariss' is not a known IANA time zone; did you mean 'Europe/Paris'?"
    ]


@pytest.mark.parametrize("tz", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "a\x00b", "x" * 5000, "Europe/"])
def test_hostile_time_zones_are_just_unknown(tz: str) -> None:
    problems = messages(schedule("0 0 * * *", tz))
    assert len(problems) == 1
    assert "is not a known IANA time zone" in problems[0]


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata", "Etc/GMT+5"])
def test_real_time_zones(tz: str) -> None:
    assert validate_plan(schedule("0 0 * * *", tz)) == []


def manual(spec: dict[str, Any]) -> dict[str, Any]:
    data = simple_plan(triggers=[Trigger.manual({"x": "placeholder"})])
    data["triggers"][0]["inputs"]["x"].update(spec)
    return data


@pytest.mark.parametrize(
    ("kind", "default", "problem"),
    [
        ("boolean", "yes", "the default the string 'yes' does not fit type 'boolean'; give true or false or null"),
        ("boolean", 1, "the default the number 1 does not fit type 'boolean'; give true or false or null"),
        ("number", True, "the default true does not fit type 'number'; give a number or null"),
        ("number", "3", "the default the string '3' does not fit type 'number'; give a number or null"),
        ("string", 3, "the default the number 3 does not fit type 'string'; give a string or null"),
        ("string", ["a"], "the default a list does not fit type 'string'; give a string or null"),
    ],
)
def test_manual_defaults_must_fit_their_type(kind: str, default: object, problem: str) -> None:
    assert messages(manual({"type": kind, "default": default})) == [f"triggers[0]: inputs.x: {problem}"]


@pytest.mark.parametrize(("kind", "default"), [("boolean", False), ("number", 2), ("number", -0.5), ("string", "")])
def test_manual_defaults_that_fit(kind: str, default: object) -> None:
    assert validate_plan(manual({"type": kind, "default": default})) == []


def test_choice_inputs() -> None:
    assert messages(manual({"type": "choice", "options": ["a", "b"], "default": "c"})) == [
        "triggers[0]: inputs.x: the default 'c' is not one of the options"
    ]
    assert messages(manual({"type": "choice", "options": None, "default": "a"})) == [
        "triggers[0]: inputs.x is a choice input without options; add options=[...]"
    ]
    assert messages(manual({"type": "string", "options": ["a"]})) == [
        "triggers[0]: inputs.x has options, which only a 'choice' input may have"
    ]
    assert validate_plan(manual({"type": "choice", "options": ["a", "b"], "default": "b"})) == []


def test_list_default_of_a_string_input_is_caught() -> None:
    # The API refuses it; a hand-made (or stored) plan is caught by validation.
    data = simple_plan(triggers=[Trigger.manual({"files": "a"})])
    data["triggers"][0]["inputs"]["files"]["default"] = ["a", "b"]
    assert messages(data) == [
        "triggers[0]: inputs.files: the default a list does not fit type 'string'; give a string or null"
    ]


def test_duplicate_triggers() -> None:
    data = simple_plan(triggers=[Trigger.on_push("main"), Trigger.on_push("dev"), Trigger.on_push(branch="main")])
    assert messages(data) == ["triggers[2]: this trigger is the same as triggers[0]; remove one"]


# --- all together, in a stable order -------------------------------------------------


def broken_plan() -> dict[str, Any]:
    data = simple_plan(
        Step.bash("a", "true", depends_on="b"),
        Step.bash("b", "echo {{ steps.c.exit_code }}", depends_on="a"),
        Step.bash("c", "true", depends_on="nope"),
        Step.bash("a", "again"),
        Step.bash("d", "{{ steps.a.what }}"),
        triggers=[Trigger.on_schedule("0 0 * * *"), Trigger.on_schedule("0 0 * * *")],
    )
    data["name"] = ""
    data["steps"][2]["cmd"] = 7
    data["triggers"][0]["tz"] = "Nowhere/Land"
    return data


EXPECTED_BROKEN = [
    "the plan name is empty; give the Plan a name",
    "steps[0] (a): dependency cycle: a -> b -> a (each step depends on the next); remove one of these dependencies",
    "steps[1] (b): cmd refers to steps.c.exit_code but 'c' is not upstream of 'b'; add it to depends_on",
    "steps[2] (c): cmd must be a string, not the number 7",
    "steps[2] (c): depends_on names 'nope', but no step has that id",
    "steps[3] (a): step id 'a' is also used by steps[0]; step ids must be unique",
    "steps[4] (d): cmd: {{ steps.a.what }} is not a valid step reference; use steps.ID.outputs.NAME, "
    "steps.ID.exit_code, or steps.ID.text / steps.ID.output (llm steps)",
    "triggers[0]: tz 'Nowhere/Land' is not a known IANA time zone",
]


def test_all_problems_are_reported_together_in_place_order() -> None:
    assert messages(broken_plan()) == EXPECTED_BROKEN


def test_order_does_not_depend_on_key_order() -> None:
    data = broken_plan()
    reordered = json.loads(json.dumps(data, sort_keys=True))
    shuffled = dict(reversed(list(data.items())))
    assert messages(reordered) == EXPECTED_BROKEN
    assert messages(shuffled) == EXPECTED_BROKEN


def test_problems_are_capped_with_a_summary() -> None:
    data = chain(300)
    for step in data["steps"]:
        step["cmd"] = 0
    problems = validate_plan(data)
    assert len(problems) == MAX_PROBLEMS
    assert problems[-1] == Problem(f"… and {300 - MAX_PROBLEMS + 1} more problems")


def test_messages_stay_short() -> None:
    long_id = "a" * 5000
    data = simple_plan(Step.bash("a", "true"))
    data["steps"][0]["depends_on"] = [long_id, "b" * 3000 + "\n"]
    data["steps"][0]["cmd"] = "{{ steps." + "x" * 10000 + ".exit_code }}"
    data["steps"][0]["when"] = "w" * 10000
    for problem in validate_plan(data):
        assert len(problem.message) <= 300
        assert len(problem.where) <= 100


# --- robustness ----------------------------------------------------------------------


class Weird:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no")

    __hash__ = object.__hash__


def nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def hostile_values() -> list[object]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    bomb: list[Any] = ["x"]
    for _ in range(60):
        bomb = [bomb, bomb]
    return [
        None, True, 0, -1, 1.5, float("nan"), float("inf"), 2**70, -(2**64), "", "x" * 1_000_000, "\ud800",
        [], {}, (), {1, 2}, b"bytes", Weird(), loop, bomb, nested_list(10_000), {1: "int key"}, {None: 1},
        {("t",): 1}, OrderedDict(a=1), range(3), object, len,
    ]  # fmt: skip


@pytest.mark.parametrize("value", hostile_values(), ids=lambda v: type(v).__name__)
def test_hostile_values_anywhere_never_raise(value: object) -> None:
    places: list[tuple[str | int, ...]] = [
        (),
        ("steps",),
        ("steps", 0),
        ("steps", 0, "id"),
        ("steps", 0, "depends_on"),
        ("steps", 0, "env"),
        ("steps", 0, "cmd"),
        ("steps", 1, "inputs"),
        ("steps", 1, "inputs", "deep"),
        ("steps", 1, "output_schema"),
        ("triggers",),
        ("triggers", 0, "cron"),
        ("triggers", 0, "tz"),
        ("triggers", 1, "inputs", "x", "default"),
        ("triggers", 1, "inputs", "x", "type"),
        ("name",),
        ("version",),
    ]
    for place in places:
        data = simple_plan(
            Step.bash("a", "true"),
            Step.llm("l", "hi"),
            triggers=[Trigger.on_schedule("0 0 * * *"), Trigger.manual({"x": 1})],
        )
        target: Any = data
        for key in place[:-1]:
            target = target[key]
        if place:
            target[place[-1]] = value
        else:
            data = value  # type: ignore[assignment]
        problems = validate_plan(data)
        assert all(type(problem) is Problem for problem in problems)
        assert not any("internal error" in problem.message for problem in problems), problems


def test_non_plain_values_are_reported_with_their_place() -> None:
    data = simple_plan(Step.bash("a", "true"), Step.llm("l", "hi"))
    data["steps"][1]["inputs"] = {"t": (1, 2), "n": float("nan"), 3: "x", "s": "\udc80", "big": 2**64}
    data["steps"][1]["output_schema"] = {"deep": nested_list(100)}
    problems = messages(data)
    assert problems == [
        "steps[1] (l): inputs has a key that is not a string (the number 3)",
        "steps[1] (l): inputs.big is a number too large for plan data (over 64 bits)",
        "steps[1] (l): inputs.n is nan; JSON has no such number",
        "steps[1] (l): inputs.s holds text that is not valid Unicode (a lone surrogate)",
        "steps[1] (l): inputs.t is a tuple, not plain JSON data (dict, list, str, int, float, bool, None)",
        "steps[1] (l): output_schema.deep" + "[0]" * 60 + " is nested more than 64 levels deep",
    ]


def test_subclasses_of_plain_types_are_refused() -> None:
    data = simple_plan()
    data["env"] = OrderedDict(A="1")
    assert messages(data) == ["env is an OrderedDict, not plain JSON data (dict, list, str, int, float, bool, None)"]


def test_shared_references_are_fine() -> None:
    env = {"A": "1"}
    data = simple_plan(Step.bash("a", "true", env=env), Step.bash("b", "true", env=env))
    data["steps"][1]["env"] = data["steps"][0]["env"]
    assert validate_plan(data) == []


def test_huge_strings_with_many_braces_are_fast_enough() -> None:
    data = simple_plan()
    data["steps"][0]["cmd"] = "{{" * 300_000 + "}}" * 300_000 + "{{ steps." * 100_000
    assert validate_plan(data) == []


def random_value(rng: random.Random) -> object:
    return rng.choice(
        [
            None, True, False, 0, -3, 10**6, 1.5, float("nan"), "", " ", "x", "Build", "a b", "on_success",
            "bash", "llm", "python", "push", "manual", "schedule", "0 0 * * *", "UTC", "{{ steps.a.text }}",
            "{{ steps.zz.outputs.k }}", [], [None], ["a"], ["a", "a"], {}, {"k": "v"}, {"type": "bash"},
            {"event": "push"}, [{}], (1,), {1: 2},
        ]
    )  # fmt: skip


def mutate(value: Any, rng: random.Random) -> Any:
    """Change one random place of a copy of `value`: replace, delete, add a key, or duplicate an item."""
    value = copy.deepcopy(value)
    parent: Any = None
    key: Any = None
    node = value
    while isinstance(node, dict | list) and node and rng.random() < 0.75:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        parent, node = node, node[key]
    action = rng.random()
    if parent is None:
        return random_value(rng) if action < 0.1 else value
    if action < 0.5:
        parent[key] = random_value(rng)
    elif action < 0.7 and isinstance(parent, dict):
        del parent[key]
    elif action < 0.85 and isinstance(parent, dict):
        parent[rng.choice(["extra", "id", "type", "cmd", "when", "event"])] = random_value(rng)
    elif isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    else:
        parent[key] = copy.deepcopy(parent)
    return value


def fuzz_cases(count: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    seeds = [realistic_plan(), chain(5), with_deps(("a", ["b"]), ("b", ["a"]))]
    cases = []
    for _ in range(count):
        value = rng.choice(seeds)
        for _ in range(rng.randint(1, 4)):
            value = mutate(value, rng)
        cases.append(value)
    return cases


def test_mutated_plans_never_raise_and_give_bounded_problems() -> None:
    for data in fuzz_cases(1500, seed=1):
        problems = validate_plan(data)
        assert isinstance(problems, list)
        for problem in problems:
            assert type(problem) is Problem
            assert 0 < len(problem.message) <= 300
            assert "internal error" not in problem.message, (problem, data)


def test_fast_schema_check_never_passes_what_jsonschema_refuses() -> None:
    agreed = 0
    for data in fuzz_cases(1500, seed=2):
        if type(data) is not dict or not _plain_ok(data):
            continue
        schema_errors = list(_schema_validator().iter_errors(data))
        if _FAST_CHECK(data):
            assert schema_errors == [], data
        agreed += _FAST_CHECK(data) == (not schema_errors)
    assert agreed > 1000  # and it is not merely conservative


def test_fast_plain_check_never_passes_what_the_detailed_one_refuses() -> None:
    agreed = 0
    for data in fuzz_cases(800, seed=3):
        if type(data) is dict:
            if _plain_ok(data):
                assert _plain_problems(data) == [], data
            agreed += _plain_ok(data) == (not _plain_problems(data))
    assert agreed > 700


def test_circular_data_is_refused() -> None:
    data = simple_plan(Step.bash("a", "true"), Step.llm("l", "hi"))
    data["steps"][1]["inputs"]["me"] = data["steps"][1]["inputs"]
    data["steps"][1]["inputs"]["list"] = [1]
    data["steps"][1]["inputs"]["list"].append(data["steps"][1]["inputs"]["list"])
    assert messages(data) == [
        "steps[1] (l): inputs.list[1] contains itself; plan data cannot be circular",
        "steps[1] (l): inputs.me contains itself; plan data cannot be circular",
    ]


def test_shared_lists_that_would_make_huge_json_are_refused_quickly() -> None:
    bomb: list[Any] = ["x"]
    for _ in range(30):
        bomb = [bomb, bomb]  # 2**31 strings as JSON, 31 lists in memory
    data = simple_plan(Step.llm("l", "hi"))
    data["steps"][0]["inputs"]["bomb"] = bomb
    assert messages(data) == ["the plan holds more than 2000000 values as JSON; it is far too large"]


def test_shared_data_too_deep_where_it_is_reused_is_refused() -> None:
    deep = nested_list(40)
    data = simple_plan(Step.llm("l", "hi"))
    deeper: Any = deep
    for _ in range(21):
        deeper = [deeper]
    data["steps"][0]["inputs"] = {"deeper": deeper, "shallow": deep}  # "shallow" is walked first
    assert messages(data) == ["steps[0] (l): inputs.deeper" + "[0]" * 21 + " is nested more than 64 levels deep"]


def test_valid_api_plans_take_the_fast_path() -> None:
    assert _FAST_CHECK(realistic_plan())
    assert _FAST_CHECK(chain(1000))


# --- the schema files ---------------------------------------------------------------------


def test_published_schema_is_identical_to_the_packaged_one() -> None:
    packaged = (resources.files("plue") / "schemas" / "plan.schema.json").read_bytes()
    published = (ROOT / "docs" / "plan.schema.json").read_bytes()
    assert packaged == published


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    from jsonschema import Draft202012Validator

    schema = plan_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_matches_the_plan_api() -> None:
    schema = plan_schema()
    assert set(schema["required"]) == set(realistic_plan())
    step_defs = {f"{kind}_step" for kind in STEP_TYPES}
    assert step_defs <= set(schema["$defs"])
    for step in realistic_plan()["steps"]:
        assert set(schema["$defs"][f"{step['type']}_step"]["required"]) == set(step)


def test_every_schema_pattern_has_a_readable_message() -> None:
    patterns = re.findall(r'"pattern": ("(?:[^"\\]|\\.)*")', json.dumps(plan_schema()))
    assert {json.loads(pattern) for pattern in patterns} == set(_PATTERN_HINTS)


def test_canonical_bytes_of_a_valid_plan_are_stable() -> None:
    data = check_plan(realistic_plan())
    assert canonical_json(data) == canonical_json(json.loads(canonical_json(data)))


def test_documented_example_is_valid_and_its_hash_is_right() -> None:
    from plue.plan import content_hash

    doc = (ROOT / "docs" / "plan-format.md").read_text("utf-8")
    section = doc.split("## Full example", 1)[1]
    stated = re.search(r"content hash is\s+`([0-9a-f]{64})`", section)
    example = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert stated and example
    data = json.loads(example.group(1))
    assert validate_plan(data) == []
    assert content_hash(data) == stated.group(1)


def test_llm_steps_name_known_tools_a_valid_output_schema_and_a_prompt_file_inside() -> None:
    data = simple_plan(
        Step.llm("l", "hi", tools=["read_file", "bash:npm,pytest", "git:write", "gerp", "rm_rf"]),
        Step.llm("m", prompt_file="../outside.md", output_schema={"type": "objekt"}),
        Step.llm("n", prompt_file="/etc/prompt.md"),
        Step.llm("ok", prompt_file="prompts/review.md", output_schema={"type": "object"}, tools=["grep"]),
    )
    assert messages(data) == [
        "steps[0] (l): tools: unknown tool 'gerp'; did you mean 'grep'?",
        "steps[0] (l): tools: unknown tool 'rm_rf'; the tools are: read_file, write_file, edit_file, list_files, grep,"
        " bash, git",
        "steps[1] (m): prompt_file '../outside.md' must be a path inside the repository (relative, no ..)",
        "steps[1] (m): output_schema is not a valid JSON Schema: 'objekt' is not valid under any of the given schemas"
        " (at type)",
        "steps[2] (n): prompt_file '/etc/prompt.md' must be a path inside the repository (relative, no ..)",
    ]


def test_validation_knows_the_llm_layers_tool_names() -> None:
    from plue.llm.tools import KNOWN_TOOLS
    from plue.validation.llm import TOOL_NAMES

    assert TOOL_NAMES == KNOWN_TOOLS
