"""The event model: GitHub webhooks (push, pull_request, issues, issue_comment), schedules
and manual runs, and the plain data workflow code sees as ``ctx.event``.

Webhook payloads are untrusted input. Every field the model uses is type-checked, refs
and SHAs are checked against git's own rules (runners hand them to git), and every
failure is an `EventError` with a short message naming the field.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from plue.events.errors import EventError, quote, type_name

GITHUB_EVENTS = ("push", "pull_request", "issues", "issue_comment")
EVENT_NAMES = (*GITHUB_EVENTS, "schedule", "manual")

# GitHub caps webhook payloads at 25 MB; anything larger did not come from GitHub.
MAX_PAYLOAD_BYTES = 25 * 1024 * 1024
MAX_NESTING = 200
# "The array includes a maximum of 2048 commits" (push webhook docs): a list this long
# may have been cut, so the files it names are not all the files changed.
MAX_PUSH_COMMITS = 2048
MAX_REF_LENGTH = 1024

SHA_RE = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")
ZERO_SHA_RE = re.compile(r"0+\Z")
REPOSITORY_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")
# What git check-ref-format refuses anywhere in a ref: control characters, space, ~ ^ : ? * [ \
_REF_FORBIDDEN_RE = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
LABEL_ACTIONS = ("labeled", "unlabeled")
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")
_TOO_DEEP = f"payload is nested more than {MAX_NESTING} levels deep"


# --- the model -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PullRequestInfo:
    """The parts of a pull request that workflows and triggers use."""

    number: int
    title: str
    base_ref: str  # branch name, e.g. "main"
    base_sha: str
    head_ref: str  # branch name in the head repository (which may be a fork)
    head_sha: str
    draft: bool = False
    merged: bool = False
    state: str = "open"

    def to_data(self) -> dict[str, Any]:
        """The ``ctx.event.pull_request`` data."""
        return {
            "number": self.number,
            "title": self.title,
            "base": {"ref": self.base_ref, "sha": self.base_sha},
            "head": {"ref": self.head_ref, "sha": self.head_sha},
            "draft": self.draft,
            "merged": self.merged,
            "state": self.state,
        }


@dataclass(frozen=True, kw_only=True)
class IssueInfo:
    """The parts of an issue that workflows and triggers use."""

    number: int
    title: str
    state: str = "open"
    is_pull_request: bool = False  # issue_comment also fires for comments on pull requests

    def to_data(self) -> dict[str, Any]:
        """The ``ctx.event.issue`` data."""
        return {
            "number": self.number,
            "title": self.title,
            "state": self.state,
            "is_pull_request": self.is_pull_request,
        }


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that may start workflow runs. Build it with `parse_event`,
    `schedule_event` or `manual_event`.

    `ref` is the ref whose code runs: the pushed ref; ``refs/pull/N/head`` for a pull
    request; the default branch for issues, comments and schedules (as on GitHub).
    `branch`/`tag` are the short names of a ``refs/heads/``/``refs/tags/`` ref; a pull
    request has ``branch=None`` (its head may be a fork's branch of any name: use
    ``pull_request.head_ref``). `sha` is the commit to run, None when GitHub gives none
    (issues, comments, schedules, deletions). `labels` are the labels after the action.
    `changed_files` is None when unknown.
    """

    name: str
    action: str | None = None
    ref: str | None = None
    branch: str | None = None
    tag: str | None = None
    sha: str | None = None
    actor: str | None = None
    repository: str | None = None
    default_branch: str | None = None
    labels: tuple[str, ...] = ()
    changed_files: tuple[str, ...] | None = None
    pull_request: PullRequestInfo | None = None
    issue: IssueInfo | None = None
    comment_body: str | None = None
    deleted: bool = False
    forced: bool = False
    created: bool = False
    label: str | None = None
    schedule: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict, hash=False)
    payload: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.name not in EVENT_NAMES:
            raise EventError(f"event name {quote(self.name, 40)} is not one of: {', '.join(EVENT_NAMES)}")

    def with_changed_files(self, files: Iterable[str] | None) -> Event:
        """A copy with `changed_files` set, e.g. from the pull request files API or a git diff."""
        if files is None:
            return replace(self, changed_files=None)
        if isinstance(files, str):
            raise EventError("changed files must be a list of paths, not a string")
        paths = []
        for path in files:
            if type(path) is not str or not path:
                raise EventError(f"changed files: {quote(path)} is not a path")
            paths.append(path)
        return replace(self, changed_files=tuple(sorted(set(paths))))

    def to_context_data(self) -> dict[str, Any]:
        """The plain JSON data workflow code sees as ``ctx.event`` (a fresh copy)."""
        return {
            "name": self.name,
            "action": self.action,
            "ref": self.ref,
            "branch": self.branch,
            "tag": self.tag,
            "sha": self.sha,
            "actor": self.actor,
            "repository": self.repository,
            "default_branch": self.default_branch,
            "labels": list(self.labels),
            "changed_files": None if self.changed_files is None else list(self.changed_files),
            "pull_request": None if self.pull_request is None else self.pull_request.to_data(),
            "issue": None if self.issue is None else self.issue.to_data(),
            "comment_body": self.comment_body,
            "deleted": self.deleted,
            "forced": self.forced,
            "label": self.label,
            "schedule": self.schedule,
            "inputs": copy.deepcopy(self.inputs),
            "payload": copy.deepcopy(self.payload),
        }


