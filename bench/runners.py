"""Benchmark: runner agents (`plue runner` processes) against the server's built-in workers, on PostgreSQL and
on SQLite, with baselines measured in the same run.

Measures, for each database:

1. Start latency with a warm runner: one idle `plue runner` long-polling a `plue server` subprocess (workers
   off); signed push deliveries one at a time (each queues a run of a one-step `true` workflow from a real
   bare git repository), the time from the 202 received to the step's stored `started_at`, p50/p99 (and,
   for where the time goes, queued -> claimed and 202 -> run ended). Baselines: the same deliveries executed
   by the server's built-in worker pool (workers=8), and a bare `subprocess` spawn of `true`.
2. Throughput: N tiny runs (one `true` step, no repository) queued at once, drained by 8 `plue runner`
   processes with `--capacity 1` (the runner of figure 1 and 7 more; workers off): runs/s completed and
   claims/s, from the stored claim and end times. Baseline: the same runs executed by the server's built-in
   workers (workers=8). The rates are the steady state: from the moment the last executor claimed its first
   run (runs queued by another process are noticed at each executor's next poll: 0.5 s for a runner's
   waiting claim, 1 s for an idle worker), so they do not depend on N.
3. Pool scale-up on the local backend: a server (`create_app` with `[[pool.pools]]`: min_idle 0,
   max_runners 4, in this process) with an empty pool; 4 runs are queued (their step waits for a file) and
   the server is told as a delivery would tell it; the time until 4 runs are claimed by 4 distinct runners.
   Baseline: the same 4 runs, with 4 `plue runner` processes started directly by this script.

Times are the machine's wall clock (`time.time()`), which the server, the runners and this script share;
the 2-core machines this runs on are shared, so read the ratios against the baselines, not the absolutes.

PostgreSQL: --postgres URL, else $PLUE_BENCH_POSTGRES_URL or $PLUE_TEST_POSTGRES_URL,
else postgresql://postgres@127.0.0.1:5432/test; each run uses a temporary schema.

Usage: uv run python bench/runners.py [--latency-runs 50] [--drain-runs 200] [--scale-ups 3] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
from support.postgres import DEFAULT_POSTGRES, drop_schema, postgres_schema
from support.serving import serve
from support.webhooks import REPOSITORY, SECRET, make_upstream, percentile, push_body, signed_headers

from plue import Plan, Step
from plue.server.api.state import ServerState, wake_workers
from plue.server.app import create_app
from plue.server.config import PoolSettings, PoolSpec, ServerConfig
from plue.server.pool_service import stop_pool
from plue.store import NewRun, RunRecord, Store

FINISHED: Final = frozenset({"success", "failed", "cancelled", "interrupted"})
SPACING_SECONDS: Final = 0.05  # between latency deliveries: the runner is back in its long poll (not a sync)
WAIT_SECONDS: Final = 120.0  # any single wait of this script; past it the bench stops with the reason

WORKFLOW: Final = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    return Plan("Bench", steps=[Step.bash("noop", "true")], triggers=[Trigger.on_push()])
"""

TINY_PLAN: Final = Plan("Tiny", steps=[Step.bash("noop", "true")]).to_data()


