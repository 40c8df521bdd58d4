"""The on-disk content-hash cache of workflow outcomes.

Evaluating a file with no event depends only on its bytes and on the engine, so
the outcome is stored under the sha256 of the bytes, in a directory named after
the engine's cache key (`cache_key`): a new plue, plan format, limits, or engine
code gets a fresh directory and never reads an old one.

Layout of ``<cache_dir>/<key>/``:
- ``<sha256>.json``: an outcome's summary (name, triggers, or the problems): what a
  scan reads for each file;
- ``<sha256>.plan.json``: the validated plan, read only when a caller asks for it
  (parsing every plan would cost a scan most of its time);
- ``index.json``: path -> (stamp, sha256), so an unchanged file is not even read.
Every file is written atomically (temporary file + rename), the plan before its summary.

Nothing read back is trusted blindly: an unreadable or malformed file is a miss (and
gets rewritten); summaries pass a shape check, and a plan read back is validated
again in full. The cache lives in the repository by default (fine for a developer's
own checkout); a service handling untrusted repositories should give a ``cache_dir``
of its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from plue import __version__
from plue.plan import PLAN_FORMAT_VERSION
from plue.registry.outcome import Outcome
from plue.registry.source import Stamp
from plue.sandbox import Limits

# Bump when the layout of the cache files changes.
CACHE_FORMAT_VERSION = 1
INDEX_NAME = "index.json"
KEY_PREFIX = "k"

# The modules whose code decides an outcome: editing them (even without a version
# bump, as during development) must not serve outcomes computed by the old code.
ENGINE_MODULES = ("plue.plan", "plue.sandbox", "plue.validation", "plue.schemas")


def cache_key(limits: Limits) -> str:
    """A short name for everything besides the source bytes that an outcome depends on."""
    parts = {
        "cache_format": CACHE_FORMAT_VERSION,
        "plue": __version__,
        "plan_format": PLAN_FORMAT_VERSION,
        "limits": dataclasses.asdict(limits),
        "engine": engine_fingerprint(),
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return f"{KEY_PREFIX}{CACHE_FORMAT_VERSION}-{digest[:20]}"


@cache
def engine_fingerprint() -> str:
    """sha256 over the source files of `ENGINE_MODULES` (computed once per process)."""
    digest = hashlib.sha256()
    for path in sorted(_engine_files()):
        digest.update(path.name.encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _engine_files() -> Iterator[Path]:
    for name in ENGINE_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        if spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                for path in Path(location).rglob("*"):
                    if path.suffix in (".py", ".json") and path.is_file():
                        yield path
        elif spec.origin and spec.origin.endswith(".py"):
            yield Path(spec.origin)


class OutcomeCache:
    """Outcomes by content hash, plus the stamp index of one repository.

    Every write is best effort: a cache that cannot be written (read-only checkout,
    full disk) makes scans slower, never wrong.
    """

    def __init__(self, cache_dir: Path, key: str) -> None:
        self.root = cache_dir
        self.directory = cache_dir / key
        self._prefix = os.path.join(self.directory, "")  # str joins: a scan makes thousands of paths

    def get(self, source_hash: str) -> Outcome | None:
        """The cached outcome summary (without its plan), or None."""
        data = _read_json(f"{self._prefix}{source_hash}.json")
        if data is None:
            return None
        try:
            return Outcome.from_summary_data(data)
        except ValueError:
            return None

    def get_plan(self, source_hash: str, summary: Outcome) -> dict[str, Any] | None:
        """The cached plan of a valid outcome, if it is intact, valid and agrees with `summary`."""
        from plue.validation import validate_plan  # see outcome_of: only this rare path needs it

        plan = _read_json(f"{self._prefix}{source_hash}.plan.json")
        if type(plan) is not dict or validate_plan(plan):
            return None
        if plan.get("name") != summary.name or plan.get("triggers") != summary.triggers:
            return None
        return plan

    def put(self, source_hash: str, outcome: Outcome) -> None:
        if not outcome.cacheable:
            return
        # The plan first: a summary on disk promises that its plan was written.
        if outcome.plan is not None and not self._write(f"{source_hash}.plan.json", outcome.plan):
            return
        self._write(f"{source_hash}.json", outcome.summary_data())

    def load_index(self) -> dict[str, tuple[Stamp, str]] | None:
        """path -> (stamp, source hash), rows of the wrong shape dropped; None if unreadable."""
        data = _read_json(f"{self._prefix}{INDEX_NAME}")
        files = data.get("files") if type(data) is dict else None
        if type(files) is not dict:
            return None
        index: dict[str, tuple[Stamp, str]] = {}
        for path, row in files.items():
            if type(row) is list and len(row) == 5 and type(row[4]) is str:
                *stamp, source_hash = row
                if all(type(n) is int for n in stamp):
                    index[path] = ((stamp[0], stamp[1], stamp[2], stamp[3]), source_hash)
        return index

    def save_index(self, index: Mapping[str, tuple[Stamp, str]]) -> None:
        files = {path: [*stamp, source_hash] for path, (stamp, source_hash) in sorted(index.items())}
        if self._write(INDEX_NAME, {"files": files}):
            self._prune_other_keys()

    def _write(self, name: str, data: Any) -> bool:
        try:
            if not self.directory.is_dir():
                self.directory.mkdir(parents=True, exist_ok=True)
                # Keep the cache out of commits, as uv does for .venv.
                (self.root / ".gitignore").write_text("*\n")
            _write_atomic(self.directory / name, json.dumps(data, separators=(",", ":")).encode())
        except (OSError, ValueError):
            return False
        return True

    def _prune_other_keys(self) -> None:
        # Directories of older keys can never be read again by this engine.
        try:
            others = [p for p in self.root.iterdir() if p.name.startswith(KEY_PREFIX) and p != self.directory]
        except OSError:
            return
        for path in others:
            shutil.rmtree(path, ignore_errors=True)


def _read_json(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read())
    except (OSError, ValueError, RecursionError):
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a sibling temporary file, then rename it over `path`: readers see all or nothing."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