def build_context_data(
    event: Event | None,
    inputs: Mapping[str, Any] | None = None,
    repo: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The data behind a workflow's ``ctx``: ``{"event", "inputs", "repo"}``.

    `inputs` default to a manual event's inputs; `repo` (keys ``name``,
    ``default_branch``) defaults to the event's repository and default branch.
    """
    if event is not None and not isinstance(event, Event):
        raise EventError(f"event must be an Event or None, not {type(event).__name__}")
    if inputs is None:
        inputs = event.inputs if event is not None else {}
    repo_data = {
        "name": event.repository if event is not None else None,
        "default_branch": event.default_branch if event is not None else None,
    }
    if repo is not None:
        repo_data.update(_repo_overrides(repo))
    return {
        "event": None if event is None else event.to_context_data(),
        "inputs": _plain_inputs(inputs, "inputs"),
        "repo": repo_data,
    }


def _repo_overrides(repo: Mapping[str, Any]) -> dict[str, str | None]:
    if not isinstance(repo, Mapping):
        raise EventError(f"repo must be a mapping, not {type(repo).__name__}")
    unknown = sorted(str(key) for key in repo if key not in ("name", "default_branch"))
    if unknown:
        raise EventError(f"repo: unknown key {quote(unknown[0])} (accepted: name, default_branch)")
    values: dict[str, str | None] = {}
    for key, value in repo.items():
        if value is not None and type(value) is not str:
            raise EventError(f"repo: {key} must be a string or None, not {type_name(value)}")
        values[key] = value
    return values


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
        raise EventError(_unsupported_event_message(name))
    data = load_payload(payload)
    reader = _Reader(data, f"{name} payload")
    return _PARSERS[name](reader, data)


def _unsupported_event_message(name: str) -> str:
    if name in ("schedule", "manual"):
        return f"'{name}' is not a GitHub webhook; build it with {name}_event(...)"
    return f"unsupported event {quote(name, 40)} (supported: {', '.join(GITHUB_EVENTS)})"


def load_payload(payload: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """A webhook body (bytes, text or mapping) -> plain JSON data, checked to be an object."""
    if isinstance(payload, bytes | bytearray | memoryview):
        raw = bytes(payload)
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise EventError(f"payload is larger than {MAX_PAYLOAD_BYTES // (1024 * 1024)} MB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventError(f"payload is not valid UTF-8 (at byte {exc.start})") from None
        data = _decode_json(text)
    elif isinstance(payload, str):
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise EventError(f"payload is larger than {MAX_PAYLOAD_BYTES // (1024 * 1024)} MB")
        data = _decode_json(payload)
    elif isinstance(payload, Mapping):
        data = _plain(payload, "payload", 0)
    else:
        raise EventError(f"payload must be JSON bytes, text or a mapping, not {type_name(payload)}")
    if type(data) is not dict:
        raise EventError(f"payload must be a JSON object, not {type_name(data)}")
    return data


def _decode_json(text: str) -> Any:
    try:
        data = json.loads(text, parse_float=_json_number, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise EventError(f"payload is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise EventError(_TOO_DEEP) from None
    if _too_deep(data):
        # Later copies recurse, so refuse here what they could not handle.
        raise EventError(_TOO_DEEP)
    if _SURROGATE_ESCAPE_RE.search(text):
        _check_encodable(json.dumps(data, ensure_ascii=False), "payload")
    return data


def _check_encodable(text: str, where: str) -> None:
    """Refuse lone surrogates (valid JSON escapes, invalid text): UTF-8 encoding of plans
    and logs built from the payload would fail later, far from here."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise EventError(f"{where} holds text that is not valid Unicode (a lone surrogate)") from None


