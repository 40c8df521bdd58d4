"""The event model: parsing real GitHub webhooks, schedules, manual runs and ctx data."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from plue.events import (
    Event,
    EventError,
    build_context_data,
    load_payload,
    manual_event,
    parse_event,
    schedule_event,
)

FIXTURES = Path(__file__).parent / "fixtures" / "events"
ZERO = "0" * 40
SHA_A = "a" * 40
SHA_B = "b" * 40
CONTEXT_KEYS = {
    "name", "action", "ref", "branch", "tag", "sha", "actor", "repository", "default_branch",
    "labels", "changed_files", "pull_request", "issue", "comment_body", "deleted", "forced",
    "label", "schedule", "inputs", "payload",
}  # fmt: skip


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def commit(added: Sequence[str] = (), removed: Sequence[str] = (), modified: Sequence[str] = ()) -> dict[str, Any]:
    return {"id": SHA_A, "added": list(added), "removed": list(removed), "modified": list(modified)}


def push_payload(**changes: Any) -> dict[str, Any]:
    data = load("push")
    data.update(changes)
    return data


def only_plain(value: Any) -> bool:
    if value is None or type(value) in (str, int, bool):
        return True
    if type(value) is list:
        return all(only_plain(item) for item in value)
    if type(value) is dict:
        return all(type(key) is str and only_plain(item) for key, item in value.items())
    return False


# --- push -------------------------------------------------------------------


def test_push_to_a_branch() -> None:
    event = parse_event("push", raw("push"))
    assert event.name == "push"
    assert event.action is None
    assert event.ref == "refs/heads/master"
    assert (event.branch, event.tag) == ("master", None)
    assert event.sha == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert event.actor == "Codertocat"
    assert event.repository == "Codertocat/Hello-World"
    assert event.default_branch == "master"
    assert event.changed_files == ("README.md",)
    assert (event.deleted, event.forced, event.created) == (False, False, True)
    assert event.labels == ()
    assert event.pull_request is None and event.issue is None
    assert event.payload == load("push")


def test_push_of_a_tag_with_no_commits_has_unknown_changed_files() -> None:
    event = parse_event("push", raw("push-tag"))
    assert (event.branch, event.tag) == (None, "simple-tag")
    assert event.ref == "refs/tags/simple-tag"
    assert event.sha == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    # A new ref with no commits listed: what changed depends on the comparison base.
    assert event.changed_files is None
    assert event.created


def test_push_deleting_a_tag() -> None:
    event = parse_event("push", raw("push-tag-deleted"))
    assert event.deleted
    assert event.tag == "simple-tag"
    assert event.sha is None
    assert event.changed_files == ()


def test_push_deleting_a_branch() -> None:
    payload = push_payload(
        ref="refs/heads/feature/x",
        before=SHA_A,
        after=ZERO,
        created=False,
        deleted=True,
        commits=[],
        head_commit=None,
    )
    event = parse_event("push", payload)
    assert event.deleted
    assert event.branch == "feature/x"
    assert event.sha is None
    assert event.changed_files == ()


def test_all_zero_after_means_deleted_even_without_the_flag() -> None:
    payload = push_payload(after=ZERO, commits=[])
    del payload["deleted"]
    event = parse_event("push", payload)
    assert event.deleted and event.sha is None


def test_forced_push_has_unknown_changed_files() -> None:
    payload = push_payload(forced=True, created=False, before=SHA_B)
    event = parse_event("push", payload)
    assert event.forced
    assert event.sha == payload["after"]
    # Files changed by the commits the rewrite dropped are not listed.
    assert event.changed_files is None


def test_changed_files_are_the_sorted_union_over_commits() -> None:
    commits = [
        commit(added=["src/new.py"], modified=["README.md"]),
        commit(removed=["old.txt"], modified=["README.md", "docs/a.md"]),
    ]
    event = parse_event("push", push_payload(created=False, commits=commits))
    assert event.changed_files == ("README.md", "docs/a.md", "old.txt", "src/new.py")


def test_changed_files_unknown_without_a_commit_list() -> None:
    payload = push_payload()
    del payload["commits"]
    assert parse_event("push", payload).changed_files is None


def test_changed_files_unknown_when_the_list_may_be_truncated() -> None:
    # GitHub lists at most 2048 commits; a list that long may have been cut.
    at_cap = [commit(modified=[f"f{n}"]) for n in range(2048)]
    assert parse_event("push", push_payload(commits=at_cap)).changed_files is None
    below = at_cap[:2047]
    files = parse_event("push", push_payload(commits=below)).changed_files
    assert files is not None and len(files) == 2047


def test_changed_files_unknown_when_commits_lack_file_lists() -> None:
    # The copy of the payload GitHub Actions sees has no added/removed/modified.
    bare = {"id": SHA_A, "message": "x"}
    event = parse_event("push", push_payload(commits=[commit(added=["a"]), bare]))
    assert event.changed_files is None


def test_changed_files_unknown_for_an_update_listing_no_commits() -> None:
    event = parse_event("push", push_payload(created=False, commits=[]))
    assert event.changed_files is None


def test_push_to_a_ref_that_is_neither_branch_nor_tag() -> None:
    event = parse_event("push", push_payload(ref="refs/notes/commits"))
    assert event.ref == "refs/notes/commits"
    assert (event.branch, event.tag) == (None, None)


def test_sha256_repositories_are_accepted() -> None:
    sha = "c" * 64
    assert parse_event("push", push_payload(after=sha)).sha == sha


def test_payload_may_be_bytes_text_or_mapping() -> None:
    from_bytes = parse_event("push", raw("push"))
    from_text = parse_event("push", raw("push").decode())
    from_mapping = parse_event("push", load("push"))
    assert from_bytes == from_text == from_mapping


def test_header_value_whitespace_is_ignored() -> None:
    assert parse_event(" push\r\n", raw("push")).name == "push"


def test_event_is_frozen_and_hashable() -> None:
    event = parse_event("push", raw("push"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.sha = None  # type: ignore[misc]
    assert hash(event) == hash(parse_event("push", raw("push")))


def test_events_only_have_known_names() -> None:
    with pytest.raises(EventError, match="event name 'release' is not one of: push"):
        Event(name="release")


def test_mapping_payload_is_copied() -> None:
    payload = load("push")
    event = parse_event("push", payload)
    payload["ref"] = "refs/heads/changed"
    assert event.payload["ref"] == "refs/heads/master"


# --- pull_request -------------------------------------------------------------


def test_pull_request_opened() -> None:
    event = parse_event("pull_request", raw("pull_request.opened"))
    assert event.name == "pull_request"
    assert event.action == "opened"
    assert event.ref == "refs/pull/2/head"
    # The head may be a fork's branch of any name: no `branch` to confuse with ours.
    assert (event.branch, event.tag) == (None, None)
    assert event.sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert event.changed_files is None
    pr = event.pull_request
    assert pr is not None
    assert pr.to_data() == {
        "number": 2,
        "title": "Update the README with new information.",
        "base": {"ref": "master", "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"},
        "head": {"ref": "changes", "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
        "draft": False,
        "merged": False,
        "state": "open",
    }
    assert event.issue is None
    assert event.repository == "Codertocat/Hello-World"


def test_pull_request_synchronize_runs_the_new_head() -> None:
    data = load("pull_request.synchronize")
    event = parse_event("pull_request", data)
    assert event.action == "synchronize"
    assert event.sha == data["pull_request"]["head"]["sha"] == data["after"]


def test_pull_request_closed_without_merge() -> None:
    event = parse_event("pull_request", raw("pull_request.closed"))
    assert event.action == "closed"
    assert event.pull_request is not None
    assert event.pull_request.state == "closed"
    assert event.pull_request.merged is False


def test_pull_request_closed_and_merged() -> None:
    data = load("pull_request.closed")
    data["pull_request"]["merged"] = True
    event = parse_event("pull_request", data)
    assert event.pull_request is not None and event.pull_request.merged


def test_merged_at_counts_when_merged_is_null() -> None:
    data = load("pull_request.closed")
    data["pull_request"]["merged"] = None
    data["pull_request"]["merged_at"] = "2019-05-15T15:20:33Z"
    event = parse_event("pull_request", data)
    assert event.pull_request is not None and event.pull_request.merged


def test_pull_request_labeled() -> None:
    event = parse_event("pull_request", raw("pull_request.labeled"))
    assert event.action == "labeled"
    assert event.label == "bug"
    assert "bug" in event.labels


def test_draft_pull_request() -> None:
    data = load("pull_request.opened")
    data["pull_request"]["draft"] = True
    event = parse_event("pull_request", data)
    assert event.pull_request is not None and event.pull_request.draft


def test_changed_files_can_be_filled_in_later() -> None:
    event = parse_event("pull_request", raw("pull_request.opened"))
    filled = event.with_changed_files(["src/b.py", "README.md", "src/b.py"])
    assert filled.changed_files == ("README.md", "src/b.py")
    assert event.changed_files is None
    assert filled.with_changed_files(None).changed_files is None


@pytest.mark.parametrize("files", ["README.md", [""], [3]])
def test_changed_files_must_be_paths(files: Any) -> None:
    event = parse_event("pull_request", raw("pull_request.opened"))
    with pytest.raises(EventError, match="changed files"):
        event.with_changed_files(files)


# --- issues and issue_comment -------------------------------------------------


def test_issue_opened() -> None:
    event = parse_event("issues", raw("issues.opened"))
    assert event.name == "issues"
    assert event.action == "opened"
    assert event.issue is not None
    assert event.issue.to_data() == {
        "number": 1,
        "title": "Spelling error in the README file",
        "state": "open",
        "is_pull_request": False,
    }
    assert event.labels == ("bug",)
    assert event.sha is None
    # As on GitHub, issue events run the default branch.
    assert (event.ref, event.branch) == ("refs/heads/master", "master")
    assert event.label is None


def test_issue_labeled() -> None:
    event = parse_event("issues", raw("issues.labeled"))
    assert (event.action, event.label) == ("labeled", "bug")
    assert event.labels == ("bug",)


def test_labeled_label_is_added_when_the_payload_lags() -> None:
    data = load("issues.labeled")
    data["label"]["name"] = "urgent"
    event = parse_event("issues", data)
    assert event.labels == ("bug", "urgent")


def test_unlabeled_label_is_gone_from_labels() -> None:
    event = parse_event("issues", raw("issues.unlabeled"))
    assert (event.action, event.label) == ("unlabeled", "bug")
    assert event.labels == ()


def test_issue_comment_on_an_issue() -> None:
    event = parse_event("issue_comment", raw("issue_comment.created"))
    assert event.name == "issue_comment"
    assert event.action == "created"
    assert event.comment_body == "You are totally right! I'll get this fixed right away."
    assert event.issue is not None and not event.issue.is_pull_request
    assert event.pull_request is None
    assert event.sha is None
    assert event.label is None


def test_issue_comment_on_a_pull_request() -> None:
    data = load("issue_comment.created")
    data["issue"]["pull_request"] = {
        "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1",
        "html_url": "https://github.com/Codertocat/Hello-World/pull/1",
    }
    data["comment"]["body"] = "/deploy staging"
    event = parse_event("issue_comment", data)
    assert event.issue is not None and event.issue.is_pull_request
    assert event.comment_body == "/deploy staging"
    assert event.to_context_data()["issue"]["is_pull_request"] is True


# --- context data -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fixture"),
    [
        ("push", "push"),
        ("push", "push-tag"),
        ("push", "push-tag-deleted"),
        ("pull_request", "pull_request.opened"),
        ("pull_request", "pull_request.labeled"),
        ("issues", "issues.labeled"),
        ("issue_comment", "issue_comment.created"),
    ],
)
def test_context_data_has_exactly_the_documented_keys(name: str, fixture: str) -> None:
    data = parse_event(name, raw(fixture)).to_context_data()
    assert set(data) == CONTEXT_KEYS
    assert only_plain(data)
    assert json.loads(json.dumps(data)) == data
    assert data["payload"] == load(fixture)


def test_context_data_values_for_a_push() -> None:
    data = parse_event("push", raw("push")).to_context_data()
    assert data["labels"] == []
    assert data["changed_files"] == ["README.md"]
    assert data["pull_request"] is None and data["issue"] is None
    assert data["inputs"] == {}


def test_context_data_is_a_fresh_copy() -> None:
    event = parse_event("push", raw("push"))
    data = event.to_context_data()
    data["payload"]["ref"] = "mutated"
    data["labels"].append("x")
    assert event.payload["ref"] == "refs/heads/master"
    assert event.to_context_data()["payload"]["ref"] == "refs/heads/master"


def test_floats_are_kept_out_of_the_context() -> None:
    event = parse_event("push", raw("push").replace(b'"forced": false', b'"forced": false, "f": 1.5, "g": 2.0'))
    assert event.payload["f"] == "1.5"
    assert event.payload["g"] == 2
    mapped = parse_event("push", push_payload(f=0.25, g=3.0))
    assert (mapped.payload["f"], mapped.payload["g"]) == ("0.25", 3)


def test_build_context_without_an_event() -> None:
    assert build_context_data(None) == {
        "event": None,
        "inputs": {},
        "repo": {"name": None, "default_branch": None},
    }


def test_build_context_takes_repo_from_the_event() -> None:
    event = parse_event("push", raw("push"))
    ctx = build_context_data(event)
    assert ctx["repo"] == {"name": "Codertocat/Hello-World", "default_branch": "master"}
    assert ctx["event"] == event.to_context_data()
    assert ctx["inputs"] == {}


def test_build_context_repo_overrides_per_key() -> None:
    event = parse_event("push", raw("push"))
    ctx = build_context_data(event, repo={"default_branch": "main"})
    assert ctx["repo"] == {"name": "Codertocat/Hello-World", "default_branch": "main"}


def test_build_context_inputs_default_to_manual_inputs() -> None:
    event = manual_event({"target": "staging", "dry_run": True})
    assert build_context_data(event)["inputs"] == {"target": "staging", "dry_run": True}
    assert build_context_data(event, inputs={"target": "prod"})["inputs"] == {"target": "prod"}


def test_build_context_checks_its_arguments() -> None:
    with pytest.raises(EventError, match="unknown key 'url'"):
        build_context_data(None, repo={"url": "x"})
    with pytest.raises(EventError, match="must be a string or None"):
        build_context_data(None, repo={"name": 3})
    with pytest.raises(EventError, match="must be an Event"):
        build_context_data({"name": "push"})  # type: ignore[arg-type]
    with pytest.raises(EventError, match="inputs must be a mapping"):
        build_context_data(None, inputs=["a"])  # type: ignore[arg-type]
    with pytest.raises(EventError, match="not JSON data"):
        build_context_data(None, inputs={"when": datetime.now(UTC)})


# --- schedule and manual ------------------------------------------------------


def test_schedule_event() -> None:
    at = datetime(2024, 5, 6, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    event = schedule_event("0  9 * *\t1", at, "acme/app", default_branch="main")
    assert event.name == "schedule"
    assert event.schedule == "0 9 * * 1"
    assert event.payload == {"schedule": "0 9 * * 1", "scheduled_at": "2024-05-06T07:00:00Z"}
    assert (event.repository, event.default_branch) == ("acme/app", "main")
    assert (event.ref, event.branch, event.sha) == ("refs/heads/main", "main", None)
    assert set(event.to_context_data()) == CONTEXT_KEYS


def test_schedule_event_accepts_iso_text_and_a_time_zone() -> None:
    event = schedule_event("*/5 * * * *", "2024-05-06T07:00:00Z", tz="Europe/Paris")
    assert event.payload == {
        "schedule": "*/5 * * * *",
        "scheduled_at": "2024-05-06T07:00:00Z",
        "tz": "Europe/Paris",
    }
    assert event.ref is None and event.repository is None


@pytest.mark.parametrize(
    ("cron", "at", "fragment"),
    [
        ("0 9 * *", "2024-05-06T07:00:00Z", "must have 5 fields"),
        (5, "2024-05-06T07:00:00Z", "cron must be a string"),
        ("0 9 * * 1", "yesterday", "not an ISO 8601 time"),
        ("0 9 * * 1", "2024-05-06T07:00:00", "must carry a time zone"),
        ("0 9 * * 1", datetime(2024, 5, 6), "must carry a time zone"),
        ("0 9 * * 1", 1714978800, "must be a datetime"),
    ],
)
def test_schedule_event_errors(cron: Any, at: Any, fragment: str) -> None:
    with pytest.raises(EventError, match=fragment):
        schedule_event(cron, at)


def test_schedule_event_checks_repository_and_branch() -> None:
    with pytest.raises(EventError, match="owner/name"):
        schedule_event("0 9 * * 1", "2024-05-06T07:00:00Z", "not a repo")
    with pytest.raises(EventError, match="not a valid branch name"):
        schedule_event("0 9 * * 1", "2024-05-06T07:00:00Z", default_branch="a..b")
    with pytest.raises(EventError, match="time zone name"):
        schedule_event("0 9 * * 1", "2024-05-06T07:00:00Z", tz="")


def test_manual_event() -> None:
    event = manual_event({"target": "staging"}, actor="mona", ref="dev", repository="acme/app")
    assert event.name == "manual"
    assert event.inputs == {"target": "staging"}
    assert (event.ref, event.branch, event.tag) == ("refs/heads/dev", "dev", None)
    assert event.actor == "mona"
    data = event.to_context_data()
    assert set(data) == CONTEXT_KEYS
    assert data["inputs"] == {"target": "staging"}


def test_manual_event_defaults() -> None:
    event = manual_event(default_branch="main")
    assert (event.ref, event.branch, event.inputs) == ("refs/heads/main", "main", {})
    assert manual_event().ref is None


def test_manual_event_full_refs_and_sha() -> None:
    event = manual_event(ref="refs/tags/v1.2.0", sha=SHA_A)
    assert (event.branch, event.tag, event.sha) == (None, "v1.2.0", SHA_A)


def test_manual_event_inputs_are_copied() -> None:
    inputs = {"names": ["a"]}
    event = manual_event(inputs)
    inputs["names"].append("b")
    assert event.inputs == {"names": ["a"]}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"inputs": "x=1"}, "inputs must be a mapping"),
        ({"inputs": {1: "x"}}, "keys must be strings"),
        ({"inputs": {"x": {1, 2}}}, "not JSON data"),
        ({"inputs": {"x": float("nan")}}, "not a JSON number"),
        ({"ref": "a b"}, "not a valid git ref"),
        ({"ref": "-rf"}, "may not start with '-'"),
        ({"ref": 3}, "ref must be a string"),
        ({"sha": "HEAD"}, "not a commit SHA"),
        ({"actor": ""}, "actor must be a user name"),
        ({"repository": "acme"}, "owner/name"),
    ],
)
def test_manual_event_errors(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(EventError, match=fragment):
        manual_event(**kwargs)


# --- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"{not json", "payload is not valid JSON"),
        (b"", "payload is not valid JSON"),
        (b'{"a": 1} trailing', "payload is not valid JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"[1, 2]", "must be a JSON object, not a list"),
        (b"42", "must be a JSON object, not an integer"),
        (b"null", "must be a JSON object, not null"),
        (b'{"x": NaN}', "NaN is not a JSON value"),
        (b"[" * 300 + b"]" * 300, "nested more than"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than"),
        ("{oops", "payload is not valid JSON"),
        (12, "must be JSON bytes, text or a mapping"),
        ({"a": object()}, "not JSON data"),
    ],
)
def test_bad_payloads_are_clear_errors(payload: Any, fragment: str) -> None:
    with pytest.raises(EventError) as caught:
        parse_event("push", payload)
    assert fragment in str(caught.value)
    assert len(str(caught.value)) < 300


def test_lone_surrogates_are_refused_but_escaped_pairs_decode() -> None:
    with pytest.raises(EventError, match="not valid Unicode"):
        load_payload(b'{"title": "\\ud800"}')
    with pytest.raises(EventError, match="inputs holds text that is not valid Unicode"):
        manual_event({"x": "\ud800"})
    assert load_payload(b'{"title": "\\ud83d\\ude00 ok"}') == {"title": "\U0001f600 ok"}


def test_a_payload_larger_than_github_sends_is_refused() -> None:
    with pytest.raises(EventError, match="larger than 25 MB"):
        load_payload(b" " * (25 * 1024 * 1024 + 1))


def test_deep_mapping_payload_is_refused() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(300):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(EventError, match="nested more than"):
        load_payload(deep)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("ping", "unsupported event 'ping'"),
        ("workflow_dispatch", "unsupported event"),
        ("Push", "unsupported event"),
        ("schedule", "build it with schedule_event"),
        ("manual", "build it with manual_event"),
    ],
)
def test_unsupported_event_names(name: str, fragment: str) -> None:
    with pytest.raises(EventError) as caught:
        parse_event(name, raw("push"))
    assert fragment in str(caught.value)
    assert "push, pull_request, issues, issue_comment" in str(caught.value) or "_event" in str(caught.value)


def test_event_name_must_be_text() -> None:
    with pytest.raises(EventError, match="event name must be a string"):
        parse_event(b"push", raw("push"))  # type: ignore[arg-type]


def test_huge_unsupported_name_is_cut_in_the_message() -> None:
    with pytest.raises(EventError) as caught:
        parse_event("x" * 5000, "{}")
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ref": None}, "push payload: 'ref' is missing"),
        ({"ref": 7}, "push payload: 'ref' must be a string, not an integer"),
        ({"ref": "master"}, "push payload: 'ref' is not a valid git ref"),
        ({"ref": "refs/heads/a..b"}, "not a valid git ref"),
        ({"ref": "refs/heads/x y"}, "not a valid git ref"),
        ({"ref": "refs/heads/x.lock"}, "not a valid git ref"),
        ({"ref": "refs/heads/"}, "not a valid git ref"),
        ({"ref": "refs/heads/-x"}, "may not start with '-'"),
        ({"ref": "refs/heads/" + "x" * 5000}, "longer than"),
        ({"after": None}, "push payload: 'after' is missing"),
        ({"after": "abc"}, "push payload: 'after' is not a commit SHA"),
        ({"after": "A" * 40}, "is not a commit SHA"),
        ({"forced": "yes"}, "push payload: 'forced' must be true or false, not a string"),
        ({"deleted": 1}, "'deleted' must be true or false"),
        ({"commits": {}}, "push payload: 'commits' must be a list, not an object"),
        ({"commits": ["abc"]}, "push payload: 'commits[0]' must be an object"),
        ({"commits": [{"added": "a.txt"}]}, "'commits[0].added' must be a list of file paths"),
        ({"commits": [{"modified": [1]}]}, "'commits[0].modified' must be a list of file paths"),
        ({"repository": None}, "push payload: 'repository' is missing"),
        ({"repository": []}, "'repository' must be an object, not a list"),
        ({"repository": {"name": "x"}}, "'repository.full_name' is missing"),
        ({"repository": {"full_name": "no-slash"}}, "'repository.full_name' is not owner/name"),
        (
            {"repository": {"full_name": "a/b", "default_branch": "x..y"}},
            "'repository.default_branch' is not a valid branch name",
        ),
        ({"sender": "mona"}, "'sender' must be an object"),
    ],
)
def test_push_field_errors_name_the_field(change: dict[str, Any], message: str) -> None:
    payload = push_payload(created=False, **change)
    with pytest.raises(EventError) as caught:
        parse_event("push", payload)
    assert message in str(caught.value)
    assert len(str(caught.value)) < 300


def test_missing_sender_means_no_actor() -> None:
    payload = push_payload()
    del payload["sender"]
    assert parse_event("push", payload).actor is None


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("action",), None, "pull_request payload: 'action' is missing"),
        (("pull_request",), None, "'pull_request' is missing"),
        (("pull_request", "number"), "2", "'pull_request.number' must be a positive integer"),
        (("pull_request", "number"), True, "'pull_request.number' must be a positive integer"),
        (("pull_request", "number"), 0, "'pull_request.number' must be a positive integer"),
        (("pull_request", "head", "sha"), None, "'pull_request.head.sha' is missing"),
        (("pull_request", "head", "sha"), "zzz", "'pull_request.head.sha' is not a commit SHA"),
        (("pull_request", "base", "ref"), "a b", "'pull_request.base.ref' is not a valid branch"),
        (("pull_request", "head"), "x", "'pull_request.head' must be an object, not a string"),
        (("pull_request", "title"), 5, "'pull_request.title' must be a string"),
        (("pull_request", "draft"), "no", "'pull_request.draft' must be true or false"),
        (("pull_request", "labels"), "bug", "'pull_request.labels' must be a list"),
        (("pull_request", "labels"), ["bug"], "'pull_request.labels[0]' must be an object"),
        (("pull_request", "labels"), [{"id": 1}], "'pull_request.labels[0].name' is missing"),
    ],
)
def test_pull_request_field_errors(path: tuple[str, ...], value: Any, message: str) -> None:
    data = load("pull_request.opened")
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(EventError) as caught:
        parse_event("pull_request", data)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("name", "fixture", "path", "value", "message"),
    [
        ("issues", "issues.opened", ("issue",), None, "issues payload: 'issue' is missing"),
        ("issues", "issues.opened", ("issue", "number"), None, "'issue.number' is missing"),
        ("issues", "issues.opened", ("issue", "state"), 1, "'issue.state' must be a string"),
        ("issues", "issues.labeled", ("label",), "bug", "'label' must be an object"),
        ("issues", "issues.labeled", ("label", "name"), None, "'label.name' is missing"),
        (
            "issue_comment",
            "issue_comment.created",
            ("comment",),
            None,
            "issue_comment payload: 'comment' is missing",
        ),
        (
            "issue_comment",
            "issue_comment.created",
            ("comment", "body"),
            ["x"],
            "'comment.body' must be a string, not a list",
        ),
        (
            "issue_comment",
            "issue_comment.created",
            ("issue", "pull_request"),
            "yes",
            "'issue.pull_request' must be an object",
        ),
    ],
)
def test_issue_field_errors(name: str, fixture: str, path: tuple[str, ...], value: Any, message: str) -> None:
    data = load(fixture)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(EventError) as caught:
        parse_event(name, data)
    assert message in str(caught.value)


MUTATIONS: list[Any] = [None, 0, -1, True, "x", "", [], {}, [None], {"a": None}]
WATCHED = ("pull_request", "issue", "comment", "repository", "head", "base", "sender", "label")


def _mutated(data: dict[str, Any]) -> Any:
    """Every payload with one field (top level or in a watched object) set to an odd value."""
    text = json.dumps(data)
    for key in list(data):
        for value in MUTATIONS:
            copied = json.loads(text)
            copied[key] = value
            yield copied
        if key in WATCHED and isinstance(data[key], dict):
            for inner in _mutated(data[key]):
                copied = json.loads(text)
                copied[key] = inner
                yield copied


@pytest.mark.parametrize(
    ("name", "fixture"),
    [
        ("push", "push"),
        ("pull_request", "pull_request.labeled"),
        ("issues", "issues.labeled"),
        ("issue_comment", "issue_comment.created"),
    ],
)
def test_odd_field_values_never_escape_as_other_exceptions(name: str, fixture: str) -> None:
    outcomes = {"parsed": 0, "refused": 0}
    for payload in _mutated(load(fixture)):
        try:
            parse_event(name, payload)
        except EventError as exc:
            assert len(str(exc)) < 300
            outcomes["refused"] += 1
        else:
            outcomes["parsed"] += 1
    assert outcomes["parsed"] > 0 and outcomes["refused"] > 0