# --- helpers --------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS, every: float = 0.01) -> None:
    """Poll for a condition with a deadline; the bench stops with `what` if it never holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_of(path: str) -> NewRun:
    """A run of the one-step `true` plan, without a repository (nothing to fetch), that any executor takes."""
    return NewRun.from_plan(path, TINY_PLAN, event_name="manual", event=None, inputs={})


@dataclass
class Database:
    """One database under test, the repository its servers ingest, and a store of this process reading it."""

    name: str
    url: str
    root: Path
    store: Store
    repository_url: str
    sha: str


# --- processes: `plue server` and `plue runner` -------------------------------------------------------


@contextmanager
def server_process(db: Database, label: str, *, workers: int) -> Iterator[str]:
    """`plue server` in a subprocess on a free port of 127.0.0.1, with `workers` built-in workers; its URL."""
    root = db.root / label
    root.mkdir(parents=True)
    config = root / "plue.toml"
    config.write_text(
        f"database_url = {json.dumps(db.url)}\n"
        f"data_dir = {json.dumps(str(root / 'server-data'))}\n"
        f"webhook_secret = {json.dumps(SECRET.decode())}\n"
        f"workers = {workers}\n"
        f"[repositories.{json.dumps(REPOSITORY)}]\n"
        f"url = {json.dumps(db.repository_url)}\n"
        'default_branch = "main"\n'
    )
    port = free_port()
    log_path = root / "server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "plue", "server", "--config", str(config), "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            if process.poll() is not None:
                raise SystemExit(f"bench: plue server exited: {log_path.read_text(errors='replace')[-2000:]}")
            try:
                return httpx.get(url + "/healthz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, "plue server to answer", 60, every=0.05)
        yield url
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], *, signalled: bool = False) -> None:
    """SIGTERM unless `signalled` (a runner drains and deregisters; a server stops), then SIGKILL if it does
    not exit. (A runner takes a second SIGTERM as "cancel the current runs".)"""
    if not signalled and process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def runner_processes(
    db: Database, server_url: str, count: int, label: str, *, wait_idle: bool = True
) -> Iterator[list[str]]:
    """`count` `plue runner` processes (capacity 1) dialling `server_url`; their names. With `wait_idle`,
    once each has registered and is idle."""
    token = db.store.create_token(f"bench-{label}-{uuid.uuid4().hex[:8]}", "runner")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PLUE_")}
    env["PLUE_TOKEN"] = token
    names = [f"bench-{label}-{index}-{uuid.uuid4().hex[:6]}" for index in range(count)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name in names:
            work = db.root / "runners" / name
            work.mkdir(parents=True)
            with (work.parent / f"{name}.log").open("wb") as log_file:
                argv = ["runner", "--server", server_url, "--name", name, "--work-dir", str(work), "--capacity", "1"]
                # Started as the pool's local backend starts its runners (cwd, session, descriptors).
                process = subprocess.Popen(
                    [sys.executable, "-m", "plue", *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=work,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )
                processes.append(process)

        def all_idle() -> bool:
            if any(process.poll() is not None for process in processes):
                raise SystemExit(f"bench: a plue runner exited; see {db.root / 'runners'}")
            idle = {runner.name for runner in db.store.list_runners() if runner.status == "idle"}
            return idle.issuperset(names)

        if wait_idle:
            wait_until(all_idle, f"{count} runners to register", 60, every=0.05)
        yield names
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            stop_process(process, signalled=True)


def deliver(client: httpx.Client, sha: str, delivery: str) -> tuple[float, int]:
    """One signed push delivery; the time its 202 was received and the id of the one run it queued."""
    body = push_body(sha)
    response = client.post("/webhooks/github", content=body, headers=signed_headers(body, delivery))
    accepted = time.time()
    reply = response.json() if response.status_code == 202 else {}
    if reply.get("outcome") != "queued" or len(reply.get("runs", ())) != 1:
        raise SystemExit(f"bench: a delivery did not queue one run: {response.status_code} {response.text[:300]}")
    return accepted, int(reply["runs"][0])


def finished_run(store: Store, run_id: int) -> RunRecord:
    """The run once it ended (successfully, or the bench stops). PostgreSQL's change notifications wake the
    wait at once; on SQLite, where other processes' changes are not heard, it looks every 20 ms."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        version = store.change_version(run_id)
        run = store.get_run(run_id)
        if run is not None and run.status in FINISHED:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for run {run_id} to end")
        store.wait_for_change(run_id, version, 0.02)
    if run.status != "success":
        raise SystemExit(f"bench: run {run_id} ended {run.status}: {run.error}")
    return run


# --- 1. start latency ---------------------------------------------------------------------------------


@dataclass
class Latency:
    claim: list[float]  # queued -> claimed (the run's started_at - its queued_at)
    step: list[float]  # 202 received -> the step's stored started_at
    end: list[float]  # 202 received -> the run's stored finished_at