def _too_deep(data: Any) -> bool:
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            return True
        if type(value) is dict:
            stack.extend((item, depth + 1) for item in value.values())
        elif type(value) is list:
            stack.extend((item, depth + 1) for item in value)
    return False


def _reject_constant(name: str) -> Any:
    raise EventError(f"payload is not valid JSON: {name} is not a JSON value")


def _json_number(text: str) -> int | str:
    """Keep the context float-free (plans avoid floats): whole numbers become ints,
    others keep their JSON text."""
    value = float(text)
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return text


def _plain(value: Any, where: str, depth: int) -> Any:
    """A deep copy of `value` as JSON data (dict/list/str/int/bool/None)."""
    if depth > MAX_NESTING:
        raise EventError(f"{where} is nested more than {MAX_NESTING} levels deep")
    if type(value) is str:
        if not value.isascii():
            _check_encodable(value, where)
        return value
    if value is None or type(value) in (bool, int):
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise EventError(f"{where} holds {value!r}, which is not a JSON number")
        return _json_number(repr(value))
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise EventError(f"{where}: keys must be strings, not {type_name(key)}")
            result[key] = _plain(item, where, depth + 1)
        return result
    if isinstance(value, list | tuple):
        return [_plain(item, where, depth + 1) for item in value]
    raise EventError(f"{where} holds {type(value).__name__}, which is not JSON data")


