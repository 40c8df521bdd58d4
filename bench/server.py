"""Benchmark: the Plue server over real HTTP (uvicorn on 127.0.0.1), on PostgreSQL and on SQLite, with baselines.

Measures in one run, for each database:

- webhooks: N signed push deliveries (distinct ids, the same real commit of a bare git repository with one
  push-triggered `workflow(ctx)` that reads `ctx.event.branch`), each queueing one run, sent to a `plue server`
  subprocess (workers off, so only ingestion is measured) over keep-alive connections by a lean asyncio
  client, after a warm-up of 300 unmeasured deliveries: once as pushes to main (the plan memo reuses the
  plan), once each to a new branch (every delivery evaluated in the sandbox). Baseline: `GET /healthz` with
  the same client; for reference, the ingestion alone (`Ingestor.handle`, no HTTP, one thread, in this
  process).
- SSE latency: a running run's `GET /api/runs/{id}/events` open while log lines are appended to the store one
  by one; the time from the append call to the line's receipt, with the default stream settings (the stream
  wakes on the store's change notifications, polling every 1 s as a fallback) and with `poll_seconds=0.02`.
- `GET /api/runs/{id}` latency from `--clients` keep-alive connections (the lean client, the server in a
  process of its own). Baseline: `GET /healthz` (which also reads the database) under the same load.

For SSE, server and clients share one process (and its GIL), so those figures are upper bounds of a server
alone's latency.

PostgreSQL: --postgres URL, else $PLUE_BENCH_POSTGRES_URL or $PLUE_TEST_POSTGRES_URL,
else postgresql://postgres@127.0.0.1:5432/test; each run uses a temporary schema.

Usage: uv run python bench/server.py [--deliveries 300] [--requests 2000] [--clients 50] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from support.postgres import DEFAULT_POSTGRES, drop_schema, postgres_schema
from support.serving import serve
from support.webhooks import REPOSITORY, SECRET, make_upstream, percentile, push_body, signed_headers

from plue.server.api.state import StreamSettings
from plue.server.app import create_app
from plue.server.config import RepositoryConfig, ServerConfig
from plue.store import Store

WORKFLOW = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    branch = ctx.event.branch if ctx.event else None
    target = "production" if branch == "main" else "staging"
    return Plan("CI", steps=[Step.bash("test", "make test TARGET=" + target)], triggers=[Trigger.on_push()])
"""

PLAN: dict[str, Any] = {
    "name": "CI",
    "steps": [
        {"id": "install", "type": "bash", "cmd": "make deps", "depends_on": []},
        {"id": "test", "type": "bash", "cmd": "make test", "depends_on": ["install"]},
        {"id": "build", "type": "bash", "cmd": "make", "depends_on": ["test"]},
    ],
    "triggers": [],
}


# --- helpers --------------------------------------------------------------------------------


@dataclass
class Setup:
    deliveries: int
    senders: int
    requests: int
    clients: int
    lines: int


