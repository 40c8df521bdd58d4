"""Benchmark: log lines through `LogWriter` into SQLite (and PostgreSQL if reachable), with baselines.

Measures in one run, each phase in a fresh child process so that its peak RSS
(`resource.getrusage`) is its own:

- store: N lines (default 1,000,000) of one step, written in chunks through a
  `LogWriter` (background thread, batches, bounded queue) until `close()` has
  committed them all;
- baseline: the same rows stored without plue — raw `sqlite3` executemany of
  INSERT … ON CONFLICT DO NOTHING, one transaction per batch of the same size, into
  the same schema with the same pragmas (PostgreSQL: raw psycopg COPY, per batch);
- how fast the lines can merely be generated (the producer's own cost, in both).

PostgreSQL: --postgres URL, else $PLUE_BENCH_POSTGRES_URL or $PLUE_TEST_POSTGRES_URL,
else postgresql://postgres@127.0.0.1:5432/test; each run uses a temporary schema.

Usage: uv run python bench/logs.py [--lines 1000000] [--chunk 1000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from support.postgres import DEFAULT_POSTGRES, drop_schema, postgres_schema

from plue.store import LogLineTuple, LogWriter, Store
from plue.store.models import log_lines

BATCH = 5_000  # LogWriter's default max_batch; the baselines use the same

TEMPLATES = (
    "tests/test_module_{a}.py::test_case_{b} PASSED                                  [{p:3d}%]",
    "  Compiling crate-{a} v0.{b}.{p} (/home/runner/work/project/crates/crate-{a})",
    "npm WARN deprecated package-{a}@{b}.0.{p}: this version is no longer supported",
    "[{p:02d}:{a:02d}:{b:02d}] INFO worker-{a}: processed batch {b} in {p} ms",
    "gcc -O2 -Wall -c src/file_{a}.c -o build/file_{a}.o",
)


def make_lines(count: int) -> Iterator[LogLineTuple]:
    """Realistic build/test output of one step, 50-90 characters a line, generated lazily."""
    now = time.time()
    for seq in range(1, count + 1):
        text = TEMPLATES[seq % len(TEMPLATES)].format(a=seq % 89, b=seq % 1013, p=seq % 100)
        yield ("build", 1, seq, "stderr" if seq % 17 == 0 else "stdout", now + seq * 1e-5, text)


def rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def new_run(store: Store) -> int:
    plan = {"name": "bench", "steps": [{"id": "build"}]}
    workflow_id = store.upsert_workflow("bench.plue.py", "bench", "0" * 64, plan)
    run_id = store.create_run(workflow_id=workflow_id, plan=plan, event_name=None, event=None, inputs={})
    store.start_run(run_id)
    return run_id


def stored_count(store: Store, run_id: int) -> int:
    with store._engine.connect() as connection:
        return int(connection.execute(select(func.count()).where(log_lines.c.run_id == run_id)).scalar_one())


# --- phases (each in its own process) ------------------------------------------------------


def phase_generate(count: int, url: str, chunk: int) -> dict[str, Any]:
    start = rss_kb()
    started = time.perf_counter()
    for _ in make_lines(count):
        pass
    return {"seconds": time.perf_counter() - started, "rss_start": start, "rss_peak": rss_kb(), "stored": count}


def phase_store(count: int, url: str, chunk: int) -> dict[str, Any]:
    with Store.open(url=url) as store:
        run_id = new_run(store)
        start = rss_kb()
        lines = make_lines(count)
        started = time.perf_counter()
        with LogWriter(store, run_id) as writer:
            while batch := list(islice(lines, chunk)):
                writer.write(batch)
        seconds = time.perf_counter() - started
        peak = rss_kb()
        return {"seconds": seconds, "rss_start": start, "rss_peak": peak, "stored": stored_count(store, run_id)}


def phase_raw_sqlite(count: int, url: str, chunk: int) -> dict[str, Any]:
    with Store.open(url=url) as store:  # the same schema
        run_id = new_run(store)
    path = make_url(url).database
    assert path is not None
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON", "busy_timeout = 30000"):
        connection.execute(f"PRAGMA {pragma}")
    insert = (
        "INSERT INTO log_lines (run_id, step_id, attempt, seq, stream, at, text) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, step_id, attempt, seq) DO NOTHING"
    )
    start = rss_kb()
    lines = make_lines(count)
    started = time.perf_counter()
    while batch := [(run_id, *line) for line in islice(lines, BATCH)]:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(insert, batch)
        connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    stored = connection.execute("SELECT count(*) FROM log_lines WHERE run_id = ?", (run_id,)).fetchone()[0]
    connection.close()
    return {"seconds": seconds, "rss_start": start, "rss_peak": rss_kb(), "stored": stored}


def phase_raw_postgresql(count: int, url: str, chunk: int) -> dict[str, Any]:
    import psycopg

    with Store.open(url=url) as store:  # the same schema
        run_id = new_run(store)
    columns = "run_id, step_id, attempt, seq, stream, at, text"
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as pg:
        start = rss_kb()
        lines = make_lines(count)
        started = time.perf_counter()
        while batch := [(run_id, *line) for line in islice(lines, BATCH)]:
            with pg.transaction(), pg.cursor() as cursor, cursor.copy(f"COPY log_lines ({columns}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
        seconds = time.perf_counter() - started
        counted = pg.execute("SELECT count(*) FROM log_lines WHERE run_id = %s", (run_id,)).fetchone()
        stored = counted[0] if counted else 0
    return {"seconds": seconds, "rss_start": start, "rss_peak": rss_kb(), "stored": stored}


PHASES = {
    "generate": phase_generate,
    "store": phase_store,
    "raw-sqlite": phase_raw_sqlite,
    "raw-postgresql": phase_raw_postgresql,
}


def run_phase(name: str, count: int, url: str, chunk: int) -> dict[str, Any]:
    """Run one phase in a child process; its JSON result."""
    command = [sys.executable, __file__, "--phase", name, "--lines", str(count), "--url", url, "--chunk", str(chunk)]
    completed = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(completed.stdout)
    if result["stored"] != count:
        raise SystemExit(f"bench: {name} stored {result['stored']} of {count} lines")
    return result


# --- the report ---------------------------------------------------------------------------


def report(label: str, count: int, result: dict[str, Any], baseline: dict[str, Any] | None = None) -> None:
    rate = count / result["seconds"]
    line = (
        f"{label:<34} {rate:10,.0f} lines/s  ({result['seconds']:6.2f} s)  "
        f"peak RSS {result['rss_peak'] / 1024:6.1f} MB (+{(result['rss_peak'] - result['rss_start']) / 1024:5.1f} MB)"
    )
    if baseline is not None:
        line += f"  = {rate / (count / baseline['seconds']):.2f}x the baseline"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=1_000, help="lines per LogWriter.write() call")
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()  # `./dev bench` passes every bench script the same arguments

    if args.phase:
        print(json.dumps(PHASES[args.phase](args.lines, args.url, args.chunk)))
        return

    count = args.lines
    print(
        f"# bench/logs.py: {count:,} log lines of one step, written {args.chunk:,} at a time; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
    )
    report("generating the lines alone", count, run_phase("generate", count, "", args.chunk))

    root = Path(tempfile.mkdtemp(prefix="plue-bench-logs-"))
    try:
        raw = run_phase("raw-sqlite", count, f"sqlite:///{root / 'raw.db'}", args.chunk)
        report("baseline  sqlite3 executemany", count, raw)
        store = run_phase("store", count, f"sqlite:///{root / 'store.db'}", args.chunk)
        report("sqlite    LogWriter", count, store, raw)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    base = args.postgres or os.environ.get("PLUE_BENCH_POSTGRES_URL") or os.environ.get("PLUE_TEST_POSTGRES_URL")
    base = base or DEFAULT_POSTGRES
    for name in ("raw-postgresql", "store"):
        created = postgres_schema(base)
        if created is None:
            return
        schema, url = created
        try:
            result = run_phase(name, count, url, args.chunk)
        finally:
            drop_schema(base, schema)
        if name == "raw-postgresql":
            raw_pg = result
            report("baseline  psycopg COPY", count, raw_pg)
        else:
            report("postgresql LogWriter", count, result, raw_pg)


if __name__ == "__main__":
    main()
