"""The JSON API through a real server: runs (list, view, logs, cancel, rerun), repositories and their
workflows, manual dispatches at a ref of a real git repository, deliveries."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_support import bearer, make_config, serve

from plue.plan import content_hash
from plue.server.app import create_app
from plue.store import NewDelivery, Store, process_owner
from plue.store.records import NewRun

PLAN: dict[str, Any] = {
    "name": "CI",
    "steps": [
        {"id": "test", "type": "bash", "cmd": "make test", "depends_on": []},
        {"id": "build", "type": "bash", "cmd": "make", "depends_on": ["test"]},
        {"id": "lint", "type": "bash", "cmd": "make lint", "depends_on": []},
    ],
    "triggers": [],
}

DEPLOY = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    target = ctx.inputs["target"] if ctx.inputs else "none"
    return Plan(
        "Deploy",
        steps=[Step.bash("deploy", "echo deploying to " + target)],
        triggers=[Trigger.manual(inputs={"target": {"type": "choice", "options": ["staging", "prod"],
                                                    "required": True}, "dry_run": False})],
    )
"""

CI = """\
from plue import Plan, Step, Trigger


def workflow():
    return Plan("CI", steps=[Step.bash("test", "true")], triggers=[Trigger.on_push("main")])
"""


@dataclass
class Api:
    client: httpx.Client
    store: Store
    read: dict[str, str]
    write: dict[str, str]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    origin = make_origin(tmp_path / "origin.git", tmp_path / "work")
    app = create_app(make_config(tmp_path / "data", {"octo/app": origin.as_uri()}), start_background=False)
    store: Store = app.state.plue.store
    read = bearer(store.create_token("reader", "read"))
    write = bearer(store.create_token("writer", "write"))
    with serve(app) as running, httpx.Client(base_url=running.url, timeout=60) as client:
        yield Api(client, store, read, write)


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def make_origin(bare: Path, work: Path) -> Path:
    """A bare repository whose main branch has the CI and Deploy workflows, and a `feature` branch without Deploy."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "t@example.com")
    git(work, "config", "user.name", "t")
    (work / "ci.plue.py").write_text(CI)
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "ci")
    git(work, "push", "-q", str(bare), "main:feature")
    (work / "deploy.plue.py").write_text(DEPLOY)
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "deploy")
    git(work, "push", "-q", str(bare), "main")
    return bare


def queue(
    store: Store, *, event: str = "push", branch: str | None = "main", repository: str | None = "octo/app"
) -> int:
    return store.enqueue(
        NewRun(
            workflow_path="ci.plue.py",
            workflow_name="CI",
            content_hash=content_hash(PLAN),
            plan=PLAN,
            event_name=event,
            event=None,
            inputs={},
            repository=repository,
            sha="a" * 40,
            ref=f"refs/heads/{branch}" if branch else None,
            branch=branch,
        )
    )


def finish(store: Store, run_id: int, *, failing: str | None = None) -> None:
    """Claim and end run `run_id` as an executor would: each step logs two lines; `failing` fails."""
    claimed = store.claim_run(process_owner(worker="test"))
    assert claimed is not None and claimed.id == run_id
    now = time.time()
    for step_id in ("test", "lint", "build"):
        if step_id == "build" and failing == "test":
            store.step_skipped(run_id, step_id, "dependency test failed", now)
            continue
        store.step_started(run_id, step_id, 1, now)
        store.append_logs(run_id, [(step_id, 1, seq, "stdout", now, f"{step_id} line {seq}") for seq in (1, 2)])
        status = "failed" if step_id == failing else "success"
        store.step_finished(
            run_id,
            step_id,
            1,
            status=status,
            exit_code=1 if status == "failed" else 0,
            outputs={"result": step_id},
            error=None,
            started_at=now,
            finished_at=now,
        )
    store.finish_run(run_id, "failed" if failing else "success", None, now)


def test_runs_are_listed_newest_first_with_filters_and_a_cursor(api: Api) -> None:
    ids = [queue(api.store) for _ in range(5)]
    other = queue(api.store, event="pull_request", branch="feature", repository="octo/other")
    finish(api.store, ids[0])

    first = api.client.get("/api/runs", params={"limit": 4}, headers=api.read).json()
    assert [run["id"] for run in first["runs"]] == [other, ids[4], ids[3], ids[2]]
    assert first["next"] == ids[2]
    second = api.client.get("/api/runs", params={"limit": 4, "before": first["next"]}, headers=api.read).json()
    assert [run["id"] for run in second["runs"]] == [ids[1], ids[0]]
    assert second["next"] is None

    def ids_for(**params: Any) -> list[int]:
        response = api.client.get("/api/runs", params=params, headers=api.read)
        assert response.status_code == 200, response.text
        return [run["id"] for run in response.json()["runs"]]

    assert ids_for(event="pull_request") == [other]
    assert ids_for(branch="feature") == [other]
    assert ids_for(repository="octo/app") == ids[::-1]
    assert ids_for(status="success") == [ids[0]]
    assert ids_for(workflow="CI", status="queued", repository="octo/other") == [other]
    summary = api.client.get("/api/runs", params={"status": "success"}, headers=api.read).json()["runs"][0]
    assert summary["workflow"]["name"] == "CI"
    assert summary["repository"] == "octo/app"
    assert summary["sha"] == "a" * 40
    assert summary["branch"] == "main"
    assert summary["duration"] is not None
    bad = api.client.get("/api/runs", params={"limit": 0}, headers=api.read)
    assert bad.status_code == 422


def test_a_run_shows_its_steps_in_topological_order_with_attempts_and_outputs(api: Api) -> None:
    run_id = queue(api.store)
    finish(api.store, run_id, failing="test")
    run = api.client.get(f"/api/runs/{run_id}", headers=api.read).json()
    assert run["status"] == "failed"
    assert [step["id"] for step in run["steps"]] == ["test", "lint", "build"]
    steps = {step["id"]: step for step in run["steps"]}
    assert steps["test"]["status"] == "failed"
    assert steps["test"]["exit_code"] == 1
    assert steps["test"]["attempts"][0]["status"] == "failed"
    assert steps["build"]["status"] == "skipped"
    assert steps["build"]["reason"] == "dependency test failed"
    assert steps["build"]["depends_on"] == ["test"]
    assert steps["lint"]["outputs"] == {"result": "lint"}
    assert run["llm_usage"] == []
    missing = api.client.get("/api/runs/999", headers=api.read)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no run 999"


def test_logs_are_paged_by_cursor_and_filtered_by_step(api: Api) -> None:
    run_id = queue(api.store)
    finish(api.store, run_id)
    first = api.client.get(f"/api/runs/{run_id}/logs", params={"limit": 4}, headers=api.read).json()
    assert [line["text"] for line in first["lines"]] == ["test line 1", "test line 2", "lint line 1", "lint line 2"]
    assert first["run_status"] == "success"
    rest = api.client.get(f"/api/runs/{run_id}/logs", params={"after": first["next"]}, headers=api.read).json()
    assert [line["text"] for line in rest["lines"]] == ["build line 1", "build line 2"]
    empty = api.client.get(f"/api/runs/{run_id}/logs", params={"after": rest["next"]}, headers=api.read).json()
    assert empty["lines"] == []
    assert empty["next"] == rest["next"]
    lint = api.client.get(f"/api/runs/{run_id}/logs", params={"step": "lint"}, headers=api.read).json()
    assert [line["step_id"] for line in lint["lines"]] == ["lint", "lint"]
    unknown = api.client.get(f"/api/runs/{run_id}/logs", params={"step": "nope"}, headers=api.read)
    assert unknown.status_code == 404


def test_cancel_marks_a_queued_run_and_refuses_a_finished_one(api: Api) -> None:
    queued = queue(api.store)
    done = queue(api.store)
    api.store.request_cancel(queued)  # keep `queued` out of the claim below
    claimed = api.store.claim_run(process_owner(worker="t"))
    assert claimed is not None and claimed.id == done
    api.store.finish_run(done, "success", None, time.time())

    fresh = queue(api.store)
    response = api.client.post(f"/api/runs/{fresh}/cancel", headers=api.write)
    assert response.status_code == 200
    assert response.json()["cancel_requested"] is True
    assert api.store.cancel_requested(fresh)
    refused = api.client.post(f"/api/runs/{done}/cancel", headers=api.write)
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"run {done} has already finished (success); there is nothing to cancel"


def test_rerun_queues_a_child_run_and_with_failed_carries_successes_over(api: Api) -> None:
    run_id = queue(api.store)
    finish(api.store, run_id, failing="test")
    whole = api.client.post(f"/api/runs/{run_id}/rerun", headers=api.write)
    assert whole.status_code == 201
    child = api.store.get_run(whole.json()["id"])
    assert child is not None
    assert (child.status, child.parent_run_id, child.attempt) == ("queued", run_id, 2)
    assert (child.repository, child.sha, child.branch) == ("octo/app", "a" * 40, "main")
    assert all(not step.reused for step in child.steps)

    only_failed = api.client.post(f"/api/runs/{run_id}/rerun", params={"failed": "true"}, headers=api.write)
    partial = api.store.get_run(only_failed.json()["id"])
    assert partial is not None
    assert {step.id: step.reused for step in partial.steps} == {"test": False, "build": False, "lint": True}
    assert {step.id: step.outputs for step in partial.steps}["lint"] == {"result": "lint"}

    unfinished = queue(api.store)
    refused = api.client.post(f"/api/runs/{unfinished}/rerun", headers=api.write)
    assert refused.status_code == 409
    assert "still queued" in refused.json()["detail"]


def test_repositories_and_their_default_branch_workflows(api: Api) -> None:
    repos = api.client.get("/api/repos", headers=api.read).json()
    assert [(repo["name"], repo["default_branch"]) for repo in repos] == [("octo/app", "main")]
    listed = api.client.get("/api/repos/octo/app/workflows", headers=api.read)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["ref"] == "main"
    assert len(body["sha"]) == 40
    workflows = {item["path"]: item for item in body["workflows"]}
    assert set(workflows) == {"ci.plue.py", "deploy.plue.py"}
    assert workflows["deploy.plue.py"]["name"] == "Deploy"
    assert workflows["ci.plue.py"]["problems"] == []
    assert api.client.get("/api/repos/octo/nope/workflows", headers=api.read).status_code == 404


def test_dispatch_queues_a_manual_run_at_the_ref_with_typed_inputs(api: Api) -> None:
    url = "/api/repos/octo/app/workflows/deploy/dispatches"
    response = api.client.post(url, json={"inputs": {"target": "prod", "dry_run": True}}, headers=api.write)
    assert response.status_code == 201, response.text
    run = api.store.get_run(response.json()["id"])
    assert run is not None
    assert (run.status, run.event_name, run.repository, run.branch) == ("queued", "manual", "octo/app", "main")
    assert run.inputs == {"target": "prod", "dry_run": True}
    assert run.plan["steps"][0]["cmd"] == "echo deploying to prod"
    assert run.workflow_path == "deploy.plue.py"
    assert run.sha is not None and len(run.sha) == 40

    def refused(body: dict[str, Any], target: str = "deploy") -> tuple[int, str]:
        answer = api.client.post(f"/api/repos/octo/app/workflows/{target}/dispatches", json=body, headers=api.write)
        return answer.status_code, answer.json()["detail"]

    assert refused({"inputs": {}}) == (422, "input 'target' is required")
    status, detail = refused({"inputs": {"target": "moon"}})
    assert (status, detail) == (422, "input 'target' must be one of staging, prod, not 'moon'")
    status, detail = refused({"inputs": {"target": "prod", "color": "red"}})
    assert status == 422 and detail.startswith("unknown input 'color'")
    status, detail = refused({"inputs": {}}, target="ci.plue.py")
    assert (status, detail) == (422, "workflow ci.plue.py has no manual trigger: add Trigger.manual() to run it")
    status, detail = refused({"ref": "feature", "inputs": {"target": "prod"}})
    assert status == 404 and "no workflow named 'deploy'" in detail
    status, _ = refused({"ref": "no-such-branch", "inputs": {"target": "prod"}})
    assert status == 422
    assert api.client.post(url, json={"inputs": {"target": "prod"}}, headers=api.read).status_code == 403


def test_deliveries_are_listed_newest_first(api: Api) -> None:
    for number in range(3):
        api.store.record_delivery(
            NewDelivery(
                f"delivery-{number}",
                event="push",
                action=None,
                repository="octo/app",
                payload={"n": number},
                outcome="ignored",
                reason="no workflow matched",
                runs=(),
                received_at=time.time(),
            )
        )
    first = api.client.get("/api/deliveries", params={"limit": 2}, headers=api.read).json()
    assert [item["delivery_id"] for item in first["deliveries"]] == ["delivery-2", "delivery-1"]
    assert first["deliveries"][0]["outcome"] == "ignored"
    assert "payload" not in first["deliveries"][0]
    rest = api.client.get("/api/deliveries", params={"before": first["next"]}, headers=api.read).json()
    assert [item["delivery_id"] for item in rest["deliveries"]] == ["delivery-0"]
    assert rest["next"] is None
