"""Benchmark: the engine's overhead per step, against the cost of spawning the processes themselves.

Workloads of bash steps that run ``true``: a 200-step fan-out, a 100-step chain,
a diamond (1 -> 100 -> 1) and a 1,000-step fan-out; and one step printing
1,000,000 lines (``seq 1000000``). The sink counts events and drops them (the
store's own bench measures persistence).

The floor is measured in the same run: the same number of processes spawned
with `subprocess` directly, sequentially and N-way parallel on threads (N =
--parallel, which the engine gets as ``max_parallel``), both as ``true`` and as
``bash -eo pipefail -c true`` with pipes and a new session (exactly the process
a bash step starts). A chain is compared with the sequential floor, the other
workloads with the parallel one. Overhead per step = (engine time - floor) / steps.

Also shown: the engine alone, with an executor that starts no process (its
bookkeeping per step: scheduling, events, templating, environment, outputs).

Targets: < 2 ms overhead per step on the 1,000-step fan-out; peak RSS < 150 MB.

Usage: uv run python bench/engine.py [--parallel 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from plue.engine import Engine, EngineEvent, RunStatus, StepContext, StepExecutor, StepLogs, StepResult, StepStatus
from plue.plan import Plan, Step
from plue.steps import default_executors

BASH_TRUE = [shutil.which("bash") or "/bin/bash", "-eo", "pipefail", "-c", "true"]
TRUE = [shutil.which("true") or "/bin/true"]


class CountingSink:
    """Counts events and log lines; keeps nothing."""

    def __init__(self) -> None:
        self.events = 0
        self.lines = 0

    def emit(self, event: EngineEvent) -> None:
        self.events += 1
        if isinstance(event, StepLogs):
            self.lines += len(event.lines)


def fan_out(count: int) -> dict[str, Any]:
    return Plan(f"fan-out {count}", steps=[Step.bash(f"s{i}", "true") for i in range(count)]).to_data()


def chain(count: int) -> dict[str, Any]:
    steps = [Step.bash("s0", "true")]
    steps += [Step.bash(f"s{i}", "true", depends_on=[f"s{i - 1}"]) for i in range(1, count)]
    return Plan(f"chain {count}", steps=steps).to_data()


def diamond(width: int) -> dict[str, Any]:
    middle = [Step.bash(f"m{i}", "true", depends_on=["top"]) for i in range(width)]
    bottom = Step.bash("bottom", "true", depends_on=[step.id for step in middle])
    return Plan(f"diamond 1-{width}-1", steps=[Step.bash("top", "true"), *middle, bottom]).to_data()


def many_lines(count: int) -> dict[str, Any]:
    return Plan("lines", steps=[Step.bash("seq", f"seq {count}")]).to_data()


def spawn_floor(argv: list[str], count: int, parallel: int, step_like: bool) -> float:
    """Seconds to spawn and wait for `count` processes, `parallel` at a time."""
    options: dict[str, Any] = (
        {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "start_new_session": True}
        if step_like
        else {}
    )
    remaining = [count]
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            subprocess.run(argv, check=True, **options)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


class NoProcess:
    """An executor that starts nothing: what is left is the engine's own work per step."""

    def run(self, context: StepContext) -> StepResult:
        return StepResult(StepStatus.SUCCESS, exit_code=0)


def run_engine(
    plan: dict[str, Any], parallel: int, workspace: Path, executors: dict[str, StepExecutor] | None = None
) -> tuple[float, CountingSink]:
    sink = CountingSink()
    executors = executors or default_executors()
    engine = Engine(plan, executors, sink, run_id="bench", workspace=workspace, max_parallel=parallel)
    start = time.perf_counter()
    status = engine.run()
    elapsed = time.perf_counter() - start
    assert status is RunStatus.SUCCESS, status
    return elapsed, sink


def engine_seconds(plan: dict[str, Any], parallel: int, workspace: Path) -> float:
    return run_engine(plan, parallel, workspace)[0]


