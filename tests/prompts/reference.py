"""Running handlebars.js (``handlebars_js/reference.mjs``) from the tests: install it once, render cases with it.

The pinned package is installed with ``npm ci`` into ``handlebars_js/node_modules``
the first time it is needed; a file lock keeps parallel test workers from
installing it twice at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "handlebars_js"
CORPUS = HERE / "handlebars_corpus.json"
_INSTALLED_MARK = PACKAGE / "node_modules" / "handlebars" / "package.json"


class ReferenceUnavailable(Exception):
    """node or npm is missing, or the pinned handlebars cannot be installed; the message says which."""


def load_corpus() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(CORPUS.read_text(encoding="utf-8"))
    return cases


@contextmanager
def _install_lock() -> Iterator[None]:
    with open(PACKAGE / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_reference() -> str:
    """The path of ``node``, with the pinned handlebars installed; `ReferenceUnavailable` otherwise."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise ReferenceUnavailable("node and npm are needed to run handlebars.js (install Node.js 18 or newer)")
    with _install_lock():
        if not _INSTALLED_MARK.exists():
            done = subprocess.run(
                [npm, "ci", "--prefix", str(PACKAGE), "--no-audit", "--no-fund"],
                capture_output=True,
                text=True,
                timeout=600,
                env={**os.environ, "npm_config_update_notifier": "false"},
            )
            if done.returncode != 0:
                raise ReferenceUnavailable(f"npm ci failed in {PACKAGE}: {done.stderr.strip()[-2000:]}")
    return node


def run_reference(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """handlebars.js's result for each case: ``{"name", "output"}`` or ``{"name", "error"}``."""
    node = ensure_reference()
    done = subprocess.run(
        [node, str(PACKAGE / "reference.mjs"), "-"],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"reference.mjs failed: {done.stderr.strip()[-2000:]}")
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results
