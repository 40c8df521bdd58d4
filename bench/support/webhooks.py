"""What the server benchmarks share: a bare repository holding one workflow, and signed push deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

SECRET: Final = b"bench-webhook-secret"
REPOSITORY: Final = "octo/bench"
PUSH_FIXTURE: Final = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "events" / "push.json"


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True).stdout


def make_upstream(root: Path, workflow: str) -> tuple[str, str]:
    """A bare repository whose main branch holds `ci.plue.py` (`workflow`); its file:// URL and the commit's sha."""
    bare, work = root / "upstream.git", root / "upstream-work"
    bare.mkdir(parents=True)
    work.mkdir()
    git(bare, "init", "-q", "--bare", "-b", "main")
    git(work, "init", "-q", "-b", "main")
    (work / "ci.plue.py").write_text(workflow)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "ci")
    git(work, "push", "-q", str(bare), "main")
    return bare.as_uri(), git(work, "rev-parse", "HEAD").strip()


def push_body(sha: str, branch: str = "main") -> bytes:
    """A real push payload, adapted: `branch` of `REPOSITORY` moved to `sha`."""
    payload: dict[str, Any] = json.loads(PUSH_FIXTURE.read_text())
    payload["ref"] = f"refs/heads/{branch}"
    payload["after"] = sha
    payload["repository"]["full_name"] = REPOSITORY
    payload["repository"]["default_branch"] = "main"
    payload["commits"] = []
    return json.dumps(payload).encode()


def signed_headers(body: bytes, delivery: str) -> dict[str, str]:
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature,
    }


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