class _Reader:
    """Typed access to one JSON object, naming the field path in every error."""

    def __init__(self, data: Mapping[str, Any], where: str, prefix: str = "") -> None:
        self._data = data
        self._where = where
        self._prefix = prefix

    def fail(self, key: str, problem: str) -> EventError:
        """An error naming the field, e.g. "push payload: 'repository.full_name' is missing"."""
        return EventError(f"{self._where}: '{self._prefix}{key}' {problem}")

    def _get(self, key: str, required: bool) -> Any:
        value = self._data.get(key)
        if value is None and required:
            raise self.fail(key, "is missing")
        return value

    def obj(self, key: str) -> _Reader:
        value = self._get(key, True)
        if type(value) is not dict:
            raise self.fail(key, f"must be an object, not {type_name(value)}")
        return _Reader(value, self._where, f"{self._prefix}{key}.")

    def opt_obj(self, key: str) -> _Reader | None:
        return None if self._data.get(key) is None else self.obj(key)

    def text(self, key: str) -> str:
        value = self._get(key, True)
        if type(value) is not str:
            raise self.fail(key, f"must be a string, not {type_name(value)}")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self._data.get(key) is None else self.text(key)

    def number(self, key: str) -> int:
        value = self._get(key, True)
        if type(value) is not int or value < 1:
            raise self.fail(key, f"must be a positive integer, not {quote(value, 30)}")
        return value

    def flag(self, key: str) -> bool:
        """A boolean; absent or null reads as False."""
        value = self._data.get(key)
        if value is None:
            return False
        if type(value) is not bool:
            raise self.fail(key, f"must be true or false, not {type_name(value)}")
        return value

    def sha(self, key: str) -> str:
        value = self.text(key)
        if not SHA_RE.match(value):
            raise self.fail(key, f"is not a commit SHA: {quote(value, 50)}")
        return value

    def ref(self, key: str) -> str:
        value = self.text(key)
        problem = ref_problem(value)
        if problem:
            raise self.fail(key, f"is not a valid git ref ({problem}): {quote(value, 60)}")
        return value

    def branch(self, key: str) -> str:
        value = self.text(key)
        problem = ref_problem("refs/heads/" + value)
        if problem:
            raise self.fail(key, f"is not a valid branch name ({problem}): {quote(value, 60)}")
        return value

    def label_names(self, key: str) -> list[str]:
        """The `name` of each label object in the list at `key`."""
        names = []
        for index, item in enumerate(self.array(key) or []):
            if type(item) is not dict:
                raise self.fail(f"{key}[{index}]", f"must be an object, not {type_name(item)}")
            names.append(_Reader(item, self._where, f"{self._prefix}{key}[{index}].").text("name"))
        return names

    def array(self, key: str) -> list[Any] | None:
        value = self._data.get(key)
        if value is None:
            return None
        if type(value) is not list:
            raise self.fail(key, f"must be a list, not {type_name(value)}")
        return value


def ref_problem(ref: str) -> str | None:
    """Why `ref` is not a full ref git would accept (git check-ref-format), or None."""
    if not ref.startswith("refs/"):
        return "a full ref starts with refs/"
    if len(ref) > MAX_REF_LENGTH:
        return f"longer than {MAX_REF_LENGTH} characters"
    if _REF_FORBIDDEN_RE.search(ref):
        return "it contains a character or sequence git forbids"
    for part in ref.split("/"):
        if not part or part.startswith(".") or part.endswith(".lock"):
            return "a part is empty, starts with '.' or ends with '.lock'"
    if ref.endswith("."):
        return "it ends with '.'"
    if ref.startswith(("refs/heads/-", "refs/tags/-")):
        return "a branch or tag name may not start with '-'"  # git would read it as an option
    return None


def _split_ref(ref: str) -> tuple[str | None, str | None]:
    """Full ref -> (branch, tag) short names."""
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :], None
    if ref.startswith("refs/tags/"):
        return None, ref[len("refs/tags/") :]
    return None, None


def _repository(reader: _Reader) -> tuple[str, str | None]:
    repo = reader.obj("repository")
    full_name = repo.text("full_name")
    if not REPOSITORY_RE.match(full_name):
        raise repo.fail("full_name", f"is not owner/name: {quote(full_name, 60)}")
    has_default = repo.opt_text("default_branch") is not None
    default_branch = repo.branch("default_branch") if has_default else None
    return full_name, default_branch


def _actor(reader: _Reader) -> str | None:
    sender = reader.opt_obj("sender")
    return None if sender is None else sender.opt_text("login")


def _acted_label(reader: _Reader, action: str) -> str | None:
    if action not in LABEL_ACTIONS:
        return None
    label = reader.opt_obj("label")
    return None if label is None else label.text("name")


def _labels_after(names: list[str], action: str, label: str | None) -> tuple[str, ...]:
    """The labels once the action is done (payloads normally show this already)."""
    if label is not None and action == "labeled" and label not in names:
        names = [*names, label]
    if label is not None and action == "unlabeled":
        names = [name for name in names if name != label]
    return tuple(names)


