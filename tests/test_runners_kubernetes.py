"""`plue.runners.kubernetes` against a fake Kubernetes API (tests/kube_api.py) through the official client.

The fake's kubelet runs each pod's runner container as a local process, so pods whose command is a small
Python script really run, exit, and are killed on delete.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_api import FakeKubernetes, fake_kubernetes
from kubernetes.client import CoreV1Api, V1Pod
from process_support import wait_until

from plue.runners.backends import BackendError, RunnerSpec
from plue.runners.kubernetes import (
    DEFAULT_LIMITS,
    KubernetesBackend,
    PodTemplateInvalid,
    api_client_for,
    check_pod_template,
)

NAMESPACE = "plue"
TOKEN = "plue_runner_token_for_tests"

# A runner stand-in: records what it was started with in its work dir, then exits with the code it is given
# (or waits for SIGTERM with `--wait`, recording that it got it).
FAKE_RUNNER = textwrap.dedent(
    """
    import json, os, signal, sys, time
    args = sys.argv[1:]
    work = args[args.index("--work-dir") + 1]
    record = {"argv": args, "env": {k: v for k, v in os.environ.items()}, "cwd": os.getcwd()}
    with open(os.path.join(work, "started.json"), "w") as out:
        json.dump(record, out)
    if "--wait" in args:
        def stop(signum, frame):
            open(os.path.join(work, "sigterm"), "w").close()
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        while True:
            signal.pause()
    sys.exit(int(args[args.index("--exit") + 1]) if "--exit" in args else 0)
    """
)


def template(script: Path, **changes: Any) -> dict[str, Any]:
    """A runner pod template whose container runs the fake runner script with this Python."""
    container: dict[str, Any] = {"name": "runner", "image": "plue:test", "command": [sys.executable, str(script)]}
    container.update(changes.pop("container", {}))
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"team": "ci"}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 10},
    }
    pod["spec"].update(changes)
    return pod


def _pod(container: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "runner", "image": "x", **container}]}}


def spec(name: str, pool: str = "default", labels: tuple[str, ...] = ("linux",)) -> RunnerSpec:
    return RunnerSpec(name=name, pool=pool, labels=labels, server_url="http://plue.plue.svc:8080", token=TOKEN)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "fake_runner.py"
    path.write_text(FAKE_RUNNER)
    return path


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubernetes]:
    with fake_kubernetes(tmp_path / "kube") as fake:
        yield fake


@pytest.fixture
def held(tmp_path: Path) -> Iterator[FakeKubernetes]:
    """A fake whose kubelet keeps every pod Pending until the test calls `start`."""
    with fake_kubernetes(tmp_path / "kube", auto_start=False) as fake:
        yield fake


def backend_for(kube: FakeKubernetes, pod_template: dict[str, Any], **options: Any) -> KubernetesBackend:
    return KubernetesBackend(NAMESPACE, pod_template, api_client_for(api_url=kube.url), **options)


def work_dir(kube: FakeKubernetes, runner: str) -> Path:
    """Where the fake kubelet keeps the runner pod's /work emptyDir."""
    return kube.root / NAMESPACE / f"plue-runner-{runner}" / "volumes" / "plue-work"


def started_record(kube: FakeKubernetes, runner: str) -> dict[str, Any]:
    path = work_dir(kube, runner) / "started.json"
    wait_until(lambda: path.exists() and path.stat().st_size > 0, f"{runner} to start", timeout=20)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# --- the pod ---------------------------------------------------------------------------------------------------