def bench_webhooks(
    app: FastAPI, store: Store, url: str, root: Path, repository_url: str, sha: str, setup: Setup
) -> None:
    """Deliveries to a `plue server` process of its own (so that the clients do not share its GIL), sent by
    a lean asyncio client over keep-alive connections with requests signed beforehand."""
    with server_process(url, root, repository_url) as port:
        first_body = push_body(sha)
        started = time.perf_counter()
        first = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/github",
            content=first_body,
            headers=signed_headers(first_body, "warm-up"),
            timeout=120,
        )
        cold = time.perf_counter() - started
        if first.status_code != 202 or first.json()["outcome"] != "queued":
            raise SystemExit(f"bench: the first delivery did not queue a run: {first.status_code} {first.text[:300]}")
        print(f"  first delivery (mirror clone, checkout, scan, evaluation): {cold * 1000:8.1f} ms")
        count, senders = setup.deliveries, setup.senders
        health = [b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"] * count
        base_seconds, _ = asyncio.run(blast(port, health, senders))
        base_rate = count / base_seconds
        print(f"  baseline GET /healthz, {senders} connections: {base_rate:8,.0f} req/s")
        prefix = uuid.uuid4().hex[:8]
        # Warm-up, not measured: the database's plans and the driver's prepared statements, the server's caches.
        warm_up = [delivery_request(push_body(sha), f"{prefix}-w-{index}") for index in range(min(count, 300))]
        asyncio.run(blast(port, warm_up, senders))
        same_branch = [delivery_request(push_body(sha), f"{prefix}-m-{index}") for index in range(count)]
        # Each on a new branch: the workflow reads ctx.event.branch, so no plan can be reused.
        new_branches = [
            delivery_request(push_body(sha, f"feature-{prefix}-{index}"), f"{prefix}-b-{index}")
            for index in range(count)
        ]
        for label, requests, mark in (
            ("pushes to main (plan reused)", same_branch, "-m-"),
            ("pushes to new branches (each evaluated)", new_branches, "-b-"),
        ):
            seconds, latencies = asyncio.run(blast(port, requests, senders))
            queued = sum(
                1 for run in store.list_runs(limit=3 * count + 10) if (run.delivery_id or "").startswith(prefix + mark)
            )
            if queued != count:
                raise SystemExit(f"bench: {count} deliveries queued {queued} runs")
            rate = count / seconds
            print(
                f"  {label:<42} {rate:8,.0f} deliveries/s  (= {rate / base_rate:.2f}x the baseline; "
                f"p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms; "
                f"{queued} runs queued; target >= 500/s: {'met' if rate >= 500 else 'NOT met'})"
            )

    # Where the time goes: the ingestion called directly, one at a time, without HTTP (in this process).
    ingestor = app.state.plue.ingestor
    payload = json.loads(push_body(sha))
    ingestor.handle("push", f"{prefix}-direct-warm", payload)
    direct = min(count, 200)
    started = time.perf_counter()
    for index in range(direct):
        ingestor.handle("push", f"{prefix}-direct-{index}", payload)
    direct_rate = direct / (time.perf_counter() - started)
    print(f"  (for reference: Ingestor.handle() called directly, 1 thread, no HTTP: {direct_rate:,.0f} deliveries/s)")


def delivery_request(body: bytes, delivery: str) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in signed_headers(body, delivery).items())
    return f"POST /webhooks/github HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body


async def blast(port: int, requests: list[bytes], connections: int) -> tuple[float, list[float]]:
    """Send prepared HTTP/1.1 requests over `connections` keep-alive connections; wall time and latencies.
    (Hand-written: an HTTP client library costs more CPU per request than the server being measured.)"""
    pending = iter(requests)
    latencies: list[float] = []
    failures: list[str] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in pending:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                status = int(head.split(b" ", 2)[1])
                if status >= 300:
                    failures.append(f"{status} {body[:200]!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"bench: {len(failures)} requests failed, first: {failures[0]}")
    return seconds, latencies


@contextmanager
def server_process(url: str, root: Path, repository_url: str) -> Iterator[int]:
    """`plue server` (no workers) in a subprocess on a free port of 127.0.0.1; the port."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "plue.toml"
    config.write_text(
        f"database_url = {json.dumps(url)}\n"
        f"data_dir = {json.dumps(str(root / 'server-data'))}\n"
        f"webhook_secret = {json.dumps(SECRET.decode())}\n"
        "workers = 0\n"
        f"[repositories.{json.dumps(REPOSITORY)}]\n"
        f"url = {json.dumps(repository_url)}\n"
        'default_branch = "main"\n'
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "plue", "server", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""
                raise SystemExit(f"bench: plue server did not start: {error}")
            time.sleep(0.1)  # polling a server that is starting; not a measurement
        yield port
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def new_running_run(store: Store) -> int:
    workflow_id = store.upsert_workflow("ci.plue.py", "CI", "0" * 64, PLAN)
    run_id = store.create_run(workflow_id=workflow_id, plan=PLAN, event_name="push", event={}, inputs={})
    store.start_run(run_id)
    return run_id


def sse_latencies(base_url: str, store: Store, token: str, lines: int) -> list[float]:
    """Latency of each of `lines` log lines, from the append call to the line's arrival on the stream."""
    run_id = new_running_run(store)
    appended: dict[int, float] = {}
    received: dict[int, float] = {}
    opened = threading.Event()
    done = threading.Event()

    def read() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=base_url, timeout=60) as client,
            client.stream("GET", f"/api/runs/{run_id}/events", headers=headers) as response,
        ):
            if response.status_code != 200:
                raise SystemExit(f"bench: the event stream answered {response.status_code}")
            opened.set()
            event = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: ") and event == "log":
                    received[json.loads(line[len("data: ") :])["seq"]] = time.perf_counter()
                    if len(received) == lines:
                        done.set()
                        return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not opened.wait(30):
        raise SystemExit("bench: the event stream did not open")
    rng = random.Random(7)
    for seq in range(1, lines + 1):
        time.sleep(rng.uniform(0.005, 0.05))  # irregular, so appends fall anywhere in the poll interval
        appended[seq] = time.perf_counter()
        store.append_logs(run_id, [("test", 1, seq, "stdout", time.time(), f"line {seq}")])
    if not done.wait(60):
        raise SystemExit(f"bench: the stream delivered {len(received)} of {lines} lines")
    store.finish_run(run_id, "success", None, time.time())  # ends the stream
    reader.join(30)
    return [received[seq] - appended[seq] for seq in range(1, lines + 1)]