def best_of_interleaved(repeat: int, *measures: Callable[[], float]) -> list[float]:
    """The best time of each measure over `repeat` rounds; a round runs each once, so drift hits all alike."""
    best = [float("inf")] * len(measures)
    for _ in range(repeat):
        for index, measure in enumerate(measures):
            best[index] = min(best[index], measure())
    return best


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parallel", type=int, default=2, help="max_parallel, and the floor's threads (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per measurement; the best is shown")
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    parallel, repeat = args.parallel, args.repeat
    workloads = [
        ("fan-out 200", fan_out(200), 200, parallel),
        ("chain 100", chain(100), 100, 1),
        ("diamond 1-100-1", diamond(100), 102, parallel),
        ("fan-out 1000", fan_out(1000), 1000, parallel),
    ]
    workspace = Path(tempfile.mkdtemp(prefix="plue-bench-"))
    try:
        run_engine(fan_out(20), parallel, workspace)  # warm up imports and the page cache
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"engine bench: bash steps running `true`, max_parallel={parallel}, best of {repeat} rounds")
        print(f"{os.cpu_count()} CPUs, load average {load} (the floors move with it: compare within a row)")
        print()
        columns = (
            "workload",
            "steps",
            "floor",
            "true",
            "bash true",
            "engine",
            "over true",
            "x true",
            "over bash",
            "x bash",
        )
        widths = (16, 6, 6, 9, 10, 9, 10, 7, 10, 7)
        print("".join(f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, w) in enumerate(zip(columns, widths, strict=True))))
        units = ("", "", "", "ms/step", "ms/step", "ms/step", "ms/step", "", "ms/step", "")
        print("".join(f"{c:>{w}}" for c, w in zip(units, widths, strict=True)))
        print("-" * sum(widths))
        for name, plan, steps, floor_parallel in workloads:
            floor_true, floor_bash, engine_time = (
                seconds / steps
                for seconds in best_of_interleaved(
                    repeat,
                    partial(spawn_floor, TRUE, steps, floor_parallel, False),
                    partial(spawn_floor, BASH_TRUE, steps, floor_parallel, True),
                    partial(engine_seconds, plan, parallel, workspace),
                )
            )
            cells = (
                f"{steps}",
                "seq" if floor_parallel == 1 else f"{floor_parallel}-way",
                f"{floor_true * 1e3:.3f}",
                f"{floor_bash * 1e3:.3f}",
                f"{engine_time * 1e3:.3f}",
                f"{(engine_time - floor_true) * 1e3:+.3f}",
                f"{engine_time / floor_true:.2f}",
                f"{(engine_time - floor_bash) * 1e3:+.3f}",
                f"{engine_time / floor_bash:.2f}",
            )
            print(f"{name:<{widths[0]}}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths[1:], strict=True)))
        print()
        print(
            "floor: the same number of processes spawned with subprocess directly; true = `true`,"
            " bash true = `bash -eo pipefail -c true`\nwith pipes and a new session (the process a bash step"
            " starts). over = engine - floor per step; x = engine / floor."
        )
        print()
        for name, plan, steps, floor_parallel in workloads:
            alone = min(run_engine(plan, floor_parallel, workspace, {"bash": NoProcess()})[0] for _ in range(repeat))
            print(f"engine alone, {name}: {alone / steps * 1e6:.0f} us/step (an executor that starts no process)")
        print()
        times = []
        for _ in range(repeat):
            elapsed, sink = run_engine(many_lines(args.lines), parallel, workspace)
            assert sink.lines == args.lines, sink.lines
            times.append(elapsed)
        elapsed = min(times)
        print(
            f"log lines: seq {args.lines} through the engine (null sink): {elapsed:.2f} s,"
            f" {args.lines / elapsed:,.0f} lines/s"
        )
        print(f"peak RSS of this process: {peak_rss_mb():.1f} MB (target < 150 MB)")
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    main()
