"""The registry: discovery, loading, the content-hash cache, evaluation with a ctx, matching."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from workflow_repos import (
    BROKEN,
    CI,
    CYCLE,
    EVENT_FIXTURES,
    EXAMPLES,
    NIGHTLY,
    CountingEvaluator,
    ScriptedEvaluator,
    commit_all,
    git,
    git_init,
    paths,
    write,
)

import plue.registry.cache as cache_module
import plue.registry.registry as registry_module
import plue.validation
from plue.events import build_context_data, manual_event, parse_event, schedule_event
from plue.registry import Registry, discover
from plue.registry.cache import INDEX_NAME, cache_key
from plue.registry.inputs import InputError, manual_input_specs, resolve_inputs
from plue.registry.source import source_hash
from plue.sandbox import Limits
from plue.validation import validate_plan


def scan(repo: Path, evaluator: CountingEvaluator | None = None) -> list[registry_module.WorkflowEntry]:
    with Registry(repo, evaluator=evaluator or CountingEvaluator()) as registry:  # type: ignore[arg-type]
        return registry.scan()


def registry_for(repo: Path, evaluator: object) -> Registry:
    return Registry(repo, evaluator=evaluator)  # type: ignore[arg-type]


def cache_dir_of(repo: Path) -> Path:
    [directory] = [p for p in (repo / ".plue" / "cache").iterdir() if p.is_dir()]
    return directory


# --- discovery ------------------------------------------------------------------


def test_git_discovery_lists_tracked_and_untracked_but_not_ignored_files(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    write(
        repo,
        {
            ".gitignore": "ignored.plue.py\nbuild/\n",
            "tracked.plue.py": CI,
            "deep/er/nested.plue.py": CI,
            "gone.plue.py": CI,
            "ignored.plue.py": CI,
            "build/out.plue.py": CI,
            "notes.py": "x = 1\n",
            ".plue.py": CI,  # no NAME before the suffix
            "x.plue.pyc": "",
        },
    )
    commit_all(repo)
    (repo / "gone.plue.py").unlink()  # tracked, deleted in the work tree
    write(repo, {"untracked.plue.py": CI})

    found = [p.as_posix() for p in discover(repo)]

    assert found == ["deep/er/nested.plue.py", "tracked.plue.py", "untracked.plue.py"]


@pytest.mark.parametrize("use_git", [True, False])
def test_discovery_skips_vendored_and_generated_trees(tmp_path: Path, use_git: bool) -> None:
    repo = tmp_path / "repo"
    if use_git:
        git_init(repo)
    write(
        repo,
        {
            "ok.plue.py": CI,
            "node_modules/pkg/a.plue.py": CI,
            ".venv/lib/b.plue.py": CI,
            "venv/c.plue.py": CI,
            "env-with-odd-name/pyvenv.cfg": "home = /usr\n",
            "env-with-odd-name/lib/d.plue.py": CI,
            "src/__pycache__/e.plue.py": CI,
            ".plue/f.plue.py": CI,
            "src/g.plue.py": CI,
        },
    )

    assert [p.as_posix() for p in discover(repo)] == ["ok.plue.py", "src/g.plue.py"]


def test_discovery_outside_git_walks_the_tree_without_following_directory_symlinks(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    write(outside, {"secret.plue.py": CI})
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI, "sub/b.plue.py": CI})
    (repo / "linked-dir").symlink_to(outside, target_is_directory=True)

    assert [p.as_posix() for p in discover(repo)] == ["a.plue.py", "sub/b.plue.py"]


# --- loading ---------------------------------------------------------------------


def test_one_broken_file_never_hides_the_others(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    write(repo, {"a.plue.py": CI, "b.plue.py": BROKEN, "c.plue.py": CYCLE, "d.plue.py": NIGHTLY})

    entries = {entry.path: entry for entry in scan(repo)}

    assert sorted(entries) == ["a.plue.py", "b.plue.py", "c.plue.py", "d.plue.py"]
    assert entries["a.plue.py"].ok and entries["d.plue.py"].ok
    assert entries["a.plue.py"].name == "CI"
    assert [t["event"] for t in entries["a.plue.py"].triggers] == ["push", "pull_request"]
    assert entries["a.plue.py"].content_hash == source_hash(CI.encode())
    assert validate_plan(entries["a.plue.py"].plan) == []

    broken = entries["b.plue.py"]
    assert not broken.ok and broken.plan is None and broken.triggers == []
    assert len(broken.problems) == 1
    assert broken.problems[0].startswith("b.plue.py:1:14: ")

    cycle = entries["c.plue.py"]
    assert not cycle.ok and cycle.plan is None
    assert cycle.name == "Cycle"  # the name survives a validation failure
    assert cycle.problems and all(p.startswith("c.plue.py: steps[") for p in cycle.problems)
    assert any("cycle" in p for p in cycle.problems)


def test_all_files_are_evaluated_in_one_batch(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {f"w{i}.plue.py": CI.replace('"CI"', f'"CI {i}"') for i in range(6)})
    calls: list[int] = []
    evaluator = CountingEvaluator()
    real = evaluator.evaluate_many

    def batch(requests):  # type: ignore[no-untyped-def]
        requests = list(requests)
        calls.append(len(requests))
        return real(requests)

    evaluator.evaluate_many = batch  # type: ignore[method-assign]
    entries = scan(repo, evaluator)

    assert calls == [6]
    assert [e.name for e in entries] == [f"CI {i}" for i in range(6)]


def test_identical_files_are_evaluated_once_and_reported_under_their_own_paths(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": BROKEN, "b.plue.py": BROKEN})
    evaluator = CountingEvaluator()

    entries = scan(repo, evaluator)

    assert len(evaluator.paths) == 1
    assert entries[0].problems[0].startswith("a.plue.py:1:14: ")
    assert entries[1].problems[0].startswith("b.plue.py:1:14: ")


def test_too_large_file_is_refused_without_evaluating(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"big.plue.py": "# " + "x" * 200 + "\n" + CI, "ok.plue.py": CI})
    evaluator = CountingEvaluator()
    evaluator.limits = Limits(max_source_bytes=100)

    entries = scan(repo, evaluator)

    assert entries[0].path == "big.plue.py"
    assert entries[0].problems == [
        f"big.plue.py: file is {len(CI) + 203} bytes, over the 100-byte limit for workflow files"
    ]
    assert evaluator.paths == []  # ok.plue.py is over the limit too
    assert entries[0].content_hash is None


def test_file_vanishing_between_listing_and_reading_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    write(repo, {"here.plue.py": CI})
    monkeypatch.setattr(registry_module, "discover_paths", lambda root: ["gone.plue.py", "here.plue.py"])

    entries = scan(repo)

    assert entries[0].path == "gone.plue.py"
    assert entries[0].problems == ["gone.plue.py: file vanished, or is a broken symlink"]
    assert entries[1].ok


def test_symlinks_inside_are_read_and_symlinks_out_of_the_repository_are_refused(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside.plue.py"
    outside.write_text(CI)
    repo = git_init(tmp_path / "repo")
    write(repo, {"real.plue.py": CI})
    (repo / "inside.plue.py").symlink_to("real.plue.py")
    (repo / "escape.plue.py").symlink_to(outside)
    (repo / "dangling.plue.py").symlink_to("nowhere.plue.py")

    entries = {entry.path: entry for entry in scan(repo)}

    assert entries["inside.plue.py"].ok
    assert entries["escape.plue.py"].problems == [
        "escape.plue.py: is a symlink leading outside the repository; not followed"
    ]
    assert not entries["dangling.plue.py"].ok
    assert entries["real.plue.py"].ok


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"ok.plue.py": CI})
    os.mkfifo(repo / "pipe.plue.py")

    entries = {entry.path: entry for entry in scan(repo)}

    assert entries["pipe.plue.py"].problems == ["pipe.plue.py: is not a regular file"]
    assert entries["ok.plue.py"].ok


# --- the content-hash cache ----------------------------------------------------------


def test_rescan_of_an_unchanged_repository_evaluates_nothing(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    write(repo, {"a.plue.py": CI, "b.plue.py": BROKEN, "c.plue.py": CYCLE})
    first = CountingEvaluator()
    before = scan(repo, first)
    assert sorted(first.paths) == ["a.plue.py", "b.plue.py", "c.plue.py"]

    second = CountingEvaluator()
    after = scan(repo, second)

    assert second.paths == []
    assert after == before  # errors are served from the cache too


def test_cache_survives_a_new_registry_and_is_invisible_to_git(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    write(repo, {"a.plue.py": CI})
    commit_all(repo)
    scan(repo)

    assert (repo / ".plue" / "cache").is_dir()
    assert git(repo, "status", "--porcelain") == ""


def test_a_changed_file_is_evaluated_again_and_only_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI, "b.plue.py": NIGHTLY})
    scan(repo)
    write(repo, {"a.plue.py": CI.replace('"CI"', '"CI v2"')})

    evaluator = CountingEvaluator()
    entries = scan(repo, evaluator)

    assert evaluator.paths == ["a.plue.py"]
    assert entries[0].name == "CI v2"
    assert entries[0].content_hash == source_hash((repo / "a.plue.py").read_bytes())


def test_a_fixed_file_is_no_longer_reported_broken(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": BROKEN})
    assert not scan(repo)[0].ok
    write(repo, {"a.plue.py": CI})

    assert scan(repo)[0].ok


def test_the_stamp_index_skips_reading_settled_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI, "b.plue.py": NIGHTLY})
    monkeypatch.setattr(registry_module, "RACY_WINDOW_NS", 0)  # every file counts as settled
    scan(repo)
    reads: list[str] = []
    real_read = registry_module.read
    monkeypatch.setattr(registry_module, "read", lambda loc, n: reads.append(str(loc)) or real_read(loc, n))

    entries = scan(repo)

    assert reads == []
    assert [e.name for e in entries] == ["CI", "Nightly"]


def test_recently_modified_files_are_read_again_even_with_the_same_stamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file written in the same timestamp tick as the scan could change again without
    # its stamp changing: within the racy window it is always read and hashed.
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI})
    scan(repo)
    reads: list[str] = []
    real_read = registry_module.read
    monkeypatch.setattr(registry_module, "read", lambda loc, n: reads.append(str(loc)) or real_read(loc, n))

    scan(repo)

    assert len(reads) == 1


def test_corrupt_cache_entries_are_ignored_and_rewritten(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI, "b.plue.py": NIGHTLY})
    scan(repo)
    directory = cache_dir_of(repo)
    entry_file = directory / f"{source_hash(CI.encode())}.json"
    entry_file.write_text('{"plan": {"name": ')  # truncated
    (directory / INDEX_NAME).write_bytes(b"\x00garbage")

    evaluator = CountingEvaluator()
    entries = scan(repo, evaluator)

    assert evaluator.paths == ["a.plue.py"]  # b's outcome was intact
    assert entries[0].ok and entries[0].name == "CI"
    assert json.loads(entry_file.read_text())["name"] == "CI"
    assert set(json.loads((directory / INDEX_NAME).read_text())) == {"files"}


def test_cache_entries_of_the_wrong_shape_are_not_trusted(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI})
    scan(repo)
    entry_file = cache_dir_of(repo) / f"{source_hash(CI.encode())}.json"
    forged = json.loads(entry_file.read_text())
    forged["triggers"] = ["not a trigger"]
    entry_file.write_text(json.dumps(forged))

    evaluator = CountingEvaluator()
    [entry] = scan(repo, evaluator)

    assert evaluator.paths == ["a.plue.py"]
    assert entry.triggers[0]["event"] == "push"


def test_a_cached_scan_reads_plans_only_when_asked(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI})
    [fresh] = scan(repo)
    plan_file = cache_dir_of(repo) / f"{source_hash(CI.encode())}.plan.json"
    assert json.loads(plan_file.read_text()) == fresh.plan

    evaluator = CountingEvaluator()
    [cached] = scan(repo, evaluator)
    plan_file.write_text("{damaged")  # after the scan: only reading the plan notices
    assert evaluator.paths == []

    assert cached.plan == fresh.plan  # evaluated again, since the cached plan is damaged
    assert evaluator.paths == ["a.plue.py"]
    assert json.loads(plan_file.read_text()) == fresh.plan


def test_a_cached_plan_that_disagrees_with_its_summary_is_not_trusted(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI})
    [fresh] = scan(repo)
    assert fresh.plan is not None
    forged = dict(fresh.plan, triggers=[{"event": "manual", "inputs": {}}])
    (cache_dir_of(repo) / f"{source_hash(CI.encode())}.plan.json").write_text(json.dumps(forged))
    evaluator = CountingEvaluator()

    [cached] = scan(repo, evaluator)

    assert cached.plan == fresh.plan
    assert evaluator.paths == ["a.plue.py"]


def test_an_entry_whose_file_changed_since_the_scan_has_no_plan(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI})
    scan(repo)
    [cached] = scan(repo)
    (cache_dir_of(repo) / f"{source_hash(CI.encode())}.plan.json").unlink()
    write(repo, {"a.plue.py": NIGHTLY})

    assert cached.ok and cached.plan is None


def test_crashes_are_not_cached_but_other_failures_are(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI})
    crashing = ScriptedEvaluator("crash")
    scan(repo, crashing)  # type: ignore[arg-type]
    scan(repo, crashing)  # type: ignore[arg-type]
    assert crashing.calls == 2

    shutil.rmtree(repo / ".plue")
    failing = ScriptedEvaluator("runtime", "NameError: name 'x' is not defined")
    [first] = scan(repo, failing)  # type: ignore[arg-type]
    [again] = scan(repo, failing)  # type: ignore[arg-type]
    assert failing.calls == 1
    assert first.problems == again.problems == ["a.plue.py: NameError: name 'x' is not defined"]


def test_a_cache_dir_outside_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI})
    cache = tmp_path / "cache"
    with Registry(repo, evaluator=CountingEvaluator(), cache_dir=cache) as registry:  # type: ignore[arg-type]
        registry.scan()
    evaluator = CountingEvaluator()
    with Registry(repo, evaluator=evaluator, cache_dir=cache) as registry:  # type: ignore[arg-type]
        registry.scan()

    assert not (repo / ".plue").exists()
    assert any(cache.iterdir())
    assert evaluator.paths == []


def test_different_limits_use_a_different_cache(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI})
    scan(repo)
    evaluator = CountingEvaluator()
    evaluator.limits = Limits(max_steps=10)

    scan(repo, evaluator)

    assert evaluator.paths == ["a.plue.py"]


def test_editing_any_file_of_the_validation_package_changes_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    package = Path(plue.validation.__file__).resolve().parent
    modules = sorted(package.glob("*.py"))
    assert {"__init__.py", "report.py", "schema.py", "fastpath.py", "graph.py"} <= {p.name for p in modules}
    assert set(modules) <= {path.resolve() for path in cache_module._engine_files()}
    key = cache_key(Limits())
    real_read_bytes = Path.read_bytes
    try:
        for module in modules:

            def edited(path: Path, module: Path = module) -> bytes:
                return real_read_bytes(path) + (b"\n# edited\n" if path.resolve() == module else b"")

            monkeypatch.setattr(Path, "read_bytes", edited)
            cache_module.engine_fingerprint.cache_clear()
            assert cache_key(Limits()) != key, module.name
            monkeypatch.undo()
        cache_module.engine_fingerprint.cache_clear()
        assert cache_key(Limits()) == key  # and the unedited files give the same key again
    finally:
        monkeypatch.undo()
        cache_module.engine_fingerprint.cache_clear()


# --- loading one file, evaluating with a ctx -----------------------------------------------


def test_load_one_file_uses_the_cache(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI, "b.plue.py": NIGHTLY})
    scan(repo)
    evaluator = CountingEvaluator()

    with registry_for(repo, evaluator) as registry:
        entry = registry.load(repo / "b.plue.py")

    assert entry.path == "b.plue.py" and entry.name == "Nightly"
    assert evaluator.paths == []


def test_evaluate_workflow_with_an_event(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo)
    event = parse_event("issues", (EVENT_FIXTURES / "issues.opened.json").read_bytes())
    ctx = build_context_data(event)
    evaluator = CountingEvaluator()

    scan(repo)  # the triggers of the empty-ctx evaluation come from the cache
    with registry_for(repo, evaluator) as registry:
        plan, problems = registry.evaluate_workflow("triage.plue.py", ctx)
        again, _ = registry.evaluate_workflow("triage.plue.py", ctx)

    assert problems == []
    assert plan is not None and again == plan
    triage = plan["steps"][0]
    assert triage["inputs"]["title"] == event.issue.title  # type: ignore[union-attr]
    assert "gh issue edit 1 " in plan["steps"][1]["cmd"]
    assert evaluator.paths == ["triage.plue.py"]  # the second call came from memory


def test_triggers_that_depend_on_ctx_are_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(
        repo,
        {
            "sneaky.plue.py": (
                "def workflow(ctx):\n"
                "    branch = 'main' if ctx.event is None else 'anything'\n"
                "    return Plan('x', steps=[Step.bash('a', 'b')], triggers=[Trigger.on_push(branch=branch)])\n"
            )
        },
    )
    event = parse_event("push", (EVENT_FIXTURES / "push.json").read_bytes())
    with registry_for(repo, CountingEvaluator()) as registry:
        plan, problems = registry.evaluate_workflow("sneaky.plue.py", build_context_data(event))
        same_plan, no_problems = registry.evaluate_workflow("sneaky.plue.py", build_context_data(None))

    assert plan is None
    assert problems == [
        "sneaky.plue.py: the triggers depend on ctx; they must be the same for every event"
        " (they are read with an empty ctx, where ctx.event is None)"
    ]
    assert same_plan is not None and no_problems == []


def test_evaluate_workflow_reports_problems_with_the_path(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"sub/bad.plue.py": BROKEN})
    with registry_for(repo, CountingEvaluator()) as registry:
        plan, problems = registry.evaluate_workflow(repo / "sub" / "bad.plue.py", None)
        missing_plan, missing = registry.evaluate_workflow("sub/none.plue.py", None)

    assert plan is None and problems[0].startswith("sub/bad.plue.py:1:14: ")
    assert missing_plan is None and missing == ["sub/none.plue.py: file vanished, or is a broken symlink"]


def test_paths_outside_the_repository_are_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI})
    with registry_for(repo, CountingEvaluator()) as registry:
        assert registry.relative("./x/../a.plue.py") == "a.plue.py"
        with pytest.raises(ValueError, match="not inside the repository"):
            registry.relative("../a.plue.py")
        with pytest.raises(ValueError, match="not inside the repository"):
            registry.relative(tmp_path / "other.plue.py")


# --- matching --------------------------------------------------------------------------------


def push_to(branch: str) -> object:
    payload = json.loads((EVENT_FIXTURES / "push.json").read_text())
    payload["ref"] = f"refs/heads/{branch}"
    return parse_event("push", payload)


def test_match_says_which_workflows_run_and_why_the_others_do_not(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"ci.plue.py": CI, "nightly.plue.py": NIGHTLY, "broken.plue.py": BROKEN})

    with registry_for(repo, CountingEvaluator()) as registry:
        on_main = {r.entry.path: r for r in registry.match(push_to("main"))}  # type: ignore[arg-type]
        on_dev = {r.entry.path: r for r in registry.match(push_to("dev"))}  # type: ignore[arg-type]
        manual = {r.entry.path: r for r in registry.match(manual_event({"dry_run": True}))}
        tick = schedule_event("0 3 * * *", "2025-01-01T03:00:00+00:00")
        scheduled = {r.entry.path: r for r in registry.match(tick)}

    assert on_main["ci.plue.py"].matched
    assert not on_main["nightly.plue.py"].matched
    assert "push" in on_main["nightly.plue.py"].reason
    assert not on_main["broken.plue.py"].matched
    assert on_main["broken.plue.py"].reason.startswith("cannot load the workflow: broken.plue.py:1:14")
    assert not on_dev["ci.plue.py"].matched and "dev" in on_dev["ci.plue.py"].reason
    assert [p for p, r in manual.items() if r.matched] == ["nightly.plue.py"]
    assert [p for p, r in scheduled.items() if r.matched] == ["nightly.plue.py"]


# --- manual inputs ------------------------------------------------------------------------------


def test_manual_inputs_are_typed_by_the_trigger_specs() -> None:
    specs = manual_input_specs(
        [
            {"event": "push"},
            {
                "event": "manual",
                "inputs": {
                    "dry_run": {"type": "boolean", "default": False, "required": False},
                    "count": {"type": "number", "default": 1, "required": False},
                    "suite": {"type": "choice", "options": ["quick", "full"], "default": "quick"},
                    "who": {"type": "string", "default": None, "required": True},
                },
            },
        ]
    )
    assert specs is not None

    values = resolve_inputs(specs, {"dry_run": "yes", "count": "2.5", "who": "me"})
    assert values == {"dry_run": True, "count": 2.5, "suite": "quick", "who": "me"}
    assert resolve_inputs(specs, {"count": "3", "who": ""})["count"] == 3

    with pytest.raises(InputError, match="'who' is required"):
        resolve_inputs(specs, {})
    with pytest.raises(InputError, match="unknown input 'nope'"):
        resolve_inputs(specs, {"who": "x", "nope": "1"})
    with pytest.raises(InputError, match="boolean"):
        resolve_inputs(specs, {"who": "x", "dry_run": "maybe"})
    with pytest.raises(InputError, match="number"):
        resolve_inputs(specs, {"who": "x", "count": "nan"})
    with pytest.raises(InputError, match="one of quick, full"):
        resolve_inputs(specs, {"who": "x", "suite": "huge"})
    assert manual_input_specs([{"event": "push"}]) is None


# --- the examples -----------------------------------------------------------------------------


def test_every_example_evaluates_and_validates_clean() -> None:
    with Registry(EXAMPLES, use_cache=False) as registry:
        entries = registry.scan()

    assert paths(entries) == [
        "ci.plue.py",
        "matrix.plue.py",
        "nightly.plue.py",
        "release.plue.py",
        "review.plue.py",
        "summary.plue.py",
        "triage.plue.py",
    ]
    assert [entry.problems for entry in entries] == [[]] * 7


def test_without_the_cache_nothing_is_written(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {"a.plue.py": CI})
    with Registry(repo, evaluator=CountingEvaluator(), use_cache=False) as registry:  # type: ignore[arg-type]
        assert registry.scan()[0].ok

    assert sorted(p.name for p in repo.iterdir()) == ["a.plue.py"]