def test_create_makes_one_labelled_hardened_pod(held: FakeKubernetes, script: Path) -> None:
    backend = backend_for(held, template(script), runtime_class="gvisor")

    backend.create(spec("r1", pool="gpu", labels=("gpu", "linux", "zone:eu/1")))

    pods = held.pods(NAMESPACE)
    assert [pod["metadata"]["name"] for pod in pods] == ["plue-runner-r1"]
    pod = pods[0]
    labels = pod["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "plue"
    assert labels["plue.dev/pool"] == "gpu"
    assert labels["plue.dev/runner"] == "r1"
    assert labels["team"] == "ci"  # the template's labels stay
    assert pod["metadata"]["annotations"]["plue.dev/labels"] == "gpu,linux,zone:eu/1"
    body = pod["spec"]
    assert body["restartPolicy"] == "Never"
    assert body["automountServiceAccountToken"] is False
    assert body["runtimeClassName"] == "gvisor"
    assert body["securityContext"]["runAsNonRoot"] is True
    assert body["securityContext"]["runAsUser"] != 0
    assert body["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = body["containers"]
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["limits"] == DEFAULT_LIMITS
    assert container["command"] == [sys.executable, str(script)]
    assert container["args"] == [
        *("runner", "--server", "http://plue.plue.svc:8080", "--name", "r1", "--pool", "gpu"),
        *("--labels", "gpu,linux,zone:eu/1", "--work-dir", "/work"),
    ]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["PLUE_TOKEN"] == TOKEN
    assert env["PLUE_SERVER"] == "http://plue.plue.svc:8080"
    assert TOKEN not in json.dumps(container["args"])  # in the environment only
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in body["volumes"]}
    assert "emptyDir" in volumes[mounts["/work"]] and "emptyDir" in volumes[mounts["/tmp"]]
    assert pod["status"]["phase"] == "Pending"


def test_the_template_keeps_its_limits_args_and_env(kube: FakeKubernetes, script: Path) -> None:
    container = {
        "args": ["--wait"],
        "env": [{"name": "EXTRA", "value": "yes"}, {"name": "PLUE_TOKEN", "value": "from-template"}],
        "resources": {"limits": {"cpu": "500m"}},
    }
    backend = backend_for(kube, template(script, container=container))

    backend.create(spec("r1", labels=()))

    (pod,) = kube.pods(NAMESPACE)
    (created,) = pod["spec"]["containers"]
    assert created["resources"]["limits"] == {**DEFAULT_LIMITS, "cpu": "500m"}
    assert created["args"][-1] == "--wait" and "--labels" not in created["args"]
    started = started_record(kube, "r1")
    assert started["env"]["EXTRA"] == "yes"
    assert started["env"]["PLUE_TOKEN"] == TOKEN  # the backend's token wins over the template's
    assert started["env"]["HOSTNAME"] == "plue-runner-r1"
    assert started["argv"][started["argv"].index("--work-dir") + 1] == str(work_dir(kube, "r1"))
    backend.delete("r1")
    assert backend.wait_gone("r1", timeout=20)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"hostNetwork": True}, "hostNetwork"),
        ({"automountServiceAccountToken": True}, "service-account token"),
        ({"restartPolicy": "Always"}, "restartPolicy Never"),
        ({"securityContext": {"runAsUser": 0}}, "non-root"),
        ({"container": {"securityContext": {"privileged": True}}}, "privileged"),
        ({"container": {"securityContext": {"readOnlyRootFilesystem": False}}}, "read-only root filesystem"),
        ({"container": {"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}}, "capabilities.add"),
        ({"container": {"securityContext": {"allowPrivilegeEscalation": True}}}, "privilege escalation"),
        ({"container": {"image": ""}}, "no image"),
        ({"volumes": [{"name": "host", "hostPath": {"path": "/"}}]}, "hostPath"),
    ],
)
def test_a_template_weakening_the_pods_is_refused(
    kube: FakeKubernetes, script: Path, changes: dict[str, Any], words: str
) -> None:
    with pytest.raises(PodTemplateInvalid, match=words) as refused:
        backend_for(kube, template(script, **changes))
    assert "\n" not in str(refused.value)
    assert kube.pods() == []


@pytest.mark.parametrize(
    ("pod_template", "words"),
    [
        (None, "needs a pod template"),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {}}, "not a v1 Pod"),
        ({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": []}}, "no containers"),
        (_pod({"env": "oops"}), r"wrong type \(env is not a list\)"),
        (_pod({"env": [{"value": "x"}]}), r"misses a required field \(name\)"),
        (
            _pod({"ports": [{"containerPort": "http"}]}),
            "V1ContainerPort.containerPort: Input should be a valid integer",
        ),
        (_pod({"resources": {"limits": {"cpu": [1]}}}), "limits.cpu: Input should be a valid string"),
    ],
)
def test_a_malformed_template_is_refused_in_one_sentence(pod_template: dict[str, Any] | None, words: str) -> None:
    with pytest.raises(PodTemplateInvalid, match=words) as refused:
        check_pod_template(pod_template)
    assert "\n" not in str(refused.value)


def test_a_name_no_pod_can_carry_is_refused_before_any_call(kube: FakeKubernetes, script: Path) -> None:
    backend = backend_for(kube, template(script))

    with pytest.raises(BackendError, match="cannot name a runner pod"):
        backend.create(spec("Runner_1"))
    with pytest.raises(BackendError, match="cannot name a runner pod"):
        backend.create(spec("r" * 52))

    assert not [request for request in kube.requests if request[0] == "POST"]


# --- list, adoption, conflicts, delete ---------------------------------------------------------------------------


def test_list_maps_pod_phases(held: FakeKubernetes, script: Path) -> None:
    backend = backend_for(held, template(script, container={"args": ["--wait"]}))
    backend.create(spec("waiting"))
    backend.create(spec("started"))
    backend.create(spec("finished"))
    backend.create(spec("unknown"))
    # Pods the backend does not own are not its runners: unlabelled, or in another namespace.
    api = CoreV1Api(held.api_client())
    stranger = V1Pod.from_dict(
        {"metadata": {"name": "stranger"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    )
    assert stranger is not None
    api.create_namespaced_pod(NAMESPACE, stranger)
    elsewhere = KubernetesBackend("elsewhere", template(script), api_client_for(api_url=held.url))
    elsewhere.create(spec("foreign"))

    held.start("plue-runner-started")
    held.start("plue-runner-finished")
    held.wait_for(lambda: held.phase(NAMESPACE, "plue-runner-started") == "Running", "a running pod")
    held.wait_for(lambda: held.phase(NAMESPACE, "plue-runner-finished") == "Running", "a second running pod")
    os.killpg(_pid(held, "plue-runner-finished"), signal.SIGKILL)
    held.wait_for(lambda: held.phase(NAMESPACE, "plue-runner-finished") == "Failed", "a failed pod")
    held.set_phase(NAMESPACE, "plue-runner-unknown", "Unknown")

    runners = {runner.name: runner for runner in backend.list()}

    assert {name: runner.phase for name, runner in runners.items()} == {
        "waiting": "pending",
        "started": "running",
        "finished": "exited",
        "unknown": "exited",
    }
    assert {runner.pool for runner in runners.values()} == {"default"}
    assert runners["finished"].detail is not None and "exit code 137 (Error)" in runners["finished"].detail
    assert all(runner.created_at for runner in runners.values())


def _pid(kube: FakeKubernetes, pod: str) -> int:
    process = kube.process_of(NAMESPACE, pod)
    assert process is not None
    return process.pid


def test_a_new_controller_adopts_the_pods_it_finds(kube: FakeKubernetes, script: Path) -> None:
    first = backend_for(kube, template(script, container={"args": ["--wait"]}))
    first.create(spec("r1", pool="small"))
    first.create(spec("r2", pool="big"))
    uids = {pod["metadata"]["name"]: pod["metadata"]["uid"] for pod in kube.pods(NAMESPACE)}
    first.close()

    # The server restarts: a new backend with a new client sees the same runners...
    second = backend_for(kube, template(script, container={"args": ["--wait"]}))
    found = {(runner.name, runner.pool) for runner in second.list()}
    assert found == {("r1", "small"), ("r2", "big")}
    # ...and a create of a runner that is there already adopts it: no second pod, the first one untouched.
    second.create(spec("r1", pool="small"))

    assert {pod["metadata"]["name"]: pod["metadata"]["uid"] for pod in kube.pods(NAMESPACE)} == uids
    assert kube.requests.count(("POST", f"/api/v1/namespaces/{NAMESPACE}/pods")) == 3  # the third answered 409


def test_delete_kills_the_runner_after_sigterm_and_is_idempotent(kube: FakeKubernetes, script: Path) -> None:
    backend = backend_for(kube, template(script, container={"args": ["--wait"]}))
    backend.create(spec("r1"))
    assert backend.wait_for_phase("r1", ["running"], timeout=20) is not None
    started_record(kube, "r1")  # its SIGTERM handler is installed
    process = kube.process_of(NAMESPACE, "plue-runner-r1")
    assert process is not None

    backend.delete("r1")

    assert backend.wait_gone("r1", timeout=20)
    assert process.wait(timeout=20) == 0  # it got SIGTERM (its handler exits 0), not SIGKILL
    assert (work_dir(kube, "r1") / "sigterm").exists()
    assert backend.list() == []
    backend.delete("r1")  # 404: nothing to do
    backend.delete("never-created")


def test_api_refusals_and_an_unreachable_api_are_one_sentence(kube: FakeKubernetes, script: Path) -> None:
    bad_labels = template(script)
    bad_labels["metadata"]["labels"] = {"team": "not a label value!"}
    backend = backend_for(kube, bad_labels)
    with pytest.raises(BackendError, match=r"Kubernetes refused to create pod plue-runner-r1: 422 .*is invalid"):
        backend.create(spec("r1"))

    nowhere = KubernetesBackend(NAMESPACE, template(script), api_client_for(api_url="http://127.0.0.1:9"))
    for call in (lambda: nowhere.create(spec("r1")), nowhere.list, lambda: nowhere.delete("r1")):
        with pytest.raises(
            BackendError, match=r"cannot reach the Kubernetes API at http://127\.0\.0\.1:9 .*: Connection refused$"
        ):
            call()


def test_an_api_that_never_answers_times_out(script: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        backend = KubernetesBackend(NAMESPACE, template(script), api_client_for(api_url=url), request_timeout=0.2)
        with pytest.raises(
            BackendError, match=r"cannot reach the Kubernetes API at .* to list the runner pods: timed out$"
        ):
            backend.list()


def test_a_missing_kubeconfig_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="cannot configure the Kubernetes client from the kubeconfig"):
        api_client_for(kubeconfig=tmp_path / "missing")


# --- watch ----------------------------------------------------------------------------------------------------------


def test_watch_follows_a_pod_from_pending_to_exited(held: FakeKubernetes, script: Path) -> None:
    backend = backend_for(held, template(script))
    backend.create(spec("r1"))
    seen: list[tuple[str, str]] = []

    for change in backend.watch(timeout=20):
        seen.append((change.type, change.runner.phase))
        if change.runner.phase == "pending":
            held.start("plue-runner-r1")
        if change.runner.phase == "exited":
            break

    assert seen == [("ADDED", "pending"), ("MODIFIED", "running"), ("MODIFIED", "exited")]
    assert held.phase(NAMESPACE, "plue-runner-r1") == "Succeeded"


@pytest.mark.parametrize("expired_as_status", [False, True], ids=["error-event", "http-410"])
def test_watch_lists_again_after_410_gone(tmp_path: Path, script: Path, expired_as_status: bool) -> None:
    with fake_kubernetes(tmp_path / "kube", auto_start=False, expired_as_status=expired_as_status) as kube:
        backend = backend_for(kube, template(script))
        backend.create(spec("stays"))
        backend.create(spec("goes"))
        seen: list[tuple[str, str]] = []
        for change in backend.watch(timeout=20):
            seen.append((change.type, change.runner.name))
            if len(seen) == 2:
                # While the watcher is between requests: one pod goes, one comes, and the history is forgotten.
                backend.delete("goes")
                backend.create(spec("comes"))
                kube.compact()
            if len(seen) == 5:
                break

    assert sorted(seen[:2]) == [("ADDED", "goes"), ("ADDED", "stays")]
    assert sorted(seen[2:]) == [("ADDED", "comes"), ("DELETED", "goes"), ("MODIFIED", "stays")]


def test_watch_from_a_resource_version_sees_only_what_came_after(held: FakeKubernetes, script: Path) -> None:
    backend = backend_for(held, template(script))
    backend.create(spec("before"))
    version = CoreV1Api(held.api_client()).list_namespaced_pod(NAMESPACE).metadata.resource_version  # type: ignore[union-attr]
    backend.create(spec("after"))

    change = next(iter(backend.watch(timeout=20, resource_version=version)))

    assert (change.type, change.runner.name, change.runner.phase) == ("ADDED", "after", "pending")


def test_wait_for_phase_times_out_on_a_pod_that_stays_pending(held: FakeKubernetes, script: Path) -> None:
    backend = backend_for(held, template(script))
    backend.create(spec("r1"))

    assert backend.wait_for_phase("r1", ["running"], timeout=1) is None
    assert backend.wait_for_phase("missing", ["running"], timeout=1) is None
    assert backend.wait_for_phase("r1", ["pending"], timeout=1) is not None


# --- the fake itself ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["a"]),
        ("tier==web", ["a"]),
        ("tier!=web", ["b", "c"]),  # as Kubernetes: objects without the key match != too
        ("tier in (web, db)", ["a", "b"]),
        ("tier notin (web)", ["b", "c"]),
        ("gpu", ["b"]),
        ("!gpu", ["a", "c"]),
        ("tier in (db),gpu", ["b"]),
        ("", ["a", "b", "c"]),
    ],
)
def test_the_fake_api_selects_labels_as_kubernetes_does(
    held: FakeKubernetes, selector: str, expected: list[str]
) -> None:
    api = CoreV1Api(held.api_client())
    for name, labels in (("a", {"tier": "web"}), ("b", {"tier": "db", "gpu": "yes"}), ("c", {})):
        pod = V1Pod.from_dict(
            {"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
        )
        assert pod is not None
        api.create_namespaced_pod(NAMESPACE, pod)

    listed = api.list_namespaced_pod(NAMESPACE, label_selector=selector)

    assert [pod.metadata.name for pod in listed.items if pod.metadata] == expected
    assert listed.metadata is not None and int(listed.metadata.resource_version or 0) == 3


# --- the kubelet runs what the pod says ------------------------------------------------------------------------------


def test_a_pod_runs_its_command_and_succeeds(kube: FakeKubernetes, script: Path) -> None:
    backend = backend_for(kube, template(script))

    backend.create(spec("ok"))
    # A runner that fails: the template's extra args reach it (`--exit 3`).
    failing = backend_for(kube, template(script, container={"args": ["--exit", "3"]}))
    failing.create(spec("fails"))

    ok = backend.wait_for_phase("ok", ["exited"], timeout=20)
    fails = backend.wait_for_phase("fails", ["exited"], timeout=20)
    assert ok is not None and ok.detail is not None and "exit code 0 (Completed)" in ok.detail
    assert fails is not None and fails.detail is not None and "exit code 3 (Error)" in fails.detail
    assert kube.phase(NAMESPACE, "plue-runner-ok") == "Succeeded"
    assert kube.phase(NAMESPACE, "plue-runner-fails") == "Failed"
    started = started_record(kube, "ok")
    assert started["argv"][:7] == [
        "runner",
        "--server",
        "http://plue.plue.svc:8080",
        "--name",
        "ok",
        "--pool",
        "default",
    ]
    assert started["env"]["PLUE_TOKEN"] == TOKEN


# --- the whole path with a real `plue runner` ---------------------------------------------------------------------


SOURCE = Path(__file__).parents[1] / "src" / "plue"
WIRED = (SOURCE / "runners" / "agent.py").exists() and (SOURCE / "server" / "api" / "runners.py").exists()


def _names(data: Any) -> set[str]:
    """Every "name" value in a JSON document (the runner list's exact shape is the API's business)."""
    if isinstance(data, dict):
        found = {data["name"]} if isinstance(data.get("name"), str) else set()
        return found.union(*(_names(value) for value in data.values()))
    if isinstance(data, list):
        return set().union(*(_names(item) for item in data))
    return set()


@pytest.mark.skipif(not WIRED, reason="the runner agent and the server's runner routes are not both there yet")
def test_a_runner_pod_registers_runs_a_run_and_is_retired(kube: FakeKubernetes, tmp_path: Path) -> None:
    """The whole path: a pod whose container is a real `plue runner` registers with a real server, claims and
    executes a queued run, and deregisters when its pod is deleted."""
    import httpx
    from server_support import bearer, make_config, serve

    from plue import Plan, Step
    from plue.server.app import create_app

    app = create_app(make_config(tmp_path / "server", workers=0), start_background=False)
    store = app.state.plue.store
    admin = bearer(store.create_token("admin", "admin"))
    plan = Plan("Test", steps=[Step.bash("hello", "echo hello from the pod")]).to_data()
    runner_template = {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {
            "terminationGracePeriodSeconds": 10,
            "containers": [{"name": "runner", "image": "plue:test", "command": [sys.executable, "-m", "plue"]}],
        },
    }
    with serve(app) as server:
        try:
            backend = backend_for(kube, runner_template)
            token = store.create_token("runner:r1", "runner")
            backend.create(RunnerSpec("r1", "default", ("linux",), server.url, token))

            def registered() -> bool:
                answer = httpx.get(server.url + "/api/runners", headers=admin, timeout=10)
                return answer.status_code == 200 and "r1" in _names(answer.json())

            wait_until(registered, "the pod's runner to register", timeout=30)
            (record,) = [runner for runner in store.list_runners() if runner.name == "r1"]
            assert record.pool == "default" and list(record.labels) == ["linux"]
            workflow_id = store.upsert_workflow("test.plue.py", "Test", "0" * 64, plan)
            run_id = store.create_run(workflow_id=workflow_id, plan=plan, event_name="manual", event=None, inputs={})

            def finished() -> bool:
                run = store.get_run(run_id)
                return run is not None and run.status in ("success", "failed", "cancelled")

            wait_until(finished, "the run to finish on the pod's runner", timeout=30)
            run = store.get_run(run_id)
            assert run is not None and run.status == "success", kube.log(NAMESPACE, "plue-runner-r1")
            assert run.owner == f"runner:{record.id}"
            assert [log.text for log in store.read_logs(run_id, step_id="hello")] == ["hello from the pod"]

            backend.delete("r1")  # SIGTERM: the runner deregisters and exits
            assert backend.wait_gone("r1", timeout=30)
            answer = httpx.get(server.url + "/api/runners", headers=admin, timeout=10)
            assert "r1" not in _names(answer.json())  # offline runners are not listed
            (gone,) = [runner for runner in store.list_runners(include_gone=True) if runner.name == "r1"]
            assert gone.status == "offline"  # it deregistered: not lost
        finally:
            kube.kill_all()  # a runner left by a failure would hold its claim open and delay the server's stop


@pytest.mark.skipif(not WIRED, reason="the runner agent and the server's runner routes are not both there yet")
def test_the_pool_controller_makes_a_pod_that_runs_a_run_and_retires_it(kube: FakeKubernetes, tmp_path: Path) -> None:
    """The issue's whole path: a queued run makes the controller create a runner pod; the pod's `plue runner`
    registers, claims and executes the run; idle past its timeout, it is drained and its pod deleted."""
    from server_support import make_config, serve

    from plue import Plan, Step
    from plue.runners.pool import PoolController
    from plue.server.app import create_app
    from plue.server.config import PoolSettings, PoolSpec

    app = create_app(make_config(tmp_path / "server", workers=0), start_background=False)
    store = app.state.plue.store
    plan = Plan("Test", steps=[Step.bash("hello", "echo hello from the pool")]).to_data()
    runner_template = {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {
            "terminationGracePeriodSeconds": 10,
            "containers": [{"name": "runner", "image": "plue:test", "command": [sys.executable, "-m", "plue"]}],
        },
    }
    workflow_id = store.upsert_workflow("test.plue.py", "Test", "0" * 64, plan)
    run_id = store.create_run(workflow_id=workflow_id, plan=plan, event_name="manual", event=None, inputs={})
    with serve(app) as server:
        backend = backend_for(kube, runner_template)
        pool = PoolSpec("default", ("linux",), min_idle=0, max_runners=1, idle_timeout_seconds=1.0)
        settings = PoolSettings(backend="kubernetes", server_url=server.url, interval_seconds=0.2, pools=(pool,))
        controller = PoolController(store, settings, backend)
        controller.start()
        try:

            def finished() -> bool:
                run = store.get_run(run_id)
                return run is not None and run.status in ("success", "failed", "cancelled")

            wait_until(finished, "the run to finish on a pool runner pod", timeout=30)
            run = store.get_run(run_id)
            (pod,) = kube.pods(NAMESPACE)
            runner_name = pod["metadata"]["labels"]["plue.dev/runner"]
            assert run is not None and run.status == "success", kube.log(NAMESPACE, pod["metadata"]["name"])
            assert pod["metadata"]["labels"]["plue.dev/pool"] == "default"
            assert [log.text for log in store.read_logs(run_id, step_id="hello")] == ["hello from the pool"]

            def actions() -> list[str]:
                return [decision["action"] for decision in controller.status()["decisions"]]

            wait_until(lambda: "delete" in actions(), "the idle runner to be retired", timeout=30)
            assert actions()[:2] == ["create", "drain"]
            assert backend.wait_gone(runner_name, timeout=20)  # deleted: SIGTERM, then the runner exits
            (gone,) = [runner for runner in store.list_runners(include_gone=True) if runner.name == runner_name]
            assert gone.status == "offline"  # it deregistered when its pod was deleted: not lost
        finally:
            controller.stop()
            kube.kill_all()
