"""The runner routes through a real server: tokens, registration, long-poll claims (with secrets and the
commit's files), fenced idempotent event batches, heartbeats, drains, leaving, and lost runners reaped."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from ingest_support import Upstream
from process_support import wait_until
from server_support import RunningServer, bearer, make_config, serve
from workflow_repos import git

from plue.plan import content_hash
from plue.server.api import runners as runner_routes
from plue.server.app import create_app
from plue.server.config import RunnerSettings, ServerConfig
from plue.server.queue_signal import queue_signal
from plue.server.reaper import Reaper
from plue.store import NewRun, Store

PLAN: dict[str, Any] = {
    "name": "CI",
    "steps": [
        {"id": "test", "type": "bash", "cmd": "make test", "depends_on": []},
        {"id": "build", "type": "bash", "cmd": "make", "depends_on": ["test"]},
    ],
    "triggers": [],
}
FILES: dict[str, str | bytes] = {
    "README.md": "hello\n",
    "src/app.py": "print('app')\n",
    "data/blob.bin": bytes(range(256)),
}
SECRETS = {"DEPLOY_KEY": "s3cret"}
HOST = {"hostname": "box", "os": "Linux", "arch": "x86_64", "python": "3.11", "cpus": 2}


@dataclass
class Api:
    client: httpx.Client
    store: Store
    state: Any
    config: ServerConfig
    upstream: Upstream
    sha: str
    runner: dict[str, str]  # a runner token's header
    admin: dict[str, str]
    read: dict[str, str]
    write: dict[str, str]
    server: RunningServer

    def register(self, name: str = "r1", labels: list[str] | None = None, token: dict[str, str] | None = None) -> str:
        body = {"name": name, "labels": labels or ["linux"], "version": "0.1.0", "host": HOST, "capacity": 1}
        response = self.client.post("/api/runners", json=body, headers=token or self.runner)
        assert response.status_code == 201, response.text
        runner_id: str = response.json()["runner_id"]
        return runner_id

    def queue(self, *, repository: str | None = "octo/app", runs_on: tuple[str, ...] = ()) -> int:
        return self.store.enqueue(
            NewRun(
                workflow_path="ci.plue.py",
                workflow_name="CI",
                content_hash=content_hash(PLAN),
                plan=PLAN,
                event_name="push",
                event={"ref": "refs/heads/main"},
                inputs={"who": "me"},
                repository=repository,
                sha=self.sha if repository else None,
                ref="refs/heads/main" if repository else None,
                branch="main" if repository else None,
                runs_on=runs_on,
            )
        )

    def claim(self, runner_id: str, token: dict[str, str] | None = None) -> httpx.Response:
        return self.client.post(f"/api/runners/{runner_id}/claim", json={}, headers=token or self.runner)

    def claimed(self, runner_id: str) -> dict[str, Any]:
        """The claim of a run that is queued (200 at once)."""
        answer = self.claim(runner_id)
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == {"claim"}
        claim: dict[str, Any] = answer.json()["claim"]
        return claim

    def events(self, attempt_id: int, seq: int, events: list[dict[str, Any]]) -> httpx.Response:
        body = {"seq": seq, "events": events}
        return self.client.post(f"/api/attempts/{attempt_id}/events", json=body, headers=self.runner)

    def heartbeat(self, runner_id: str, attempts: list[int]) -> httpx.Response:
        return self.client.post(f"/api/runners/{runner_id}/heartbeat", json={"attempts": attempts}, headers=self.runner)


def settings(**overrides: float) -> RunnerSettings:
    values = {"heartbeat_seconds": 3600.0, "lost_after_seconds": 30.0, "claim_wait_seconds": 0.3, **overrides}
    return RunnerSettings(**values)


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Start a server (without its background work unless told) with the given runner settings."""
    stack: list[Any] = []

    def make(runners: RunnerSettings | None = None, *, background: bool = False) -> Api:
        upstream = Upstream(tmp_path / "upstream")
        sha = upstream.push(FILES)
        config = make_config(
            tmp_path / "data",
            {upstream.name: upstream.url},
            workers=0,
            secrets=SECRETS,
            runners=runners or settings(),
        )
        app = create_app(config, start_background=background)
        store: Store = app.state.plue.store
        tokens = {
            scope: bearer(store.create_token(f"{scope}-token", scope)) for scope in ("runner", "admin", "read", "write")
        }
        server = serve(app)
        running = server.__enter__()
        client = httpx.Client(base_url=running.url, timeout=60)
        stack.append((server, client))
        return Api(
            client,
            store,
            app.state.plue,
            config,
            upstream,
            sha,
            tokens["runner"],
            tokens["admin"],
            tokens["read"],
            tokens["write"],
            running,
        )

    yield make
    for server, client in reversed(stack):
        client.close()
        server.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


