"""GitHub webhooks (push, pull_request, issues, issue_comment) → `Event`.

Webhook payloads are untrusted input. Every field the model uses is type-checked, refs
and SHAs are checked against git's own rules (runners hand them to git), and every
failure is an `EventError` with a short message naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plue.events.errors import EventError, quote, type_name
from plue.events.model import (
    GITHUB_EVENTS,
    LABEL_ACTIONS,
    Event,
    IssueInfo,
    PullRequestInfo,
)
from plue.events.payloads import (
    MAX_PUSH_COMMITS,
    REPOSITORY_RE,
    ZERO_SHA_RE,
    Reader,
    load_payload,
)

# --- GitHub webhooks -------------------------------------------------------


def parse_event(name: str, payload: bytes | str | Mapping[str, Any]) -> Event:
    """Build an event from a GitHub webhook.

    `name` is the ``X-GitHub-Event`` header; `payload` the JSON body (bytes or text) or
    the already-decoded object. Raises `EventError` for anything that is not a valid
    push, pull_request, issues or issue_comment webhook.
    """
    if type(name) is not str:
        raise EventError(f"event name must be a string, not {type_name(name)}")
    name = name.strip()
    if name not in GITHUB_EVENTS:
        raise EventError(unsupported_event_message(name))
    data = load_payload(payload)
    reader = Reader(data, f"{name} payload")
    return PARSERS[name](reader, data)


def unsupported_event_message(name: str) -> str:
    if name in ("schedule", "manual"):
        return f"'{name}' is not a GitHub webhook; build it with {name}_event(...)"
    return f"unsupported event {quote(name, 40)} (supported: {', '.join(GITHUB_EVENTS)})"


def split_ref(ref: str) -> tuple[str | None, str | None]:
    """Full ref -> (branch, tag) short names."""
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :], None
    if ref.startswith("refs/tags/"):
        return None, ref[len("refs/tags/") :]
    return None, None


def repository_of(reader: Reader) -> tuple[str, str | None]:
    repo = reader.obj("repository")
    full_name = repo.text("full_name")
    if not REPOSITORY_RE.match(full_name):
        raise repo.fail("full_name", f"is not owner/name: {quote(full_name, 60)}")
    has_default = repo.opt_text("default_branch") is not None
    default_branch = repo.branch("default_branch") if has_default else None
    return full_name, default_branch


def actor(reader: Reader) -> str | None:
    sender = reader.opt_obj("sender")
    return None if sender is None else sender.opt_text("login")


def acted_label(reader: Reader, action: str) -> str | None:
    if action not in LABEL_ACTIONS:
        return None
    label = reader.opt_obj("label")
    return None if label is None else label.text("name")


def labels_after(names: list[str], action: str, label: str | None) -> tuple[str, ...]:
    """The labels once the action is done (payloads normally show this already)."""
    if label is not None and action == "labeled" and label not in names:
        names = [*names, label]
    if label is not None and action == "unlabeled":
        names = [name for name in names if name != label]
    return tuple(names)


def default_ref(default_branch: str | None) -> str | None:
    return None if default_branch is None else "refs/heads/" + default_branch


def parse_push(reader: Reader, data: dict[str, Any]) -> Event:
    ref = reader.ref("ref")
    after = reader.text("after")
    deleted = reader.flag("deleted") or bool(ZERO_SHA_RE.match(after))
    if not deleted:
        after = reader.sha("after")
    forced = reader.flag("forced")
    created = reader.flag("created")
    branch, tag = split_ref(ref)
    repository, default_branch = repository_of(reader)
    return Event(
        name="push",
        ref=ref,
        branch=branch,
        tag=tag,
        sha=None if deleted else after,
        actor=actor(reader),
        repository=repository,
        default_branch=default_branch,
        changed_files=push_changed_files(reader, deleted=deleted, forced=forced),
        deleted=deleted,
        forced=forced,
        created=created,
        payload=data,
    )


def push_changed_files(reader: Reader, *, deleted: bool, forced: bool) -> tuple[str, ...] | None:
    """The union of files added, removed or modified by the pushed commits, or None if unknown.

    Unknown when: the list is absent or possibly truncated; a commit lacks its file lists
    (the copy of the payload GitHub Actions gets has none); the push was forced (commits
    dropped by the rewrite changed files too, and they are not listed); or no commits
    are listed for a ref that still exists (a new ref pointing at existing commits: what
    changed depends on what it is compared with).
    """
    if deleted:
        return ()  # a deleted ref changes no files
    commits = reader.array("commits")
    if commits is None or forced or not commits or len(commits) >= MAX_PUSH_COMMITS:
        return None
    files: set[str] = set()
    for index, commit in enumerate(commits):
        if type(commit) is not dict:
            raise reader.fail(f"commits[{index}]", f"must be an object, not {type_name(commit)}")
        lists = [commit.get(key) for key in ("added", "removed", "modified")]
        if all(item is None for item in lists):
            return None
        for key, paths in zip(("added", "removed", "modified"), lists, strict=True):
            files.update(path_list(reader, paths, f"commits[{index}].{key}"))
    return tuple(sorted(files))


def path_list(reader: Reader, value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if type(value) is not list or not all(type(item) is str and item for item in value):
        raise reader.fail(key, "must be a list of file paths")
    return value


def parse_pull_request(reader: Reader, data: dict[str, Any]) -> Event:
    action = reader.text("action")
    pr = reader.obj("pull_request")
    head, base = pr.obj("head"), pr.obj("base")
    info = PullRequestInfo(
        number=pr.number("number"),
        title=pr.text("title"),
        base_ref=base.branch("ref"),
        base_sha=base.sha("sha"),
        head_ref=head.branch("ref"),
        head_sha=head.sha("sha"),
        draft=pr.flag("draft"),
        merged=pr.flag("merged") or pr.opt_text("merged_at") is not None,
        state=pr.text("state"),
    )
    label = acted_label(reader, action)
    repository, default_branch = repository_of(reader)
    return Event(
        name="pull_request",
        action=action,
        ref=f"refs/pull/{info.number}/head",
        sha=info.head_sha,
        actor=actor(reader),
        repository=repository,
        default_branch=default_branch,
        labels=labels_after(pr.label_names("labels"), action, label),
        pull_request=info,
        label=label,
        payload=data,
    )


def issue_info(reader: Reader) -> IssueInfo:
    return IssueInfo(
        number=reader.number("number"),
        title=reader.text("title"),
        state=reader.text("state"),
        is_pull_request=reader.opt_obj("pull_request") is not None,
    )


def parse_issues(reader: Reader, data: dict[str, Any]) -> Event:
    return issue_event("issues", reader, data, comment_body=None)


def parse_issue_comment(reader: Reader, data: dict[str, Any]) -> Event:
    body = reader.obj("comment").text("body")
    return issue_event("issue_comment", reader, data, comment_body=body)


def issue_event(name: str, reader: Reader, data: dict[str, Any], comment_body: str | None) -> Event:
    action = reader.text("action")
    issue = reader.obj("issue")
    label = acted_label(reader, action) if name == "issues" else None
    repository, default_branch = repository_of(reader)
    return Event(
        name=name,
        action=action,
        # As on GitHub, these events run the default branch's code.
        ref=default_ref(default_branch),
        branch=default_branch,
        actor=actor(reader),
        repository=repository,
        default_branch=default_branch,
        labels=labels_after(issue.label_names("labels"), action, label),
        issue=issue_info(issue),
        comment_body=comment_body,
        label=label,
        payload=data,
    )


PARSERS = {
    "push": parse_push,
    "pull_request": parse_pull_request,
    "issues": parse_issues,
    "issue_comment": parse_issue_comment,
}