def bench_sse(app: FastAPI, base_url: str, store: Store, setup: Setup) -> None:
    token = store.create_token(f"bench-{uuid.uuid4().hex[:8]}", "read")
    for label, settings in (
        ("default StreamSettings (notified)", StreamSettings()),
        ("StreamSettings(poll_seconds=0.02)", StreamSettings(poll_seconds=0.02)),
    ):
        app.state.plue.streams = settings
        latencies = sse_latencies(base_url, store, token, setup.lines)
        p50 = statistics.median(latencies)
        print(
            f"  SSE append -> receipt, {label:<36} p50 {p50 * 1000:6.1f} ms  "
            f"p95 {percentile(latencies, 0.95) * 1000:6.1f} ms  max {max(latencies) * 1000:6.1f} ms  "
            f"({setup.lines} lines; target p50 <= 50 ms: {'met' if p50 <= 0.05 else 'NOT met'})"
        )
    app.state.plue.streams = StreamSettings()


def bench_get_run(store: Store, url: str, root: Path, repository_url: str, setup: Setup) -> None:
    """`GET /api/runs/{id}` from `setup.clients` keep-alive connections to a `plue server` process of its own
    (the lean client of the webhook figures, in this process: the server's GIL is its own)."""
    run_id = new_running_run(store)
    token = store.create_token(f"bench-{uuid.uuid4().hex[:8]}", "read")
    rows = []
    with server_process(url, root, repository_url) as port:
        for label, path in (("baseline GET /healthz", "/healthz"), ("GET /api/runs/{id}", f"/api/runs/{run_id}")):
            request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
            asyncio.run(blast(port, [request] * setup.clients * 2, setup.clients))  # every connection warm
            seconds, latencies = asyncio.run(blast(port, [request] * setup.requests, setup.clients))
            rows.append((label, setup.requests / seconds, percentile(latencies, 0.5), percentile(latencies, 0.99)))
    base = rows[0]
    for label, rate, p50, p99 in rows:
        line = (
            f"  {label:<22} {setup.clients} clients: {rate:8,.0f} req/s  p50 {p50 * 1000:7.1f} ms  "
            f"p99 {p99 * 1000:7.1f} ms"
        )
        if label != base[0]:
            line += f"  (= {p50 / base[2]:.2f}x / {p99 / base[3]:.2f}x the baseline's p50 / p99)"
        print(line)


def bench_backend(name: str, url: str, root: Path, setup: Setup) -> None:
    print(f"{name}:", flush=True)
    repository_url, sha = make_upstream(root / "upstream", WORKFLOW)
    config = ServerConfig(
        database_url=url,
        data_dir=root / "data",
        webhook_secrets=(SECRET,),
        repositories={REPOSITORY: RepositoryConfig(REPOSITORY, repository_url)},
        workers=0,
    )
    app = create_app(config, start_background=False)
    store: Store = app.state.plue.store
    bench_webhooks(app, store, url, root / "process", repository_url, sha, setup)
    bench_get_run(store, url, root / "process-get", repository_url, setup)
    with serve(app) as base_url:
        bench_sse(app, base_url, store, setup)


# --- PostgreSQL ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=32, help="connections sending deliveries")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--sse-lines", type=int, default=100)
    parser.add_argument("--postgres", default=None)
    args, _ = parser.parse_known_args()  # `./dev bench` passes every bench script the same arguments
    setup = Setup(args.deliveries, args.senders, args.requests, args.clients, args.sse_lines)

    print(
        f"# bench/server.py: uvicorn on 127.0.0.1, clients in the same process; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    base = args.postgres or os.environ.get("PLUE_BENCH_POSTGRES_URL") or os.environ.get("PLUE_TEST_POSTGRES_URL")
    base = base or DEFAULT_POSTGRES
    root = Path(tempfile.mkdtemp(prefix="plue-bench-server-"))
    try:
        created = postgres_schema(base, "measured on SQLite instead")
        if created is None:
            bench_backend("sqlite (in place of postgresql)", f"sqlite:///{root / 'pg-fallback.db'}", root / "pg", setup)
        else:
            schema, url = created
            try:
                bench_backend("postgresql", url, root / "pg", setup)
            finally:
                drop_schema(base, schema)
        bench_backend("sqlite", f"sqlite:///{root / 'plue.db'}", root / "sqlite", setup)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