def measure_latency(db: Database, server_url: str, runs: int, warm_up: int, runner: str | None) -> Latency:
    """Deliveries one at a time, each after the previous run ended; the last `runs` are measured. The figures
    come from the stored times, so how often this process looks does not change them (it looks gently, not
    to take the CPU from the server and the runner)."""
    result = Latency([], [], [])
    prefix = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=server_url, timeout=60) as client:
        for index in range(warm_up + runs):
            accepted, run_id = deliver(client, db.sha, f"{prefix}-{index}")
            run = finished_run(db.store, run_id)
            if runner is not None:
                (attempt,) = db.store.attempts(run_id)
                if attempt.runner_name != runner:
                    raise SystemExit(f"bench: run {run_id} was executed by {attempt.runner_name}, not {runner}")
            if index >= warm_up:
                step_started = run.steps[0].started_at
                assert step_started is not None and run.started_at is not None and run.queued_at is not None
                assert run.finished_at is not None
                result.claim.append(run.started_at - run.queued_at)
                result.step.append(step_started - accepted)
                result.end.append(run.finished_at - accepted)
            time.sleep(SPACING_SECONDS)
    return result


def spawn_latencies(count: int) -> list[float]:
    spawns = []
    for _ in range(count):
        started = time.perf_counter()
        subprocess.run(["true"], check=True)
        spawns.append(time.perf_counter() - started)
    return spawns


def report_latency(runs: int, rows: Sequence[tuple[str, Latency]], spawns: list[float]) -> None:
    base = statistics.median(rows[0][1].step)
    spawn = statistics.median(spawns)
    print(f"  1. webhook 202 -> first step started, one-step `true` workflow, {runs} runs one at a time:")
    for label, latency in rows:
        p50 = statistics.median(latency.step)
        line = (
            f"     {label:<36} p50 {ms(p50)}  p99 {ms(percentile(latency.step, 0.99))}  "
            f"(queued -> claimed p50 {ms(statistics.median(latency.claim))}, 202 -> run ended p50 "
            f"{ms(statistics.median(latency.end))})"
        )
        if latency is not rows[0][1]:
            line += f"  = {p50 / base:.2f}x the baseline, {p50 / spawn:.0f}x a spawn"
            line += f"; target p50 <= 50 ms: {'met' if p50 <= 0.05 else 'NOT met'}"
        print(line)
    print(f"     {'bare subprocess spawn of `true`':<36} p50 {ms(spawn)}  p99 {ms(percentile(spawns, 0.99))}")


# --- 2. throughput --------------------------------------------------------------------------------------


@dataclass
class Drain:
    seconds: float  # first claim -> last end
    runs_per_second: float  # steady state: runs ended after every executor had claimed one
    claims_per_second: float  # steady state: claims after every executor had claimed one
    executors: int  # distinct runners (or worker threads) that claimed


def drain(db: Database, count: int, label: str) -> Drain:
    """Queue `count` tiny runs at once (a few warm-up runs first); wait until every one ended; the rates."""
    for run_id in [db.store.enqueue(run_of(f"warm-{label}.plue.py")) for _ in range(8)]:
        finished_run(db.store, run_id)
    path = f"drain-{label}.plue.py"
    ids = {db.store.enqueue(run_of(path)) for _ in range(count)}

    def drained() -> bool:
        return not any(db.store.list_runs(workflow=path, status=status, limit=1) for status in ("queued", "running"))

    wait_until(drained, f"{count} runs to end", every=0.05)
    runs = [run for run in db.store.list_runs(workflow=path, limit=count) if run.id in ids]
    failed = [run for run in runs if run.status != "success"]
    if len(runs) != count or failed:
        raise SystemExit(f"bench: {len(runs)} of {count} runs found, {len(failed)} not successful")
    claims = [(run.started_at or 0.0, run.finished_at or 0.0, run.owner or "") for run in runs]
    first_claim = min(claimed for claimed, _, _ in claims)
    last_claim = max(claimed for claimed, _, _ in claims)
    last_end = max(ended for _, ended, _ in claims)
    # Steady state: from the moment the last executor to start claimed its first run (the executors notice
    # runs queued by another process at their next poll, each at its own moment).
    firsts: dict[str, float] = {}
    for claimed, _, owner in claims:
        firsts[owner] = min(firsts.get(owner, claimed), claimed)
    steady = max(firsts.values())
    if last_claim - steady < 0.2 * (last_claim - first_claim):  # too short to say anything: the whole window
        steady = first_claim
    claimed_after = sum(1 for claimed, _, _ in claims if claimed > steady)
    ended_after = sum(1 for _, ended, _ in claims if ended > steady)
    return Drain(
        last_end - first_claim,
        ended_after / max(last_end - steady, 1e-6),
        claimed_after / max(last_claim - steady, 1e-6),
        len(firsts),
    )