def started(step_id: str, attempt: int = 1) -> dict[str, Any]:
    return {"type": "step_started", "step_id": step_id, "attempt": attempt, "at": time.time()}


def logs(step_id: str, attempt: int, *seqs: int) -> dict[str, Any]:
    return {
        "type": "step_logs",
        "lines": [[step_id, attempt, seq, "stdout", time.time(), f"{step_id} line {seq}"] for seq in seqs],
    }


def finished(step_id: str, attempt: int = 1) -> dict[str, Any]:
    now = time.time()
    return {
        "type": "step_finished",
        "step_id": step_id,
        "attempt": attempt,
        "status": "success",
        "started_at": now,
        "finished_at": now,
        "exit_code": 0,
        "outputs": {"step": step_id},
        "error": None,
        "will_retry": False,
        "extra": {},
    }


RUN_SUCCEEDED = {"type": "run_finished", "status": "success", "at": 1.0, "error": None}


# --- tokens and registration --------------------------------------------------------------------------------


def test_runner_routes_take_runner_or_admin_tokens_only(api: Api) -> None:
    body = {"name": "r", "labels": [], "version": "1", "host": {}, "capacity": 1}
    assert api.client.post("/api/runners", json=body).status_code == 401
    assert api.client.post("/api/runners", json=body, headers=bearer("plue_nope")).status_code == 401
    for scope in (api.read, api.write):
        refused = api.client.post("/api/runners", json=body, headers=scope)
        assert refused.status_code == 403 and "runner (or admin) scope" in refused.json()["detail"]
    assert api.client.post("/api/runners", json=body, headers=api.runner).status_code == 201
    assert api.client.post("/api/runners", json=body, headers=api.admin).status_code == 201
    # A runner token reaches nothing else.
    for path in ("/api/runs", "/api/runners", "/api/pool"):
        refused = api.client.get(path, headers=api.runner)
        assert refused.status_code == 403 and "has runner scope" in refused.json()["detail"]
    assert api.client.get("/api/runs", headers=api.read).status_code == 200


