"""Fixtures and helpers for the store tests (no tests here): every test runs on SQLite and on PostgreSQL.

PostgreSQL: `postgresql://postgres@127.0.0.1:5432/test` (trust auth) or
$PLUE_TEST_POSTGRES_URL. Each test gets a fresh schema, selected through the
connection's search_path, and dropped afterwards, so tests are isolated and can
run in parallel. An unreachable server skips those tests, saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from plue.store import LogLineTuple, Store

POSTGRES_URL = os.environ.get("PLUE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]

PLAN: dict[str, Any] = {
    "name": "CI",
    "steps": [
        {"id": "install", "type": "bash", "cmd": "make deps", "depends_on": []},
        {"id": "test", "type": "bash", "cmd": "make test", "depends_on": ["install"]},
        {"id": "build", "type": "bash", "cmd": "make", "depends_on": ["test"]},
    ],
    "triggers": [],
}
STEP_IDS = ["install", "test", "build"]


@cache
def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used (None if it can); checked once per process."""
    try:
        psycopg.connect(_libpq_url(POSTGRES_URL), connect_timeout=5).close()
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {str(exc).strip().splitlines()[0]}"
    return None


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True)


def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections use a new, empty schema; the schema is dropped afterwards."""
    reason = postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    schema = f"plue_test_{uuid.uuid4().hex[:16]}"
    with _admin() as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with _admin() as admin:
            admin.execute("SET lock_timeout = '30s'")
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'plue.db'}"
    else:
        yield from postgres_schema_url()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(url=db_url) as opened:
        yield opened


def new_run(store: Store, plan: dict[str, Any] | None = None, *, start: bool = True, **kwargs: Any) -> int:
    """A run of `plan` (default PLAN), started unless `start=False`."""
    plan = PLAN if plan is None else plan
    workflow_id = store.upsert_workflow("ci.plue.py", plan["name"], "0" * 64, plan)
    options: dict[str, Any] = {"event_name": "push", "event": {"ref": "refs/heads/main"}, "inputs": {}}
    run_id = store.create_run(workflow_id=workflow_id, plan=plan, **{**options, **kwargs})
    if start:
        store.start_run(run_id)
    return run_id


def lines(step_id: str, count: int, *, attempt: int = 1, first: int = 1, stream: str = "stdout") -> list[LogLineTuple]:
    """`count` log line tuples of one step attempt, seq `first`..."""
    return [
        (step_id, attempt, seq, stream, 1000.0 + seq, f"{step_id} line {seq}") for seq in range(first, first + count)
    ]


def run_python(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start `python -c code args…` with this checkout importable; stdin and stdout are pipes."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def start_all(processes: list[subprocess.Popen[str]]) -> list[str]:
    """Wait until every process is ready, then let them all go at once; their output lines."""
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = []
    for process in processes:
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0
        outputs.append(out.strip())
    return outputs