def report_throughput(count: int, runners: int, workers: Drain, agents: Drain) -> None:
    print(f"  2. draining {count} queued tiny runs (one `true` step each):")
    for label, result in (
        (f"baseline: built-in workers (workers={runners})", workers),
        (f"{runners} runners (--capacity 1)", agents),
    ):
        line = (
            f"     {label:<36} {result.runs_per_second:6.1f} runs/s  {result.claims_per_second:6.1f} claims/s  "
            f"(steady state; {result.seconds:5.2f} s from the first claim to the last end, "
            f"{result.executors} executors)"
        )
        if result is agents:
            line += (
                f"  = {agents.runs_per_second / workers.runs_per_second:.2f}x / "
                f"{agents.claims_per_second / workers.claims_per_second:.2f}x the baseline's runs/s / claims/s"
            )
        print(line)


def bench_executors(db: Database, setup: Setup) -> None:
    """Figures 1 and 2: first on a server with built-in workers, then on one with runners only."""
    spawns = spawn_latencies(setup.latency_runs)
    with server_process(db, "workers", workers=setup.runners) as url:
        worker_latency = measure_latency(db, url, setup.latency_runs, 3, None)
        worker_drain = drain(db, setup.drain_runs, "workers")
    with ExitStack() as stack:
        url = stack.enter_context(server_process(db, "runners", workers=0))
        (warm,) = stack.enter_context(runner_processes(db, url, 1, "warm"))
        runner_latency = measure_latency(db, url, setup.latency_runs, 3, warm)
        stack.enter_context(runner_processes(db, url, setup.runners - 1, "more"))
        runner_drain = drain(db, setup.drain_runs, "runners")
    rows = [
        (f"baseline: built-in workers (workers={setup.runners})", worker_latency),
        ("one warm idle runner", runner_latency),
    ]
    report_latency(setup.latency_runs, rows, spawns)
    report_throughput(setup.drain_runs, setup.runners, worker_drain, runner_drain)


# --- 3. pool scale-up -------------------------------------------------------------------------------------


def scale_up(db: Database, index: int, *, pooled: bool, size: int) -> float:
    """Seconds from `size` queued runs (and, pooled, the server told) until they are claimed by `size` runners."""
    root = db.root / f"scale-{'pool' if pooled else 'direct'}-{index}"
    gate = root / "gate"
    port = free_port()
    pools = (PoolSpec("bench", min_idle=0, max_runners=size),) if pooled else ()
    config = ServerConfig(
        database_url=db.url,
        data_dir=root / "data",
        webhook_secrets=(SECRET,),
        repositories={},
        workers=0,
        port=port,
        pool=PoolSettings(server_url=f"http://127.0.0.1:{port}", pools=pools),
    )
    # Each run waits (at most WAIT_SECONDS, in case the bench stops) for the gate, looking every 0.2 s: a
    # few spawns a second, not to take the CPU from the runners still starting.
    polls = int(WAIT_SECONDS / 0.2)
    wait = f"for i in $(seq {polls}); do [ -e {gate} ] && exit 0; sleep 0.2; done; exit 1"
    waiting = Plan("Wait", steps=[Step.bash("wait", wait)]).to_data()
    app = create_app(config)
    state: ServerState = app.state.plue
    store = state.store
    with ExitStack() as stack:
        url = stack.enter_context(serve(app, port))
        # Pool runners deregister on SIGTERM: stop them while the server still answers (its lifespan would
        # stop them only after uvicorn stopped listening).
        stack.callback(stop_pool, state)
        ids = [
            store.enqueue(NewRun.from_plan("wait.plue.py", waiting, event_name="manual", event=None, inputs={}))
            for _ in range(size)
        ]
        started = time.time()
        if pooled:
            wake_workers(state)  # what a dispatch does once it queued a run: the pool grows now
        else:
            stack.enter_context(runner_processes(db, url, size, f"direct{index}", wait_idle=False))

        stack.callback(gate.touch)  # first thing on the way out, even a failed one: the runs end

        def all_claimed() -> bool:
            return all(store.attempts(run_id) for run_id in ids)

        wait_until(all_claimed, f"{size} runs to be claimed", every=0.01)
        attempts = [store.attempts(run_id)[0] for run_id in ids]
        if len({attempt.runner_id for attempt in attempts}) != size:
            raise SystemExit(f"bench: {size} runs were claimed by fewer than {size} runners")
        seconds = max(attempt.claimed_at for attempt in attempts) - started
        gate.touch()
        for run_id in ids:
            finished_run(store, run_id)
    return seconds