def test_plue_token_create_makes_runner_tokens(api: Api) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PLUE_")}
    environment |= {"PLUE_DATA_DIR": str(api.config.data_dir), "PLUE_WEBHOOK_SECRET": "s"}
    made = subprocess.run(
        [sys.executable, "-m", "plue", "token", "create", "agent", "--scope", "runner"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    token = bearer(made.stdout.strip())
    body = {"name": "r", "labels": ["linux"]}
    assert api.client.post("/api/runners", json=body, headers=token).status_code == 201
    assert api.client.get("/api/runs", headers=token).status_code == 403


def test_register_and_list_runners(api: Api) -> None:
    answer = api.client.post(
        "/api/runners",
        json={"name": "gpu-box", "labels": ["linux", "gpu"], "version": "0.1.0", "host": HOST, "capacity": 2},
        headers=api.runner,
    )
    assert answer.status_code == 201
    registered = answer.json()
    assert set(registered) == {"runner_id", "heartbeat_seconds", "lost_after_seconds", "claim_wait_seconds"}
    assert (registered["lost_after_seconds"], registered["claim_wait_seconds"]) == (30.0, 0.3)
    listed = api.client.get("/api/runners", headers=api.read).json()
    assert [(item["id"], item["name"], item["labels"], item["status"], item["capacity"]) for item in listed] == [
        (registered["runner_id"], "gpu-box", ["gpu", "linux"], "idle", 2)
    ]
    assert listed[0]["host"]["hostname"] == "box" and listed[0]["current_runs"] == []

    bad = api.client.post("/api/runners", json={"name": "x", "labels": ["no spaces"]}, headers=api.runner)
    assert bad.status_code == 400 and "not a runner label" in bad.json()["detail"]
    assert api.client.post("/api/runners", json={"name": "x", "capacity": 0}, headers=api.runner).status_code == 422
    assert api.client.post("/api/runners", json={"labels": []}, headers=api.runner).status_code == 422


def test_a_runner_token_acts_only_for_the_runners_it_registered(api: Api) -> None:
    runner_id = api.register()
    other = bearer(api.store.create_token("other-runner", "runner"))
    stolen = api.client.post(f"/api/runners/{runner_id}/heartbeat", json={"attempts": []}, headers=other)
    assert stolen.status_code == 403 and "may not act for it" in stolen.json()["detail"]
    assert api.claim(runner_id, token=other).status_code == 403
    assert api.client.post(f"/api/runners/{runner_id}/heartbeat", json={}, headers=api.admin).status_code == 200


# --- claims -------------------------------------------------------------------------------------------------


def test_a_claim_brings_the_run_its_secrets_and_the_commit_s_files(api: Api) -> None:
    runner_id = api.register()
    run_id = api.queue()
    claim = api.claimed(runner_id)
    assert claim["attempt"] == 1 and claim["attempt_base"] == {} and claim["reuse"] == {}
    assert claim["secrets"] == SECRETS
    run = claim["run"]
    assert (run["id"], run["repository"], run["sha"], run["branch"], run["inputs"]) == (
        run_id,
        "octo/app",
        api.sha,
        "main",
        {"who": "me"},
    )
    assert [step["id"] for step in run["plan"]["steps"]] == ["test", "build"]
    assert claim["source"] == f"/api/attempts/{claim['attempt_id']}/source"

    tarball = api.client.get(claim["source"], headers=api.runner)
    assert tarball.status_code == 200 and tarball.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(tarball.content), mode="r:gz") as archive:
        files = {member.name: archive.extractfile(member).read() for member in archive.getmembers() if member.isfile()}  # type: ignore[union-attr]
    expected = {name: data.encode() if isinstance(data, str) else data for name, data in FILES.items()}
    assert files == expected
    assert set(git(api.upstream.work, "ls-tree", "-r", "--name-only", api.sha).split()) == set(files)
    # Made once per commit and kept for the next attempt at it; no temporary file left behind.
    assert [path.name for path in (api.config.data_dir / "archives").glob("*/*")] == [f"{api.sha}.tar.gz"]

    listed = api.client.get("/api/runners", headers=api.read).json()
    assert (listed[0]["status"], listed[0]["current_runs"]) == ("busy", [run_id])
    attempts = api.client.get(f"/api/runs/{run_id}/attempts", headers=api.read).json()
    assert [(item["id"], item["number"], item["status"], item["runner_name"]) for item in attempts] == [
        (claim["attempt_id"], 1, "running", "r1")
    ]


def test_a_run_without_a_repository_has_no_source(api: Api) -> None:
    runner_id = api.register()
    api.queue(repository=None)
    claim = api.claimed(runner_id)
    assert claim["source"] is None
    assert api.client.get(f"/api/attempts/{claim['attempt_id']}/source", headers=api.runner).status_code == 404
    assert api.client.get("/api/attempts/999999/source", headers=api.runner).status_code == 404
    assert api.client.get(f"/api/attempts/{2**40}/source", headers=api.runner).status_code == 422
    assert api.events(2**40, 1, []).status_code == 422
    assert api.events(999999, 1, []).status_code == 409  # no such attempt: fenced


def test_claims_match_labels_and_answer_204_when_nothing_fits_in_time(api: Api) -> None:
    runner_id = api.register(labels=["linux"])
    api.queue(runs_on=("gpu",))
    assert api.claim(runner_id).status_code == 204  # after claim_wait_seconds (0.3 s here)
    gpu_id = api.register("gpu-box", labels=["gpu", "linux"])
    assert api.claim(gpu_id).status_code == 200


def test_a_waiting_claim_answers_the_moment_a_run_is_queued(
    make_api: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's own work is running (the reaper, the scheduler, no workers); claims do not poll, so
    # only the wake-up of a run queued in this process can answer this claim before the test's deadline.
    monkeypatch.setattr(runner_routes, "CLAIM_POLL_SECONDS", 600.0)
    api = make_api(settings(claim_wait_seconds=600.0), background=True)
    runner_id = api.register()
    old = api.queue(repository=None)
    api.store.request_cancel(old)
    api.store.claim_run("someone")  # applies the cancel: a finished run to rerun
    signal = queue_signal(api.state)
    answers: list[httpx.Response] = []
    claimer = threading.Thread(target=lambda: answers.append(api.claim(runner_id)), daemon=True)
    claimer.start()
    wait_until(lambda: signal.waiting() == 1, "the claim to wait")
    rerun = api.client.post(f"/api/runs/{old}/rerun", headers=api.write)  # queues, and wakes the claimers
    assert rerun.status_code == 201
    claimer.join(60)
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["claim"]["run"]["id"] == rerun.json()["id"]


def test_a_waiting_claim_ends_when_the_server_stops(
    make_api: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_routes, "CLAIM_POLL_SECONDS", 600.0)
    api = make_api(settings(claim_wait_seconds=600.0))
    runner_id = api.register()
    signal = queue_signal(api.state)
    answers: list[httpx.Response] = []
    claimer = threading.Thread(target=lambda: answers.append(api.claim(runner_id)), daemon=True)
    claimer.start()
    wait_until(lambda: signal.waiting() == 1, "the claim to wait")
    signal.close()  # what the service's stop does
    claimer.join(60)
    assert answers and answers[0].status_code == 204


def test_a_claim_whose_runner_hung_up_claims_nothing(
    make_api: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_routes, "CLAIM_POLL_SECONDS", 600.0)
    api = make_api(settings(claim_wait_seconds=600.0))
    runner_id = api.register()
    signal = queue_signal(api.state)
    hung_up: list[BaseException] = []

    def impatient_claim() -> None:
        try:
            api.client.post(f"/api/runners/{runner_id}/claim", json={}, headers=api.runner, timeout=0.5)
        except httpx.TimeoutException as exc:  # the runner gives up and closes the connection
            hung_up.append(exc)

    claimer = threading.Thread(target=impatient_claim, daemon=True)
    claimer.start()
    wait_until(lambda: signal.waiting() == 1, "the claim to wait")
    claimer.join(60)
    assert hung_up
    run_id = api.queue()
    signal.notify()  # the held request wakes, sees its runner gone, and answers nobody
    wait_until(lambda: not api.server.server.server_state.tasks, "the held request to end")
    run = api.store.get_run(run_id)
    assert run is not None and run.status == "queued"
    assert api.store.attempts(run_id) == []


def test_claims_of_unknown_draining_and_departed_runners(api: Api) -> None:
    assert api.claim("nobody").status_code == 410
    runner_id = api.register()
    assert api.client.post(f"/api/runners/{runner_id}/drain", headers=api.read).status_code == 403
    assert api.client.post("/api/runners/nobody/drain", headers=api.admin).status_code == 404
    drained = api.client.post(f"/api/runners/{runner_id}/drain", headers=api.admin)
    assert drained.status_code == 202 and drained.json() == {"id": runner_id, "drain": True}
    api.queue()
    refused = api.claim(runner_id)
    assert refused.status_code == 409 and "draining" in refused.json()["detail"]
    assert api.heartbeat(runner_id, []).json()["drain"] is True

    leaving = api.register("leaving")
    assert api.client.delete(f"/api/runners/{leaving}", headers=api.runner).status_code == 204
    assert api.claim(leaving).status_code == 410
    assert api.heartbeat(leaving, []).json()["status"] == "offline"
    assert api.client.delete("/api/runners/nobody", headers=api.runner).status_code == 404
    assert api.heartbeat("nobody", []).status_code == 410
    statuses = {
        item["name"]: item["status"] for item in api.client.get("/api/runners?all=true", headers=api.read).json()
    }
    assert statuses == {"r1": "draining", "leaving": "offline"}


def test_a_runner_that_leaves_mid_run_puts_it_back_in_the_queue(api: Api) -> None:
    runner_id = api.register()
    run_id = api.queue()
    assert api.claim(runner_id).status_code == 200
    assert api.client.delete(f"/api/runners/{runner_id}", headers=api.runner).status_code == 204
    run = api.store.get_run(run_id)
    assert run is not None and run.status == "queued"


# --- events -------------------------------------------------------------------------------------------------


def test_event_batches_are_stored_once_and_refused_when_malformed(api: Api) -> None:
    runner_id = api.register()
    run_id = api.queue()
    attempt_id = api.claimed(runner_id)["attempt_id"]
    first = [started("test"), logs("test", 1, 1, 2), finished("test")]
    assert api.events(attempt_id, 1, first).json() == {"acked": 1}
    assert api.events(attempt_id, 1, first).json() == {"acked": 1}  # sent again: stored once
    lines = api.client.get(f"/api/runs/{run_id}/logs", headers=api.read).json()["lines"]
    assert [(line["step_id"], line["seq"], line["text"]) for line in lines] == [
        ("test", 1, "test line 1"),
        ("test", 2, "test line 2"),
    ]
    assert api.events(attempt_id, 3, [RUN_SUCCEEDED]).json() == {"acked": 1}  # a gap: resend from 2

    bad = api.events(attempt_id, 2, [started("build"), {"type": "step_started", "step_id": "Build!"}])
    assert bad.status_code == 400 and bad.json()["detail"].startswith("event 1: step_started:")
    unknown_step = api.events(attempt_id, 2, [started("nope")])
    assert unknown_step.status_code == 400 and "has no step 'nope'" in unknown_step.json()["detail"]
    for body in (b"not json", b"[]", b'{"seq": 0, "events": []}', b'{"seq": 2}'):
        refused = api.client.post(f"/api/attempts/{attempt_id}/events", content=body, headers=api.runner)
        assert refused.status_code == 400, body
    many = api.events(attempt_id, 2, [RUN_SUCCEEDED] * 5001)
    assert many.status_code == 400 and "at most 5000 events" in many.json()["detail"]
    huge = api.events(attempt_id, 2, [logs("build", 1, *range(1, 3000))] * 3 + [{"pad": "x" * (9 * 1024 * 1024)}])
    assert huge.status_code == 413
    assert api.store.attempts(run_id)[0].acked_seq == 1  # nothing of the refused batches stored

    done = api.events(attempt_id, 2, [started("build"), finished("build"), RUN_SUCCEEDED])
    assert done.json() == {"acked": 2}
    run = api.store.get_run(run_id)
    assert run is not None and run.status == "success"
    late = api.events(attempt_id, 3, [logs("build", 1, 1)])
    assert late.status_code == 409 and late.json()["fenced"] is True
    assert api.client.get(f"/api/attempts/{attempt_id}/source", headers=api.runner).status_code == 409


def test_heartbeats_relay_cancels_and_aborts(api: Api) -> None:
    runner_id = api.register()
    run_id = api.queue()
    attempt_id = api.claimed(runner_id)["attempt_id"]
    beat = api.heartbeat(runner_id, [attempt_id, 424242])
    assert beat.json() == {"status": "busy", "cancel": [], "abort": [424242], "drain": False}
    assert api.client.post(f"/api/runs/{run_id}/cancel", headers=api.write).status_code == 200
    assert api.heartbeat(runner_id, [attempt_id]).json()["cancel"] == [attempt_id]


# --- lost runners -------------------------------------------------------------------------------------------


def test_the_reaper_marks_a_silent_runner_lost_and_its_run_is_retried(api: Api) -> None:
    lost_id = api.register("lost-one")
    run_id = api.queue()
    attempt_id = api.claimed(lost_id)["attempt_id"]
    assert api.events(
        attempt_id, 1, [started("test"), finished("test"), started("build"), logs("build", 1, 1)]
    ).json() == {"acked": 1}
    woken: list[bool] = []
    reaper = Reaper(api.store, api.config.runners, on_requeued=lambda: woken.append(True))
    assert reaper.reap(at=time.time()) == []  # nobody silent yet
    (lost,) = reaper.reap(at=time.time() + api.config.runners.lost_after_seconds + 1)
    assert (lost.run_id, lost.attempt_id, lost.requeued, woken) == (run_id, attempt_id, True, [True])

    beat = api.heartbeat(lost_id, [attempt_id]).json()
    assert (beat["status"], beat["abort"]) == ("lost", [attempt_id])
    fenced = api.events(attempt_id, 2, [logs("build", 1, 2), RUN_SUCCEEDED])
    assert fenced.status_code == 409 and fenced.json() == {
        "detail": f"attempt {attempt_id} was lost: runner lost-one was lost",
        "fenced": True,
    }
    assert api.claim(lost_id).status_code == 410  # it must register again

    retry = api.claimed(api.register("other"))
    assert (retry["run"]["id"], retry["attempt"]) == (run_id, 2)
    assert retry["attempt_base"] == {"test": 1, "build": 1}
    assert retry["reuse"] == {"test": {"outputs": {"step": "test"}, "exit_code": 0}}
    second = [
        {"type": "step_reused", "step_id": "test", "outputs": {"step": "test"}, "exit_code": 0, "at": time.time()},
        started("build", 2),
        logs("build", 2, 1),
        finished("build", 2),
        RUN_SUCCEEDED,
    ]
    assert api.events(retry["attempt_id"], 1, second).json() == {"acked": 1}
    detail = api.client.get(f"/api/runs/{run_id}", headers=api.read).json()
    assert detail["status"] == "success"
    lines = api.client.get(f"/api/runs/{run_id}/logs?step=build", headers=api.read).json()["lines"]
    assert [(line["attempt"], line["seq"]) for line in lines] == [(1, 1), (2, 1)]  # the first attempt's kept
    attempts = api.client.get(f"/api/runs/{run_id}/attempts", headers=api.read).json()
    assert [(item["number"], item["status"], item["runner_name"]) for item in attempts] == [
        (1, "lost", "lost-one"),
        (2, "success", "other"),
    ]
    listed = {item["name"]: item["status"] for item in api.client.get("/api/runners?all=1", headers=api.read).json()}
    assert listed == {"lost-one": "lost", "other": "idle"}


def test_the_server_runs_the_reaper(make_api: Callable[..., Api]) -> None:
    api = make_api(settings(heartbeat_seconds=0.05, lost_after_seconds=0.2), background=True)
    runner_id = api.register()
    run_id = api.queue()
    assert api.claim(runner_id).status_code == 200

    def requeued() -> bool:
        run = api.store.get_run(run_id)
        return run is not None and run.status == "queued"

    wait_until(requeued, "the silent runner's run to be queued again")
    runner = api.store.get_runner(runner_id)
    assert runner is not None and runner.status == "lost"


# --- the pool -----------------------------------------------------------------------------------------------


class PoolStatus:
    def status(self) -> dict[str, Any]:
        return {"enabled": True, "pools": [{"name": "default", "runners": []}], "decisions": []}


def test_the_pool_status_is_shown_when_there_is_a_pool(api: Api) -> None:
    assert api.client.get("/api/pool", headers=api.read).json() == {"enabled": False}
    api.state.extras["pool"] = PoolStatus()
    assert api.client.get("/api/pool", headers=api.read).json()["pools"][0]["name"] == "default"


def test_the_openapi_schema_documents_the_runner_routes(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("/api/runners", "/api/runners/{runner_id}/claim", "/api/attempts/{attempt_id}/events"):
        assert path in paths
    events_body = paths["/api/attempts/{attempt_id}/events"]["post"]["requestBody"]["content"]["application/json"]
    assert set(events_body["schema"]["properties"]) == {"seq", "events"}
