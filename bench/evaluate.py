"""Benchmark: evaluating workflow files in the sandbox, cold and from the cache.

Generates a repository of realistic workflow files (CI pipelines, matrices built
with loops, nightly schedules, issue triage with llm steps, releases), then
measures in one run:

- baseline: a bare fork+exit of the warm parent, and an unsandboxed in-process
  exec of the same files (what the sandbox costs on top of plain Python);
- cold: every file evaluated in its own confined process (`Evaluator.evaluate_many`);
- registry cold scan: discovery + evaluation + validation + cache writes;
- registry cached re-scan of the unchanged repository (no evaluation at all).

Usage: uv run python bench/evaluate.py [--files 1000] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from plue.plan import Plan, Step, Trigger
from plue.registry import Registry
from plue.sandbox import EvaluationRequest, Evaluator
from plue.sandbox.context import make_ctx

CI = '''"""CI for {name}."""
from plue import Plan, Step, Trigger

BRANCHES = {branches!r}


def workflow(ctx):
    steps = [
        Step.bash("install", "{install}"),
        Step.bash("lint", "{lint}", depends_on=["install"]),
        Step.bash("test", "{test}", depends_on=["install"], timeout="{timeout}m", retries={retries}),
        Step.bash("build", "{build}", depends_on=["lint", "test"]),
    ]
    if ctx.event is not None and ctx.event.name == "pull_request":
        steps.append(Step.llm("review", prompt="Review the changes of {name}", depends_on=["test"]))
    return Plan(
        "{name} CI",
        triggers=[Trigger.on_push(branch=BRANCHES), Trigger.on_pull_request(paths=["src/**", "!docs/**"])],
        steps=steps,
    )
'''

MATRIX = """from plue import Plan, Step, Trigger

PYTHONS = {pythons!r}
PLATFORMS = {platforms!r}


def job_id(python: str, platform: str) -> str:
    return f"test-{{platform}}-py{{python.replace('.', '')}}"


def workflow():
    jobs = []
    for platform in sorted(PLATFORMS):
        for index, python in enumerate(PYTHONS):
            env = {{"PYTHON": python, "PLATFORM": platform, "SHARD": str(index)}}
            jobs.append(Step.bash(job_id(python, platform), "tox -e py{{}}".format(python), env=env))
    report = Step.bash(
        "report",
        "echo %d jobs done" % len(jobs),
        depends_on=[job.id for job in jobs],
        when="always",
    )
    return Plan("{name} matrix", triggers=[Trigger.on_push(branch="main")], steps=jobs + [report])
"""

NIGHTLY = """from plue import Plan, Step, Trigger

TARGETS = {targets!r}


def workflow(ctx):
    dry_run = bool(ctx.inputs.get("dry_run", False))
    steps = [Step.python("prepare", script="print('preparing {name}')")]
    for target in TARGETS:
        cmd = f"./deploy.sh {{target}}" + (" --dry-run" if dry_run else "")
        steps.append(Step.bash(f"deploy-{{target}}", cmd, depends_on=["prepare"], timeout=600))
    return Plan(
        "{name} nightly",
        triggers=[
            Trigger.on_schedule(cron="{minute} {hour} * * *"),
            Trigger.manual(inputs={{"dry_run": {{"type": "boolean", "default": False}}}}),
        ],
        steps=steps,
    )
"""

TRIAGE = """from plue import Plan, Step, Trigger

LABELS = {labels!r}


def workflow(ctx):
    title = ctx.event.payload["issue"]["title"] if ctx.event is not None else "manual"
    triage = Step.llm(
        "triage",
        prompt="Pick one label of " + ", ".join(LABELS) + " for: {{{{ title }}}}",
        inputs={{"title": title}},
        tools=["read_file", "grep"],
        output_schema={{"type": "object", "properties": {{"label": {{"enum": LABELS}}}}}},
    )
    apply = Step.bash(
        "label",
        "gh issue edit --add-label '{{{{ steps.triage.outputs.label }}}}'",
        depends_on=["triage"],
    )
    return Plan(
        "{name} triage",
        triggers=[Trigger.on_issue(types=["opened", "labeled"], labels=LABELS[:1])],
        steps=[triage, apply],
    )
"""

RELEASE = """from plue import Plan, Step, Trigger


def workflow(ctx):
    version = ctx.event.tag if ctx.event is not None and ctx.event.tag else "dev"
    return Plan(
        "{name} release",
        triggers=[Trigger.on_push(tags=["v*"])],
        steps=[
            Step.bash("build", "python -m build"),
            Step.python("notes", script="print('notes for ' + {q}{name}{q})", depends_on=["build"]),
            Step.bash("publish", f"twine upload dist/* # {{version}}", depends_on=["notes"], retries=2),
        ],
    )