def bench_scale_up(db: Database, times: int, size: int = 4) -> None:
    pooled = [scale_up(db, index, pooled=True, size=size) for index in range(times)]
    direct = [scale_up(db, index, pooled=False, size=size) for index in range(times)]
    print(f"  3. scale-up, local backend: {size} queued runs -> {size} distinct runners busy, {times} times:")
    pool_median, direct_median = statistics.median(pooled), statistics.median(direct)
    print(
        f"     pool (min_idle 0, max_runners {size})         median {pool_median:6.2f} s  "
        f"(each: {', '.join(f'{value:.2f}' for value in pooled)} s)  = {pool_median / direct_median:.2f}x the baseline"
    )
    print(
        f"     baseline: {size} `plue runner` started directly  median {direct_median:6.2f} s  "
        f"(each: {', '.join(f'{value:.2f}' for value in direct)} s)"
    )


# --- the databases -----------------------------------------------------------------------------------------


@dataclass
class Setup:
    latency_runs: int
    drain_runs: int
    runners: int
    scale_ups: int


def bench_database(name: str, url: str, root: Path, setup: Setup) -> None:
    print(f"{name}:", flush=True)
    root.mkdir(parents=True)
    repository_url, sha = make_upstream(root / "upstream", WORKFLOW)
    with Store.open(url=url) as store:
        db = Database(name, url, root, store, repository_url, sha)
        bench_executors(db, setup)
        bench_scale_up(db, setup.scale_ups)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--latency-runs", type=int, default=50, help="measured deliveries for figure 1")
    parser.add_argument("--drain-runs", type=int, default=200, help="queued runs for figure 2")
    parser.add_argument("--runners", type=int, default=8, help="runners (and built-in workers) for figure 2")
    parser.add_argument("--scale-ups", type=int, default=3, help="repetitions of figure 3")
    parser.add_argument("--postgres", default=None)
    args, _ = parser.parse_known_args()  # `./dev bench` passes every bench script the same arguments
    if args.latency_runs < 1 or args.drain_runs < 2 or args.runners < 1 or args.scale_ups < 1:
        parser.error("--latency-runs, --runners and --scale-ups must be at least 1, --drain-runs at least 2")
    setup = Setup(args.latency_runs, args.drain_runs, args.runners, args.scale_ups)

    print(
        f"# bench/runners.py: `plue server` and `plue runner` processes on 127.0.0.1; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    base = args.postgres or os.environ.get("PLUE_BENCH_POSTGRES_URL") or os.environ.get("PLUE_TEST_POSTGRES_URL")
    base = base or DEFAULT_POSTGRES
    root = Path(tempfile.mkdtemp(prefix="plue-bench-runners-"))
    try:
        created = postgres_schema(base)
        if created is not None:
            schema, url = created
            try:
                bench_database("postgresql", url, root / "pg", setup)
            finally:
                drop_schema(base, schema)
        bench_database("sqlite", f"sqlite:///{root / 'plue.db'}", root / "sqlite", setup)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
