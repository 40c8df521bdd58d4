"""Trigger matching: every rule, with the reason `plue workflow match` shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from plue import Trigger
from plue.events import (
    Event,
    EventError,
    Match,
    check_trigger,
    manual_event,
    match_trigger,
    match_triggers,
    parse_event,
    parse_trigger,
    schedule_event,
)

FIXTURES = Path(__file__).parent / "fixtures" / "events"
ZERO = "0" * 40
AT = "2024-05-06T07:00:00Z"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def push(ref: str = "refs/heads/main", files: list[str] | None = None, **changes: Any) -> Event:
    """A push event from the real payload, to `ref`, changing `files` (one commit)."""
    data = load("push")
    data.update(ref=ref, created=False)
    if files is not None:
        data["commits"] = [{"id": "a" * 40, "added": files, "removed": [], "modified": []}]
    data.update(changes)
    return parse_event("push", data)


def deletion(ref: str) -> Event:
    return push(ref, after=ZERO, deleted=True, commits=[], head_commit=None)


def pull_request(action: str = "opened", base: str = "master") -> Event:
    data = load("pull_request.opened")
    data["action"] = action
    data["pull_request"]["base"]["ref"] = base
    return parse_event("pull_request", data)


def issue_event(fixture: str = "issues.opened", **changes: Any) -> Event:
    data = load(fixture)
    data.update(changes)
    return parse_event("issues", data)


def comment(body: str = "/deploy staging", action: str = "created", on_pr: bool = False) -> Event:
    data = load("issue_comment.created")
    data["action"] = action
    data["comment"]["body"] = body
    if on_pr:
        data["issue"]["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/1"}
    return parse_event("issue_comment", data)


def check(trigger: Any, event: Event, matched: bool, reason: str) -> None:
    result = match_trigger(trigger, event)
    assert result == Match(matched, reason)


# --- Match ------------------------------------------------------------------


def test_match_is_truthy_only_when_matched_and_unpacks() -> None:
    assert Match(True, "yes")
    assert not Match(False, "no")
    matched, reason = Match(False, "because")
    assert (matched, reason) == (False, "because")


# --- push -------------------------------------------------------------------


def test_every_push_matches_a_push_trigger_without_filters() -> None:
    check(
        Trigger.on_push(),
        push("refs/heads/feature/x"),
        True,
        "push to branch feature/x (any branch or tag)",
    )
    check(Trigger.on_push(), push("refs/tags/v1"), True, "push of tag v1 (any branch or tag)")


def test_push_to_a_listed_branch() -> None:
    check(Trigger.on_push("main"), push(), True, "push to branch main matches 'main'")


def test_push_to_an_unlisted_branch() -> None:
    check(
        Trigger.on_push("main"),
        push("refs/heads/feature/x"),
        False,
        "branch feature/x does not match branches ['main']",
    )


def test_trigger_data_and_trigger_objects_match_alike() -> None:
    data = {"event": "push", "branches": ["main"], "tags": None, "paths": None}
    assert match_trigger(data, push()) == match_trigger(Trigger.on_push("main"), push())
    assert match_trigger({"event": "push", "branches": ["main"]}, push()).matched


@pytest.mark.parametrize(
    ("branch", "matched", "reason"),
    [
        ("releases/10", True, "push to branch releases/10 matches 'releases/**'"),
        ("releases/beta/mona", True, "push to branch releases/beta/mona matches 'releases/**'"),
        (
            "releases/10-alpha",
            False,
            "branch releases/10-alpha is excluded by '!releases/**-alpha'",
        ),
        (
            "main",
            False,
            "branch main does not match branches ['releases/**', '!releases/**-alpha']",
        ),
    ],
)
def test_branch_include_and_exclude(branch: str, matched: bool, reason: str) -> None:
    trigger = Trigger.on_push(branches=["releases/**", "!releases/**-alpha"])
    check(trigger, push(f"refs/heads/{branch}"), matched, reason)


def test_only_branches_means_tag_pushes_never_match() -> None:
    check(
        Trigger.on_push(branches="**"),
        push("refs/tags/v1"),
        False,
        "push of tag v1 does not match: the trigger lists only branches",
    )


def test_only_tags_means_branch_pushes_never_match() -> None:
    check(
        Trigger.on_push(tags="**"),
        push(),
        False,
        "push to branch main does not match: the trigger lists only tags",
    )


def test_tag_filters() -> None:
    trigger = Trigger.on_push(tags=["v[0-9]+.[0-9]+", "!v0.*"])
    check(trigger, push("refs/tags/v1.2"), True, "push of tag v1.2 matches 'v[0-9]+.[0-9]+'")
    check(trigger, push("refs/tags/v0.9"), False, "tag v0.9 is excluded by '!v0.*'")
    check(
        trigger,
        push("refs/tags/release"),
        False,
        "tag release does not match tags ['v[0-9]+.[0-9]+', '!v0.*']",
    )


def test_branches_and_tags_together() -> None:
    trigger = Trigger.on_push("main", tags="v*")
    assert match_trigger(trigger, push()).matched
    assert match_trigger(trigger, push("refs/tags/v2")).matched
    assert not match_trigger(trigger, push("refs/heads/dev")).matched
    assert not match_trigger(trigger, push("refs/tags/x")).matched


def test_real_tag_push_fixture() -> None:
    event = parse_event("push", (FIXTURES / "push-tag.json").read_bytes())
    check(Trigger.on_push(tags="simple-*"), event, True, "push of tag simple-tag matches 'simple-*'")


def test_paths_match_when_one_changed_file_passes() -> None:
    check(
        Trigger.on_push("main", paths="src/**"),
        push(files=["README.md", "src/app.py"]),
        True,
        "push to branch main matches 'main' and changed file src/app.py matches 'src/**'",
    )


def test_paths_do_not_match_when_no_changed_file_passes() -> None:
    check(
        Trigger.on_push("main", paths=["src/**"]),
        push(files=["README.md", "docs/a.md"]),
        False,
        "push to branch main matches 'main', but none of the 2 changed files"
        " (['README.md', 'docs/a.md']) matches paths ['src/**']",
    )


def test_paths_reason_for_a_single_file() -> None:
    check(
        Trigger.on_push(paths="src/**"),
        push(files=["README.md"]),
        False,
        "push to branch main (any branch or tag), but the changed file README.md does not match paths ['src/**']",
    )


def test_paths_negation_in_order() -> None:
    trigger = Trigger.on_push(paths=["**", "!docs/**"])
    check(
        trigger,
        push(files=["docs/guide.md"]),
        False,
        "push to branch main (any branch or tag), but the changed file docs/guide.md is excluded by '!docs/**'",
    )
    assert match_trigger(trigger, push(files=["docs/guide.md", "src/a.py"])).matched


def test_real_push_fixture_with_paths() -> None:
    event = parse_event("push", (FIXTURES / "push.json").read_bytes())
    assert match_trigger(Trigger.on_push("master", paths="*.md"), event).matched
    assert not match_trigger(Trigger.on_push("master", paths="src/**"), event).matched


def test_unknown_changed_files_skip_the_paths_filter() -> None:
    event = push(forced=True)
    assert event.changed_files is None
    check(
        Trigger.on_push("main", paths="src/**"),
        event,
        True,
        "push to branch main matches 'main'; the changed files are unknown, so paths"
        " ['src/**'] could not be applied (GitHub runs the workflow when it cannot compute"
        " the diff)",
    )


def test_no_changed_files_never_match_paths() -> None:
    event = push(files=["a"]).with_changed_files([])
    check(
        Trigger.on_push(paths="**"),
        event,
        False,
        "push to branch main (any branch or tag), but no files changed, so paths ['**'] cannot match",
    )


def test_paths_are_not_evaluated_for_tag_pushes() -> None:
    check(
        Trigger.on_push(tags="v*", paths="src/**"),
        push("refs/tags/v1", files=["README.md"]),
        True,
        "push of tag v1 matches 'v*'; paths are not evaluated for tag pushes",
    )


def test_branch_deletion_matches_branch_filters_as_on_github() -> None:
    check(
        Trigger.on_push("feature/*"),
        deletion("refs/heads/feature/x"),
        True,
        "push deleting branch feature/x matches 'feature/*' (a deletion: there is no commit, sha is None)",
    )


def test_branch_deletion_never_matches_a_paths_filter() -> None:
    check(
        Trigger.on_push("feature/*", paths="**"),
        deletion("refs/heads/feature/x"),
        False,
        "push deleting branch feature/x matches 'feature/*', but a deletion changes no files,"
        " so paths ['**'] cannot match",
    )
    assert not match_trigger(Trigger.on_push(paths="**"), deletion("refs/heads/x")).matched


def test_tag_deletion_fixture() -> None:
    event = parse_event("push", (FIXTURES / "push-tag-deleted.json").read_bytes())
    check(
        Trigger.on_push(tags="simple-tag"),
        event,
        True,
        "push deleting tag simple-tag matches 'simple-tag' (a deletion: there is no commit, sha is None)",
    )
    assert not match_trigger(Trigger.on_push("master"), event).matched


def test_push_to_other_refs() -> None:
    event = push("refs/notes/commits")
    check(Trigger.on_push(), event, True, "push to refs/notes/commits (any branch or tag)")
    check(
        Trigger.on_push("**"),
        event,
        False,
        "push to refs/notes/commits is neither a branch nor a tag, so branch and tag filters fail",
    )


def test_long_pattern_lists_are_shortened_in_reasons() -> None:
    trigger = Trigger.on_push(branches=[f"release-{n}" for n in range(50)])
    result = match_trigger(trigger, push())
    assert not result.matched
    assert "+44 more" in result.reason
    assert len(result.reason) < 400


# --- pull_request -------------------------------------------------------------


@pytest.mark.parametrize("action", ["opened", "synchronize", "reopened"])
def test_pull_request_default_types_match(action: str) -> None:
    check(
        Trigger.on_pull_request(),
        pull_request(action),
        True,
        f"pull_request {action} into master (any base branch)",
    )


def test_pull_request_action_not_in_default_types() -> None:
    check(
        Trigger.on_pull_request(),
        pull_request("closed"),
        False,
        "pull_request action 'closed' is not in types ['opened', 'synchronize', 'reopened']",
    )


def test_raw_trigger_without_types_uses_the_defaults() -> None:
    assert not match_trigger({"event": "pull_request"}, pull_request("labeled")).matched
    assert match_trigger({"event": "pull_request", "types": None}, pull_request("reopened")).matched


def test_pull_request_types_listed() -> None:
    trigger = Trigger.on_pull_request(["closed", "labeled"])
    closed = parse_event("pull_request", load("pull_request.closed"))
    labeled = parse_event("pull_request", load("pull_request.labeled"))
    assert match_trigger(trigger, closed).matched
    assert match_trigger(trigger, labeled).matched
    assert not match_trigger(trigger, pull_request("opened")).matched


def test_pull_request_branches_filter_the_base_branch() -> None:
    check(
        Trigger.on_pull_request(branches="master"),
        pull_request(),
        True,
        "pull_request opened into master matches 'master'",
    )
    # The head branch of the fixture is 'changes': it does not count.
    check(
        Trigger.on_pull_request(branches="changes"),
        pull_request(),
        False,
        "base branch master does not match branches ['changes']",
    )
    check(
        Trigger.on_pull_request(branches=["**", "!release/*"]),
        pull_request(base="release/2"),
        False,
        "base branch release/2 is excluded by '!release/*'",
    )


def test_pull_request_paths_unknown_until_filled_in() -> None:
    trigger = Trigger.on_pull_request(paths="src/**")
    event = pull_request()
    check(
        trigger,
        event,
        True,
        "pull_request opened into master (any base branch); the changed files are unknown, so"
        " paths ['src/**'] could not be applied (GitHub runs the workflow when it cannot"
        " compute the diff)",
    )
    assert not match_trigger(trigger, event.with_changed_files(["README.md"])).matched
    check(
        trigger,
        event.with_changed_files(["README.md", "src/x.py"]),
        True,
        "pull_request opened into master (any base branch) and changed file src/x.py matches 'src/**'",
    )


def test_pull_request_event_without_pull_request_data() -> None:
    event = Event(name="pull_request", action="opened")
    check(
        Trigger.on_pull_request(branches="main"),
        event,
        False,
        "pull_request opened has no base branch, so branches cannot match",
    )


# --- issues -----------------------------------------------------------------


def test_issues_without_filters_match_any_action() -> None:
    check(Trigger.on_issue(), issue_event(), True, "issues opened on issue #1 (any action)")
    labeled = issue_event("issues.labeled")
    assert match_trigger(Trigger.on_issue(), labeled).matched


def test_issues_types() -> None:
    check(Trigger.on_issue("opened"), issue_event(), True, "issues opened on issue #1")
    check(
        Trigger.on_issue(["closed", "reopened"]),
        issue_event(),
        False,
        "issues action 'opened' is not in types ['closed', 'reopened']",
    )


def test_issues_labels_carried() -> None:
    check(
        Trigger.on_issue(labels=["docs", "bug"]),
        issue_event(),
        True,
        "issues opened on issue #1: it has label 'bug'",
    )


def test_issues_labels_compare_case_insensitively() -> None:
    assert match_trigger(Trigger.on_issue(labels="BUG"), issue_event()).matched


def test_issues_labels_missing() -> None:
    check(
        Trigger.on_issue(labels="docs"),
        issue_event(),
        False,
        "issue #1 has none of the labels ['docs'] (it has ['bug'])",
    )
    data = load("issues.opened")
    data["issue"]["labels"] = []
    check(
        Trigger.on_issue(labels="docs"),
        parse_event("issues", data),
        False,
        "issue #1 has none of the labels ['docs'] (it has no labels)",
    )


def test_the_label_just_added_counts() -> None:
    data = load("issues.labeled")
    data["issue"]["labels"] = []  # even if the payload's list lags behind
    data["label"]["name"] = "triage"
    check(
        Trigger.on_issue("labeled", labels="triage"),
        parse_event("issues", data),
        True,
        "issues labeled on issue #1: label 'triage' was just added",
    )


def test_the_label_just_removed_counts() -> None:
    event = issue_event("issues.unlabeled")
    assert event.labels == ()
    check(
        Trigger.on_issue("unlabeled", labels="bug"),
        event,
        True,
        "issues unlabeled on issue #1: label 'bug' was just removed",
    )


# --- issue_comment ----------------------------------------------------------


def test_issue_comment_defaults_to_created() -> None:
    check(
        Trigger.on_issue_comment(),
        comment(),
        True,
        "issue_comment created on issue #1 (any comment)",
    )
    check(
        Trigger.on_issue_comment(),
        comment(action="edited"),
        False,
        "issue_comment action 'edited' is not in types ['created']",
    )


def test_issue_comment_contains() -> None:
    check(
        Trigger.on_issue_comment("/deploy"),
        comment(),
        True,
        "issue_comment created on issue #1 contains '/deploy'",
    )
    check(
        Trigger.on_issue_comment("/release"),
        comment(),
        False,
        "comment on issue #1 does not contain '/release'",
    )


def test_issue_comment_contains_is_case_sensitive() -> None:
    assert not match_trigger(Trigger.on_issue_comment("/Deploy"), comment()).matched


def test_issue_comment_on_a_pull_request() -> None:
    check(
        Trigger.on_issue_comment("/deploy"),
        comment(on_pr=True),
        True,
        "issue_comment created on pull request #1 contains '/deploy'",
    )


def test_issue_comment_types_listed() -> None:
    trigger = Trigger.on_issue_comment(types=["edited", "deleted"])
    assert match_trigger(trigger, comment(action="deleted")).matched
    assert not match_trigger(trigger, comment()).matched


def test_real_issue_comment_fixture() -> None:
    event = parse_event("issue_comment", (FIXTURES / "issue_comment.created.json").read_bytes())
    assert match_trigger(Trigger.on_issue_comment("fixed"), event).matched


def test_comment_without_body_does_not_contain_text() -> None:
    event = Event(name="issue_comment", action="created")
    assert not match_trigger(Trigger.on_issue_comment("x"), event).matched


# --- schedule and manual ------------------------------------------------------


def test_schedule_matches_the_same_cron() -> None:
    event = schedule_event("0 9 * * 1", AT)
    check(
        Trigger.on_schedule("0 9 * * 1"),
        event,
        True,
        "schedule '0 9 * * 1' matches this trigger's cron",
    )
    check(
        Trigger.on_schedule("0 10 * * 1"),
        event,
        False,
        "schedule fired for cron '0 9 * * 1', not this trigger's '0 10 * * 1'",
    )


def test_schedule_cron_whitespace_is_normalised() -> None:
    event = schedule_event("0\t9  * * 1", AT)
    assert match_trigger({"event": "schedule", "cron": " 0 9 *  * 1 ", "tz": None}, event).matched


def test_schedule_time_zone_must_agree_when_the_event_has_one() -> None:
    paris = schedule_event("0 9 * * 1", AT, tz="Europe/Paris")
    assert match_trigger(Trigger.on_schedule("0 9 * * 1", tz="Europe/Paris"), paris).matched
    check(
        Trigger.on_schedule("0 9 * * 1"),
        paris,
        False,
        "schedule '0 9 * * 1' fired in time zone 'Europe/Paris', this trigger uses 'UTC'",
    )
    # An event without a time zone matches on the cron alone.
    assert match_trigger(Trigger.on_schedule("0 9 * * 1", tz="Asia/Tokyo"), schedule_event("0 9 * * 1", AT)).matched


def test_manual_matches_any_manual_trigger() -> None:
    event = manual_event({"target": "prod"})
    check(Trigger.manual(), event, True, "a manual run matches the manual trigger")
    assert match_trigger(Trigger.manual({"target": {"options": ["prod", "dev"]}}), event).matched


def test_a_trigger_of_another_kind() -> None:
    check(Trigger.manual(), push(), False, "no trigger for event 'push' (this one is for 'manual')")


# --- match_triggers -----------------------------------------------------------


def test_first_matching_trigger_wins() -> None:
    triggers = [
        Trigger.on_issue(),
        Trigger.on_push("dev"),
        Trigger.on_push("main"),
        Trigger.on_push(),
    ]
    assert match_triggers(triggers, push()) == Match(True, "push to branch main matches 'main'")


def test_no_trigger_for_the_event() -> None:
    result = match_triggers([Trigger.on_push(), Trigger.manual()], issue_event())
    assert result == Match(False, "no trigger for event 'issues'")


def test_a_workflow_without_triggers() -> None:
    assert match_triggers([], push()) == Match(False, "the workflow has no triggers")


def test_one_failing_trigger_gives_its_reason() -> None:
    result = match_triggers([Trigger.manual(), Trigger.on_push("dev")], push())
    assert result == Match(False, "branch main does not match branches ['dev']")


def test_several_failing_triggers_are_numbered() -> None:
    triggers = [Trigger.on_push("dev"), Trigger.manual(), Trigger.on_push(tags="v*")]
    assert match_triggers(triggers, push()) == Match(
        False,
        "trigger 1: branch main does not match branches ['dev']; trigger 3: push to branch main"
        " does not match: the trigger lists only tags",
    )


def test_many_failing_triggers_give_a_bounded_reason() -> None:
    triggers = [Trigger.on_push(branches=[f"b{n}-{'x' * 40}" for n in range(6)])] * 30
    result = match_triggers(triggers, push())
    assert not result.matched
    assert len(result.reason) <= 600
    assert result.reason.startswith("trigger 1: branch main does not match")


def test_triggers_as_plan_data() -> None:
    from plue import Plan, Step

    plan = Plan("ci", [Step.bash("t", "true")], [Trigger.on_pull_request(), Trigger.on_push("main")])
    triggers = plan.to_data()["triggers"]
    assert match_triggers(triggers, push()).matched
    assert match_triggers(triggers, pull_request()).matched
    assert not match_triggers(triggers, comment()).matched


def test_an_invalid_trigger_is_an_error_even_if_another_matches() -> None:
    with pytest.raises(EventError, match="only '!' patterns"):
        match_triggers([Trigger.on_push(), {"event": "push", "branches": ["!main"]}], push())


@pytest.mark.parametrize(
    ("triggers", "event", "fragment"),
    [
        ({"event": "push"}, push(), "must be a list of triggers"),
        ("push", push(), "must be a list of triggers"),
        ([Trigger.on_push()], {"name": "push"}, "event must be an Event"),
    ],
)
def test_match_triggers_checks_its_arguments(triggers: Any, event: Any, fragment: str) -> None:
    with pytest.raises(EventError, match=fragment):
        match_triggers(triggers, event)


# --- checking trigger data ----------------------------------------------------


@pytest.mark.parametrize(
    "trigger",
    [
        Trigger.on_push(),
        Trigger.on_push("main", tags=["v*"], paths=["src/**", "!src/**/*.md"]),
        Trigger.on_pull_request(["opened", "labeled"], branches="main", paths="**.py"),
        Trigger.on_issue(labels=["bug"]),
        Trigger.on_issue_comment("/deploy", types=["created", "edited"]),
        Trigger.on_schedule("*/15 * * * *", tz="Europe/Paris"),
        Trigger.manual({"target": "staging"}),
    ],
)
def test_every_plan_trigger_is_accepted(trigger: Trigger) -> None:
    check_trigger(trigger)
    check_trigger(trigger.to_data())
    assert parse_trigger(trigger).event == trigger.event


def test_parse_trigger_applies_defaults() -> None:
    assert parse_trigger({"event": "pull_request"}).types == ("opened", "synchronize", "reopened")
    assert parse_trigger({"event": "issue_comment"}).types == ("created",)
    assert parse_trigger({"event": "issues"}).types is None
    assert parse_trigger({"event": "schedule", "cron": "0 0 * * *"}).tz == "UTC"


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        (["push"], "a trigger must be a mapping, not a list"),
        ({"event": "release"}, "trigger event 'release' is not one of: push, pull_request"),
        ({}, "trigger event None is not one of"),
        ({"event": ["push"]}, "trigger event ['push'] is not one of"),
        (
            {"event": "push", "branch": "main"},
            "push trigger: unknown key 'branch' (accepted: branches, tags, paths)",
        ),
        ({"event": "push", "branches": 3}, "push trigger: branches must be a non-empty list"),
        ({"event": "push", "branches": []}, "push trigger: branches must be a non-empty list"),
        (
            {"event": "push", "branches": ["main", 3]},
            "push trigger: branches must hold non-empty strings",
        ),
        (
            {"event": "push", "paths": ["src/[x"]},
            "push trigger: paths: pattern 'src/[x': '[' has no closing ']'",
        ),
        ({"event": "push", "tags": ["!v1"]}, "push trigger: tags ['!v1'] has only '!' patterns"),
        (
            {"event": "pull_request", "types": ["merged"]},
            "pull_request trigger: unknown type 'merged'",
        ),
        ({"event": "pull_request", "labels": ["x"]}, "unknown key 'labels'"),
        ({"event": "issue_comment", "contains": ""}, "contains must be a non-empty string"),
        ({"event": "issue_comment", "contains": 5}, "contains must be a non-empty string"),
        ({"event": "schedule"}, "schedule trigger: cron is missing"),
        ({"event": "schedule", "cron": "* * *"}, "must have 5 fields"),
        ({"event": "schedule", "cron": "* * * * *", "tz": 1}, "tz must be a non-empty string"),
        ({"event": "manual", "inputs": ["a"]}, "manual trigger: inputs must be a mapping"),
    ],
)
def test_invalid_trigger_data_is_a_clear_error(trigger: Any, message: str) -> None:
    with pytest.raises(EventError) as caught:
        check_trigger(trigger)
    assert message in str(caught.value)
    assert len(str(caught.value)) < 300
    with pytest.raises(EventError):
        match_trigger(trigger, push())