"""


def generate(root: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    words = ["api", "web", "core", "data", "auth", "search", "billing", "infra", "docs", "cli"]
    for index in range(count):
        name = f"{rng.choice(words)}-{index}"
        kind = index % 5
        if kind == 0:
            text = CI.format(
                name=name,
                branches=["main", f"release/{rng.randint(1, 9)}.*"],
                install=rng.choice(["npm ci", "uv sync", "pip install -e ."]),
                lint=rng.choice(["npm run lint", "ruff check ."]),
                test=rng.choice(["npm test", "pytest -q"]),
                build=rng.choice(["npm run build", "python -m build"]),
                timeout=rng.randint(5, 30),
                retries=rng.randint(0, 2),
            )
        elif kind == 1:
            text = MATRIX.format(
                name=name,
                pythons=rng.sample(["3.9", "3.10", "3.11", "3.12", "3.13"], 3),
                platforms=rng.sample(["linux", "macos", "windows"], 2),
            )
        elif kind == 2:
            text = NIGHTLY.format(
                name=name,
                targets=rng.sample(["eu", "us", "ap", "staging"], 2),
                minute=rng.randint(0, 59),
                hour=rng.randint(0, 23),
            )
        elif kind == 3:
            text = TRIAGE.format(name=name, labels=rng.sample(["bug", "feature", "question", "docs"], 3))
        else:
            text = RELEASE.format(name=name, q="'")
        directory = root / f"service-{index // 100}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}.plue.py").write_text(text)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:10,.0f} files/s  ({seconds * 1000 / count:7.3f} ms/file)"


def bare_fork_seconds(rounds: int = 300) -> float:
    """A fork + exit of this (warm, similar-sized) process: the floor of per-file cost."""
    started = time.perf_counter()
    for _ in range(rounds):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return (time.perf_counter() - started) / rounds


def unsandboxed_seconds(sources: list[bytes]) -> float:
    """Plain in-process exec of the same files: what the sandbox adds on top of Python."""
    started = time.perf_counter()
    for source in sources:
        namespace = {"Plan": Plan, "Step": Step, "Trigger": Trigger, "__name__": "bench"}
        exec(compile(source, "bench", "exec"), namespace)
        function: Any = namespace["workflow"]
        plan = function(make_ctx(None)) if function.__code__.co_argcount else function()
        plan.to_data()
    return (time.perf_counter() - started) / len(sources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="plue-bench-"))
    try:
        generate(root, args.files)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
        paths = sorted(root.rglob("*.plue.py"))
        sources = [path.read_bytes() for path in paths]
        print(
            f"# bench/evaluate.py: {len(paths)} generated workflow files, {args.workers} workers, "
            f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
        )

        fork = bare_fork_seconds()
        plain = unsandboxed_seconds(sources)
        print(f"baseline  bare fork+exit       {1 / fork:10,.0f} forks/s  ({fork * 1000:7.3f} ms)")
        print(f"baseline  unsandboxed exec     {rate(len(sources), plain * len(sources))}")

        with Evaluator(workers=args.workers) as evaluator:
            evaluator.evaluate(sources[0], "warm-up")  # start the warm parents
            requests = [EvaluationRequest(source, str(path)) for source, path in zip(sources, paths, strict=True)]
            started = time.perf_counter()
            results = evaluator.evaluate_many(requests)
            cold = time.perf_counter() - started
            failed = [str(r.error) for r in results if not r.ok]
            if failed:
                raise SystemExit(f"bench: {len(failed)} files failed, e.g. {failed[0]}")
            print(
                f"sandbox   cold evaluation      {rate(len(requests), cold)}"
                f"  = {cold / len(requests) / fork:.1f}x a bare fork, "
                f"{cold / len(requests) / plain:.1f}x unsandboxed exec"
            )

            cache_dir = root / ".plue" / "cache"
            registry = Registry(root, evaluator=evaluator, cache_dir=cache_dir)
            started = time.perf_counter()
            entries = registry.scan()
            scan = time.perf_counter() - started
            assert all(entry.ok for entry in entries), [e.problems for e in entries if not e.ok][:1]
            print(f"registry  cold scan            {rate(len(entries), scan)}  (evaluate + validate + cache)")

            rescans = 5
            started = time.perf_counter()
            for _ in range(rescans):
                fresh = Registry(root, evaluator=evaluator, cache_dir=cache_dir)
                cached_entries = fresh.scan()
            cached = (time.perf_counter() - started) / rescans
            assert len(cached_entries) == len(entries)
            print(
                f"registry  cached re-scan       {rate(len(cached_entries), cached)}"
                f"  = {scan / cached:.0f}x faster than cold"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
