"""The Store API on SQLite and PostgreSQL: workflows, runs, step attempts, reuse, listing, cancel, JSON."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from test_store_support import PLAN, STEP_IDS, db_url, new_run, store

from plue.store import RUN_STATUSES, STEP_STATUSES, Store, StoreError
from plue.store.database import resolve_url

__all__ = ["db_url", "store"]  # fixtures


def test_statuses_are_the_engines() -> None:
    from plue.engine.events import RunStatus, StepStatus

    assert tuple(RunStatus) == RUN_STATUSES
    assert tuple(StepStatus) == STEP_STATUSES


# --- workflows ---------------------------------------------------------------------------


def test_upsert_workflow_is_one_row_per_path_and_hash(store: Store) -> None:
    first = store.upsert_workflow("ci.plue.py", "CI", "a" * 64, PLAN)
    assert store.upsert_workflow("ci.plue.py", "CI", "a" * 64, PLAN) == first
    assert store.upsert_workflow("ci.plue.py", "CI", "b" * 64, PLAN) != first
    assert store.upsert_workflow("other.plue.py", "CI", "a" * 64, PLAN) != first


# --- runs ---------------------------------------------------------------------------------


def test_create_run_is_queued_with_pending_steps(store: Store) -> None:
    run_id = new_run(store, start=False, event_name="manual", event=None, inputs={"dry_run": True})
    run = store.get_run(run_id)
    assert run is not None
    assert (run.id, run.status, run.attempt, run.parent_run_id) == (run_id, "queued", 1, None)
    assert (run.workflow_path, run.workflow_name, run.plan) == ("ci.plue.py", "CI", PLAN)
    assert (run.event_name, run.event, run.inputs) == ("manual", None, {"dry_run": True})
    assert run.started_at is None and run.finished_at is None and run.owner is None
    assert run.created_at > 1_600_000_000
    assert [(step.id, step.status, step.attempt) for step in run.steps] == [(s, "pending", 1) for s in STEP_IDS]
    assert run.attempts == run.steps


def test_run_ids_are_small_increasing_integers(store: Store) -> None:
    first = new_run(store)
    assert isinstance(first, int)
    assert [new_run(store) for _ in range(3)] == [first + 1, first + 2, first + 3]


def test_create_run_refuses_unknown_workflow_parent_and_bad_plan(store: Store) -> None:
    with pytest.raises(StoreError, match="no workflow"):
        store.create_run(workflow_id=999, plan=PLAN, event_name=None, event=None, inputs={})
    workflow_id = store.upsert_workflow("ci.plue.py", "CI", "a" * 64, PLAN)
    with pytest.raises(StoreError, match="no run 999"):
        store.create_run(workflow_id=workflow_id, plan=PLAN, event_name=None, event=None, inputs={}, parent_run_id=999)
    with pytest.raises(StoreError, match="steps"):
        store.create_run(workflow_id=workflow_id, plan={"steps": [{"x": 1}]}, event_name=None, event=None, inputs={})


def test_a_whole_run(store: Store) -> None:
    run_id = new_run(store, start=False)
    store.start_run(run_id, owner="elsewhere:1:1", at=10.0)
    run = store.get_run(run_id)
    assert run is not None and (run.status, run.owner, run.started_at) == ("running", "elsewhere:1:1", 10.0)

    store.step_started(run_id, "install", 1, at=11.0)
    running = store.get_run(run_id)
    assert running is not None and running.steps[0].status == "running" and running.steps[0].started_at == 11.0
    store.step_finished(
        run_id, "install", 1, status="success", exit_code=0, outputs={"version": "1.2"}, error=None,
        started_at=11.0, finished_at=12.0, extra={"note": "ok"},
    )  # fmt: skip
    store.step_started(run_id, "test", 1, at=12.0)
    store.step_finished(
        run_id, "test", 1, status="failed", exit_code=2, outputs={}, error="exit code 2",
        started_at=12.0, finished_at=13.0,
    )  # fmt: skip
    store.step_skipped(run_id, "build", "dependency 'test' failed", at=13.0)
    store.finish_run(run_id, "failed", "step 'test' failed", at=14.0)

    run = store.get_run(run_id)
    assert run is not None
    assert (run.status, run.error, run.finished_at) == ("failed", "step 'test' failed", 14.0)
    install, test, build = run.steps
    assert (install.status, install.exit_code, install.outputs, install.extra) == (
        "success", 0, {"version": "1.2"}, {"note": "ok"},
    )  # fmt: skip
    assert (install.started_at, install.finished_at) == (11.0, 12.0)
    assert (test.status, test.exit_code, test.error) == ("failed", 2, "exit code 2")
    assert (build.status, build.reason, build.finished_at, build.started_at) == (
        "skipped", "dependency 'test' failed", 13.0, None,
    )  # fmt: skip


def test_start_run_defaults_the_owner_to_this_process(store: Store) -> None:
    import os

    run_id = new_run(store)
    run = store.get_run(run_id)
    assert run is not None and run.owner is not None
    _host, pid, start = run.owner.rsplit(":", 2)
    assert (int(pid), start != "") == (os.getpid(), True)


def test_transitions_from_the_wrong_state_are_refused(store: Store) -> None:
    run_id = new_run(store)
    with pytest.raises(StoreError, match="is running: only a queued run can start"):
        store.start_run(run_id)
    store.finish_run(run_id, "success", None, at=1.0)
    with pytest.raises(StoreError, match="is success: it cannot finish again"):
        store.finish_run(run_id, "failed", None, at=2.0)
    with pytest.raises(StoreError, match="does not exist"):
        store.start_run(12345)
    with pytest.raises(ValueError, match="run status"):
        store.finish_run(new_run(store), "running", None, at=1.0)
    with pytest.raises(ValueError, match="step status"):
        store.step_finished(
            run_id, "install", 1, status="done", exit_code=0, outputs={}, error=None, started_at=0, finished_at=1
        )
    for call in (
        lambda: store.step_started(run_id, "nope", 1, at=1.0),
        lambda: store.step_skipped(run_id, "nope", "why", at=1.0),
        lambda: store.step_reused(run_id, "nope", {}, 0, at=1.0),
    ):
        with pytest.raises(StoreError, match="has no step 'nope'"):
            call()


def test_a_queued_run_can_be_finished_cancelled(store: Store) -> None:
    run_id = new_run(store, start=False)
    store.finish_run(run_id, "cancelled", "cancelled before it started", at=5.0)
    run = store.get_run(run_id)
    assert run is not None and (run.status, run.started_at, run.finished_at) == ("cancelled", None, 5.0)


def test_a_step_that_never_started_is_skipped_or_cancelled(store: Store) -> None:
    run_id = new_run(store)
    store.step_skipped(run_id, STEP_IDS[0], "dependency 'x' failed", at=3.0)
    store.step_skipped(run_id, STEP_IDS[1], "the run was cancelled", at=4.0, status="cancelled")
    with pytest.raises(ValueError, match="skipped or cancelled"):
        store.step_skipped(run_id, STEP_IDS[1], "no", at=4.0, status="success")
    run = store.get_run(run_id)
    assert run is not None
    steps = {step.id: (step.status, step.reason) for step in run.steps}
    assert steps[STEP_IDS[0]] == ("skipped", "dependency 'x' failed")
    assert steps[STEP_IDS[1]] == ("cancelled", "the run was cancelled")


def test_every_attempt_keeps_its_row(store: Store) -> None:
    run_id = new_run(store)
    for attempt, status in ((1, "failed"), (2, "timed_out"), (3, "success")):
        store.step_started(run_id, "test", attempt, at=float(attempt))
        store.step_finished(
            run_id, "test", attempt, status=status, exit_code=None if status == "timed_out" else attempt - 1,
            outputs={"attempt": str(attempt)}, error=None if status == "success" else status,
            started_at=float(attempt), finished_at=attempt + 0.5,
        )  # fmt: skip
    run = store.get_run(run_id)
    assert run is not None
    # steps: the latest attempt of each, in plan order; attempts: all of them, in plan then attempt order.
    assert [(s.id, s.attempt, s.status) for s in run.steps] == [
        ("install", 1, "pending"), ("test", 3, "success"), ("build", 1, "pending"),
    ]  # fmt: skip
    assert [(s.id, s.attempt, s.status, s.outputs) for s in run.attempts] == [
        ("install", 1, "pending", {}),
        ("test", 1, "failed", {"attempt": "1"}),
        ("test", 2, "timed_out", {"attempt": "2"}),
        ("test", 3, "success", {"attempt": "3"}),
        ("build", 1, "pending", {}),
    ]
    assert run.to_json()["steps"][1] == {
        "id": "test", "status": "success", "exit_code": 2, "outputs": {"attempt": "3"}, "attempt": 3,
        "error": None, "reason": None, "started_at": 3.0, "finished_at": 3.5, "reused": False,
    }  # fmt: skip


def test_a_step_can_finish_without_starting(store: Store) -> None:
    # e.g. a pending step cancelled with its run: the attempt row exists and is updated.
    run_id = new_run(store)
    store.step_finished(
        run_id, "build", 1, status="cancelled", exit_code=None, outputs={}, error="run cancelled",
        started_at=3.0, finished_at=3.0,
    )  # fmt: skip
    run = store.get_run(run_id)
    assert run is not None and run.steps[2].status == "cancelled"


def test_rerun_reuses_successes_and_counts_attempts(store: Store) -> None:
    first = new_run(store)
    store.step_started(first, "install", 1, at=1.0)
    store.step_finished(
        first, "install", 1, status="success", exit_code=0, outputs={"cache": "hit"}, error=None,
        started_at=1.0, finished_at=2.0,
    )  # fmt: skip
    store.finish_run(first, "failed", "test failed", at=3.0)

    rerun = new_run(store, parent_run_id=first)
    store.step_reused(rerun, "install", {"cache": "hit"}, 0, at=4.0)
    second_rerun = new_run(store, parent_run_id=rerun, start=False)

    run = store.get_run(rerun)
    assert run is not None and (run.parent_run_id, run.attempt) == (first, 2)
    install = run.steps[0]
    assert (install.status, install.reused, install.outputs, install.exit_code, install.finished_at) == (
        "success", True, {"cache": "hit"}, 0, 4.0,
    )  # fmt: skip
    assert install.to_json()["reused"] is True
    again = store.get_run(second_rerun)
    assert again is not None and again.attempt == 3


def test_get_run_of_an_unknown_id_is_none(store: Store) -> None:
    assert store.get_run(424242) is None


def test_to_json(store: Store) -> None:
    run_id = new_run(store, inputs={"who": "me"})
    run = store.get_run(run_id)
    assert run is not None
    data = run.to_json()
    assert list(data) == [
        "id", "workflow", "status", "event", "inputs", "created_at", "started_at", "finished_at", "error",
        "attempt", "parent_run_id", "cancel_requested", "repository", "sha", "ref", "branch", "delivery_id",
        "queued_at", "concurrency_group", "steps",
    ]  # fmt: skip
    assert data["repository"] is None and data["queued_at"] is not None
    assert data["workflow"] == {"id": run.workflow_id, "path": "ci.plue.py", "name": "CI"}
    assert (data["event"], data["status"], data["inputs"]) == ("push", "running", {"who": "me"})
    assert [step["id"] for step in data["steps"]] == STEP_IDS


# --- listing -----------------------------------------------------------------------------


def test_list_runs_newest_first_with_filters(store: Store) -> None:
    other_plan = {**PLAN, "name": "Nightly"}
    other_id = store.upsert_workflow("nightly.plue.py", "Nightly", "1" * 64, other_plan)
    ci_runs = [new_run(store) for _ in range(3)]
    nightly = store.create_run(workflow_id=other_id, plan=other_plan, event_name="schedule", event=None, inputs={})
    store.finish_run(ci_runs[0], "success", None, at=1.0)
    store.finish_run(ci_runs[1], "failed", "boom", at=1.0)

    assert [run.id for run in store.list_runs()] == [nightly, *reversed(ci_runs)]
    assert [run.id for run in store.list_runs(limit=2)] == [nightly, ci_runs[2]]
    assert [run.id for run in store.list_runs(workflow="CI")] == list(reversed(ci_runs))
    assert [run.id for run in store.list_runs(workflow="ci.plue.py")] == list(reversed(ci_runs))
    assert [run.id for run in store.list_runs(workflow="nightly.plue.py")] == [nightly]
    assert [run.id for run in store.list_runs(status="failed")] == [ci_runs[1]]
    assert [run.id for run in store.list_runs(status="queued")] == [nightly]
    assert [run.id for run in store.list_runs(workflow="Nightly", status="running")] == []
    assert store.list_runs(workflow="missing") == []
    listed = store.list_runs(workflow="CI", limit=1)[0]
    assert listed == store.get_run(ci_runs[2])  # listed runs are whole records, steps included
    with pytest.raises(ValueError, match="run status"):
        store.list_runs(status="bogus")
    with pytest.raises(ValueError, match="limit"):
        store.list_runs(limit=0)


# --- cancel --------------------------------------------------------------------------------


def test_request_cancel(store: Store) -> None:
    queued = new_run(store, start=False)
    running = new_run(store)
    done = new_run(store)
    store.finish_run(done, "success", None, at=1.0)

    assert not store.cancel_requested(running)
    assert store.request_cancel(running) is True
    assert store.cancel_requested(running)
    assert store.request_cancel(running) is True  # asking twice is fine
    assert store.request_cancel(queued) is True
    assert store.request_cancel(done) is False
    assert store.request_cancel(98765) is False
    assert not store.cancel_requested(done) and not store.cancel_requested(98765)
    run = store.get_run(running)
    assert run is not None and run.cancel_requested and run.to_json()["cancel_requested"] is True


# --- JSON round trips ------------------------------------------------------------------------

UNICODE = 'héllo wörld — 日本語 — עברית — 🚀🧪 — \u200b zero-width — \\ backslash "quotes" \n newline \t tab'


def test_unicode_round_trips(store: Store) -> None:
    plan = {**PLAN, "name": f"CI {UNICODE}", "env": {"GREETING": UNICODE}}
    workflow_id = store.upsert_workflow(f"wörk/{UNICODE[:5]}.plue.py", plan["name"], "2" * 64, plan)
    event = {"head_commit": {"message": UNICODE}, "nested": [{"🔑": [1, 2.5, None, True, UNICODE]}]}
    run_id = store.create_run(
        workflow_id=workflow_id, plan=plan, event_name="push", event=event, inputs={"name": UNICODE}
    )
    store.start_run(run_id)
    store.step_finished(
        run_id, "install", 1, status="failed", exit_code=1, outputs={"msg": UNICODE, UNICODE[:4]: "key"},
        error=UNICODE, started_at=1.0, finished_at=2.0, extra={"text": UNICODE},
    )  # fmt: skip
    store.step_skipped(run_id, "build", UNICODE, at=3.0)
    store.finish_run(run_id, "failed", UNICODE, at=4.0)
    run = store.get_run(run_id)
    assert run is not None
    assert (run.plan, run.event, run.inputs, run.workflow_name, run.error) == (
        plan, event, {"name": UNICODE}, plan["name"], UNICODE,
    )  # fmt: skip
    assert run.steps[0].outputs == {"msg": UNICODE, UNICODE[:4]: "key"}
    assert (run.steps[0].error, run.steps[0].extra, run.steps[2].reason) == (UNICODE, {"text": UNICODE}, UNICODE)


def test_big_outputs_round_trip(store: Store) -> None:
    run_id = new_run(store)
    big = {f"key{index}": ("x" * 1000 + str(index)) * 10 for index in range(200)}  # ~2 MB
    big["huge"] = "é" * 3_000_000
    store.step_finished(
        run_id, "install", 1, status="success", exit_code=0, outputs=big, error="e" * 100_000,
        started_at=1.0, finished_at=2.0,
    )  # fmt: skip
    run = store.get_run(run_id)
    assert run is not None and run.steps[0].outputs == big and run.steps[0].error == "e" * 100_000


def test_nul_and_lone_surrogates_become_replacement_characters(store: Store) -> None:
    # PostgreSQL refuses NUL in text and JSONB: both databases store U+FFFD instead.
    run_id = new_run(store)
    store.step_finished(
        run_id, "install", 1, status="failed", exit_code=1, outputs={"a\0b": "c\0d", "bad": "x\udcff"},
        error="nul\0here", started_at=1.0, finished_at=2.0,
    )  # fmt: skip
    run = store.get_run(run_id)
    assert run is not None
    assert run.steps[0].outputs == {"a\ufffdb": "c\ufffdd", "bad": "x\ufffd"}
    assert run.steps[0].error == "nul\ufffdhere"


# --- threads -------------------------------------------------------------------------------------


def test_threads_share_a_store(store: Store) -> None:
    plan = {"name": "wide", "steps": [{"id": f"s{index}"} for index in range(8)]}
    run_id = new_run(store, plan)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(step_id: str) -> None:
        try:
            start.wait()
            for attempt in range(1, 6):
                store.step_started(run_id, step_id, attempt, at=float(attempt))
                store.append_logs(run_id, [(step_id, attempt, 1, "stdout", 1.0, "line")])
                store.step_finished(
                    run_id, step_id, attempt, status="success" if attempt == 5 else "failed", exit_code=0,
                    outputs={"n": str(attempt)}, error=None, started_at=1.0, finished_at=2.0,
                )  # fmt: skip
                store.get_run(run_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"s{index}",)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    run = store.get_run(run_id)
    assert run is not None
    assert [(step.status, step.attempt) for step in run.steps] == [("success", 5)] * 8
    assert len(run.attempts) == 40
    assert len(store.read_logs(run_id)) == 40


# --- opening -------------------------------------------------------------------------------------


def test_default_database_is_sqlite_in_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLUE_DATABASE_URL", raising=False)
    with Store.open(repo=tmp_path) as opened:
        assert opened.url == f"sqlite:///{tmp_path}/.plue/plue.db"
        new_run(opened)
    assert (tmp_path / ".plue" / ".gitignore").read_text() == "*\n"
    with Store.open(repo=tmp_path) as reopened:
        assert len(reopened.list_runs()) == 1
    monkeypatch.chdir(tmp_path)
    with Store.open() as from_cwd:
        assert len(from_cwd.list_runs()) == 1


def test_sqlite_pragmas(tmp_path: Path) -> None:
    with Store.open(repo=tmp_path) as opened, opened._engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert (pragma("journal_mode"), pragma("synchronous"), pragma("foreign_keys")) == ("wal", 1, 1)
        assert pragma("busy_timeout") >= 5000


def test_url_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUE_DATABASE_URL", "postgresql://u:secret@db.example/plue")
    assert str(resolve_url(tmp_path).drivername) == "postgresql+psycopg"
    assert resolve_url(tmp_path, "postgres://u@h/d").drivername == "postgresql+psycopg"
    assert resolve_url(tmp_path, "postgresql+psycopg://u@h/d").drivername == "postgresql+psycopg"
    assert resolve_url(tmp_path, "sqlite:////x/y.db").database == "/x/y.db"
    monkeypatch.setenv("PLUE_DATABASE_URL", "")
    assert resolve_url(tmp_path).database == str(tmp_path / ".plue" / "plue.db")
    for bad in ("mysql://u@h/d", "postgresql+psycopg2://u@h/d", "not a url"):
        with pytest.raises(StoreError, match="database URL"):
            resolve_url(tmp_path, bad)


def test_url_hides_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store.open(url="postgresql://user:hunter2@127.0.0.1:1/nowhere?connect_timeout=2")
    assert "hunter2" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


def test_unusable_sqlite_paths_are_store_errors(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match=r"cannot create .*file/nested"):
        Store.open(url=f"sqlite:///{tmp_path}/file/nested/plue.db")
    with pytest.raises(StoreError, match="unable to open database file"):
        Store.open(url=f"sqlite:///{tmp_path}")  # a directory