def _default_ref(default_branch: str | None) -> str | None:
    return None if default_branch is None else "refs/heads/" + default_branch


def _parse_push(reader: _Reader, data: dict[str, Any]) -> Event:
    ref = reader.ref("ref")
    after = reader.text("after")
    deleted = reader.flag("deleted") or bool(ZERO_SHA_RE.match(after))
    if not deleted:
        after = reader.sha("after")
    forced = reader.flag("forced")
    created = reader.flag("created")
    branch, tag = _split_ref(ref)
    repository, default_branch = _repository(reader)
    return Event(
        name="push",
        ref=ref,
        branch=branch,
        tag=tag,
        sha=None if deleted else after,
        actor=_actor(reader),
        repository=repository,
        default_branch=default_branch,
        changed_files=_push_changed_files(reader, deleted=deleted, forced=forced),
        deleted=deleted,
        forced=forced,
        created=created,
        payload=data,
    )


def _push_changed_files(reader: _Reader, *, deleted: bool, forced: bool) -> tuple[str, ...] | None:
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
            files.update(_paths(reader, paths, f"commits[{index}].{key}"))
    return tuple(sorted(files))


def _paths(reader: _Reader, value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if type(value) is not list or not all(type(item) is str and item for item in value):
        raise reader.fail(key, "must be a list of file paths")
    return value


def _parse_pull_request(reader: _Reader, data: dict[str, Any]) -> Event:
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
    label = _acted_label(reader, action)
    repository, default_branch = _repository(reader)
    return Event(
        name="pull_request",
        action=action,
        ref=f"refs/pull/{info.number}/head",
        sha=info.head_sha,
        actor=_actor(reader),
        repository=repository,
        default_branch=default_branch,
        labels=_labels_after(pr.label_names("labels"), action, label),
        pull_request=info,
        label=label,
        payload=data,
    )


def _issue_info(reader: _Reader) -> IssueInfo:
    return IssueInfo(
        number=reader.number("number"),
        title=reader.text("title"),
        state=reader.text("state"),
        is_pull_request=reader.opt_obj("pull_request") is not None,
    )


def _parse_issues(reader: _Reader, data: dict[str, Any]) -> Event:
    return _issue_event("issues", reader, data, comment_body=None)


def _parse_issue_comment(reader: _Reader, data: dict[str, Any]) -> Event:
    body = reader.obj("comment").text("body")
    return _issue_event("issue_comment", reader, data, comment_body=body)


def _issue_event(name: str, reader: _Reader, data: dict[str, Any], comment_body: str | None) -> Event:
    action = reader.text("action")
    issue = reader.obj("issue")
    label = _acted_label(reader, action) if name == "issues" else None
    repository, default_branch = _repository(reader)
    return Event(
        name=name,
        action=action,
        # As on GitHub, these events run the default branch's code.
        ref=_default_ref(default_branch),
        branch=default_branch,
        actor=_actor(reader),
        repository=repository,
        default_branch=default_branch,
        labels=_labels_after(issue.label_names("labels"), action, label),
        issue=_issue_info(issue),
        comment_body=comment_body,
        label=label,
        payload=data,
    )


_PARSERS = {
    "push": _parse_push,
    "pull_request": _parse_pull_request,
    "issues": _parse_issues,
    "issue_comment": _parse_issue_comment,
}


# --- schedules and manual runs ----------------------------------------------


def normalize_cron(cron: str, what: str = "cron") -> str:
    """A 5-field cron expression with single spaces, or `EventError`."""
    if type(cron) is not str:
        raise EventError(f"{what} must be a string, not {type_name(cron)}")
    fields = cron.split()
    if len(fields) != 5:
        raise EventError(
            f"{what} {quote(cron, 60)} must have 5 fields (minute hour day month weekday), got {len(fields)}"
        )
    return " ".join(fields)


def schedule_event(
    cron: str,
    scheduled_at: datetime | str,
    repository: str | None = None,
    *,
    default_branch: str | None = None,
    tz: str | None = None,
) -> Event:
    """The event of a cron schedule firing: `cron` is the trigger's expression,
    `scheduled_at` the tick it fired for (timezone-aware, or ISO 8601 with an offset)."""
    expression = normalize_cron(cron)
    when = _utc_iso(scheduled_at)
    repository = _check_repository(repository)
    default_branch = _check_branch(default_branch, "default_branch")
    if tz is not None and (type(tz) is not str or not tz.strip()):
        raise EventError("tz must be a time zone name such as 'Europe/Paris'")
    payload: dict[str, Any] = {"schedule": expression, "scheduled_at": when}
    if tz is not None:
        payload["tz"] = tz
    return Event(
        name="schedule",
        ref=_default_ref(default_branch),
        branch=default_branch,
        repository=repository,
        default_branch=default_branch,
        schedule=expression,
        payload=payload,
    )


def _utc_iso(value: datetime | str) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise EventError(f"scheduled_at {quote(value, 40)} is not an ISO 8601 time") from None
    if not isinstance(value, datetime):
        raise EventError(f"scheduled_at must be a datetime or ISO 8601 text, not {type_name(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise EventError("scheduled_at must carry a time zone (e.g. 2024-05-01T09:00:00Z)")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def manual_event(
    inputs: Mapping[str, Any] | None = None,
    actor: str | None = None,
    ref: str | None = None,
    *,
    sha: str | None = None,
    repository: str | None = None,
    default_branch: str | None = None,
) -> Event:
    """A run started by hand. `ref` is a full ref or a branch name (default: the default
    branch); `inputs` are the values given for the manual trigger's inputs."""
    plain_inputs = _plain_inputs(inputs or {}, "inputs")
    repository = _check_repository(repository)
    default_branch = _check_branch(default_branch, "default_branch")
    full_ref = _manual_ref(ref, default_branch)
    branch, tag = _split_ref(full_ref) if full_ref else (None, None)
    if sha is not None and (type(sha) is not str or not SHA_RE.match(sha)):
        raise EventError(f"sha {quote(sha, 50)} is not a commit SHA (40 or 64 hex digits)")
    if actor is not None and (type(actor) is not str or not actor.strip()):
        raise EventError("actor must be a user name")
    payload = {"inputs": copy.deepcopy(plain_inputs), "ref": full_ref, "sha": sha, "actor": actor}
    return Event(
        name="manual",
        ref=full_ref,
        branch=branch,
        tag=tag,
        sha=sha,
        actor=actor,
        repository=repository,
        default_branch=default_branch,
        inputs=plain_inputs,
        payload=payload,
    )


def _manual_ref(ref: str | None, default_branch: str | None) -> str | None:
    if ref is None:
        return _default_ref(default_branch)
    if type(ref) is not str:
        raise EventError(f"ref must be a string, not {type_name(ref)}")
    full = ref if ref.startswith("refs/") else "refs/heads/" + ref
    problem = ref_problem(full)
    if problem:
        raise EventError(f"ref {quote(ref, 60)} is not a valid git ref ({problem})")
    return full


def _plain_inputs(inputs: Mapping[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(inputs, Mapping):
        raise EventError(f"{what} must be a mapping of name: value, not {type_name(inputs)}")
    return dict(_plain(inputs, what, 0))


def _check_repository(repository: str | None) -> str | None:
    if repository is not None and (type(repository) is not str or not REPOSITORY_RE.match(repository)):
        raise EventError(f"repository must be 'owner/name', not {quote(repository, 60)}")
    return repository


def _check_branch(branch: str | None, what: str) -> str | None:
    if branch is None:
        return None
    if type(branch) is not str or ref_problem("refs/heads/" + branch):
        raise EventError(f"{what} {quote(branch, 60)} is not a valid branch name")
    return branch
