"""Helpers for mirror, ingest and webhook tests: a real upstream repository (bare, served as a file:// URL)
that tests push commits of workflow files to, and real GitHub payloads adapted to it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from workflow_repos import EVENT_FIXTURES, commit_all, git, git_init, write


class Upstream:
    """A bare repository plus a work tree that pushes to it: what GitHub would hold."""

    def __init__(self, root: Path, name: str = "octo/app") -> None:
        self.name = name
        self.bare = root / "upstream.git"
        self.bare.mkdir(parents=True)
        git(self.bare, "init", "-q", "--bare", "-b", "main")
        self.work = git_init(root / "upstream-work")
        git(self.work, "remote", "add", "origin", str(self.bare))

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def push(self, files: dict[str, str | bytes], branch: str = "main", message: str = "commit") -> str:
        """Commit `files` on `branch` (created from the current commit if new) and push; the new sha."""
        current = git(self.work, "branch", "--show-current").strip()
        if current != branch:
            exists = git(self.work, "branch", "--list", branch).strip()
            git(self.work, "checkout", "-q", *([] if exists else ["-b"]), branch)
        write(self.work, files)
        commit_all(self.work, message)
        git(self.work, "push", "-q", "origin", branch)
        return git(self.work, "rev-parse", "HEAD").strip()

    def delete(self, path: str, branch: str = "main") -> str:
        git(self.work, "checkout", "-q", branch)
        git(self.work, "rm", "-q", path)
        git(self.work, "commit", "-q", "-m", f"delete {path}")
        git(self.work, "push", "-q", "origin", branch)
        return git(self.work, "rev-parse", "HEAD").strip()


def fixture_payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENT_FIXTURES / name).read_text())
    return data


def push_payload(repository: str, sha: str, branch: str = "main", *, deleted: bool = False) -> dict[str, Any]:
    """The push fixture, for `repository` and a push of `sha` to `branch`."""
    payload = fixture_payload("push.json")
    payload["ref"] = f"refs/heads/{branch}"
    payload["after"] = "0" * 40 if deleted else sha
    payload["deleted"] = deleted
    payload["repository"]["full_name"] = repository
    payload["repository"]["default_branch"] = "main"
    payload["commits"] = []  # changed files unknown: path filters do not apply
    return payload


def pull_request_payload(repository: str, head_sha: str, base_sha: str, action: str = "opened") -> dict[str, Any]:
    payload = fixture_payload("pull_request.opened.json")
    payload["action"] = action
    payload["repository"]["full_name"] = repository
    payload["repository"]["default_branch"] = "main"
    payload["pull_request"]["head"]["sha"] = head_sha
    payload["pull_request"]["base"]["sha"] = base_sha
    payload["pull_request"]["base"]["ref"] = "main"
    return payload


def issues_payload(repository: str) -> dict[str, Any]:
    payload = fixture_payload("issues.opened.json")
    payload["repository"]["full_name"] = repository
    payload["repository"]["default_branch"] = "main"
    return payload


def with_repository(payload: dict[str, Any], repository: str) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    payload["repository"]["full_name"] = repository
    return payload
