"""A fake Kubernetes API server for tests (no tests here): real HTTP on loopback, pods only, plus a "kubelet".

    with fake_kubernetes(tmp_path) as kube:
        api = CoreV1Api(kube.api_client())
        api.create_namespaced_pod("plue", V1Pod(...))

It implements what the Kubernetes backend uses, faithfully enough for the official client:

    GET    /api, /api/v1, /version                          discovery
    POST   /api/v1/namespaces/{ns}/pods                     201 | 409 AlreadyExists | 422 Invalid (a Status)
    GET    /api/v1/namespaces/{ns}/pods[?labelSelector=]    a PodList with metadata.resourceVersion
    GET    /api/v1/namespaces/{ns}/pods?watch=true          chunked JSON lines: ADDED / MODIFIED / DELETED,
                                                             from `resourceVersion` (an ERROR 410 Expired event
                                                             when it is older than the kept history)
    GET    /api/v1/namespaces/{ns}/pods/{name}[/log]        200 | 404 NotFound
    DELETE /api/v1/namespaces/{ns}/pods/{name}              200 with the object | 404 NotFound

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated.

The kubelet starts the `runner` container (or the first) of each created pod as a local process: `command` +
`args` (with `$(VAR)` expanded from the container env), the container's `env` (`value` and `fieldRef` to the
pod's name/namespace) plus PATH and HOSTNAME (the pod's name), in its own session. The command stands for the
image's program, so it is a path on this machine. Volumes are emulated by path: an `emptyDir` mounted at /work
becomes a fresh directory, and an argument or env value under /work is rewritten to it (the command is not).
Phases: Pending -> Running -> Succeeded (exit 0) | Failed. A delete of a pod with a live process marks it
terminating (deletionTimestamp, MODIFIED), sends SIGTERM to its process group, SIGKILL after the grace period,
and removes it (DELETED) when the process is gone.

Test hooks: `auto_start=False` keeps pods Pending until `start(name)`; `compact()` forgets the event history
(watches from older versions get 410: an ERROR event, or with `expired_as_status=True` an HTTP 410 response, as
some API servers send); `set_phase()`; `kill_all()` (a node dying); `requests` records (method, path) of every
call, `verbs` the RBAC verb each pods request needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes.client import ApiClient, Configuration

NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
LABEL_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?")
LABEL_KEY_RE = re.compile(r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
HISTORY_LIMIT = 10_000  # events kept for watches; older ones are compacted away (410 Gone)
DEFAULT_GRACE_SECONDS = 30
WATCH_DEFAULT_SECONDS = 300  # a watch without timeoutSeconds (the real server picks 30-60 min)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_object(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `Status` as the API server sends it with every error."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


class ApiError(Exception):
    """A request refused with a Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status_object(code, reason, message, details)
        self.code = code


# --- label selectors -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!exists":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" match objects without the key too (as Kubernetes does)
        return not present or value not in self.values


def split_selector(text: str) -> list[str]:
    """Split on the commas that are not inside `( )`."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def parse_selector(text: str) -> list[Requirement]:
    """A label selector string -> requirements; ApiError 400 for a malformed one."""
    requirements = []
    for part in split_selector(text):
        set_match = re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^()]*)\)", part)
        if set_match:
            key, operator, values = set_match.groups()
            items = tuple(value.strip() for value in values.split(",") if value.strip())
            requirements.append(Requirement(key, operator, items))
        elif "!=" in part:
            key, value = (item.strip() for item in part.split("!=", 1))
            requirements.append(Requirement(key, "!=", (value,)))
        elif "=" in part:
            key, value = (item.strip() for item in re.split("==?", part, maxsplit=1))
            requirements.append(Requirement(key, "=", (value,)))
        elif part.startswith("!"):
            requirements.append(Requirement(part[1:].strip(), "!exists"))
        else:
            requirements.append(Requirement(part, "exists"))
    for requirement in requirements:
        if not LABEL_KEY_RE.fullmatch(requirement.key) or not all(
            LABEL_VALUE_RE.fullmatch(value) for value in requirement.values
        ):
            raise ApiError(400, "BadRequest", f"unable to parse requirement: invalid label selector {text!r}")
    return requirements


def selector_matches(requirements: list[Requirement], pod: dict[str, Any]) -> bool:
    labels = pod.get("metadata", {}).get("labels") or {}
    return all(requirement.matches(labels) for requirement in requirements)


# --- the pods and their history --------------------------------------------------------------------------------


@dataclass
class PodRecord:
    """A stored pod and what the kubelet knows of it."""

    pod: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    started: threading.Event = field(default_factory=threading.Event)  # released for the kubelet
    removed: bool = False
    log_path: Path | None = None


@dataclass(frozen=True)
class Event:
    resource_version: int
    type: str
    namespace: str
    pod: dict[str, Any]


class FakeKubernetes:
    """The API server's state (pods, resource versions, event history), its HTTP server and its kubelet."""

    def __init__(
        self,
        root: Path,
        *,
        auto_start: bool = True,
        base_env: dict[str, str] | None = None,
        expired_as_status: bool = False,
    ) -> None:
        self.root = root
        self.auto_start = auto_start
        self.expired_as_status = expired_as_status  # 410 as an HTTP status instead of an ERROR event
        self.base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(base_env or {})}
        self.requests: list[tuple[str, str]] = []
        self.verbs: list[str] = []  # the RBAC verb of each pods request: what a Role must allow
        self._pods: dict[tuple[str, str], PodRecord] = {}
        self._history: list[Event] = []
        self._compacted = 0  # events with a resource version <= this are forgotten
        self._version = 0
        self._closing = False
        self._changed = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._serve_thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def api_client(self) -> ApiClient:
        """An official client pointed at this server (no credentials, as with `api_url` in the config)."""
        configuration = Configuration(host=self.url)
        return ApiClient(configuration)

    def start_serving(self) -> None:
        self._serve_thread.start()

    def kill_all(self) -> None:
        """SIGKILL every pod's processes (as a node dying would); the pods then end Failed."""
        with self._changed:
            records = list(self._pods.values())
        for record in records:
            _kill_group(record.process, signal.SIGKILL)

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
            records = list(self._pods.values())
        for record in records:
            record.started.set()
        self.kill_all()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    # --- state, under self._changed ---

    def _bump(self, event_type: str, namespace: str, pod: dict[str, Any]) -> None:
        self._version += 1
        pod["metadata"]["resourceVersion"] = str(self._version)
        self._history.append(Event(self._version, event_type, namespace, json.loads(json.dumps(pod))))
        if len(self._history) > HISTORY_LIMIT:
            dropped = self._history[: len(self._history) - HISTORY_LIMIT]
            self._compacted = dropped[-1].resource_version
            del self._history[: len(dropped)]
        self._changed.notify_all()

    def _record(self, namespace: str, name: str) -> PodRecord:
        record = self._pods.get((namespace, name))
        if record is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
        return record

    # --- the API ---

    def create(self, namespace: str, body: Any) -> dict[str, Any]:
        pod = _validated_pod(namespace, body)
        name = pod["metadata"]["name"]
        with self._changed:
            if (namespace, name) in self._pods:
                raise ApiError(409, "AlreadyExists", f'pods "{name}" already exists', {"name": name, "kind": "pods"})
            metadata = pod["metadata"]
            metadata.update(namespace=namespace, uid=secrets.token_hex(16), creationTimestamp=now_rfc3339())
            pod["status"] = {"phase": "Pending", "qosClass": "Burstable"}
            record = PodRecord(pod)
            self._pods[(namespace, name)] = record
            self._bump("ADDED", namespace, pod)
            if self.auto_start:
                record.started.set()
            thread = threading.Thread(target=self._kubelet, args=(namespace, name, record), daemon=True)
            self._threads.append(thread)
            created = json.loads(json.dumps(pod))
        thread.start()
        return created

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        with self._changed:
            return json.loads(json.dumps(self._record(namespace, name).pod))  # type: ignore[no-any-return]

    def list(self, namespace: str | None, selector: str) -> dict[str, Any]:
        requirements = parse_selector(selector)
        with self._changed:
            items = [
                json.loads(json.dumps(record.pod))
                for (pod_namespace, _), record in sorted(self._pods.items())
                if namespace in (None, pod_namespace) and selector_matches(requirements, record.pod)
            ]
            version = str(self._version)
        return {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": version}, "items": items}

    def delete(self, namespace: str, name: str, options: dict[str, Any]) -> dict[str, Any]:
        with self._changed:
            record = self._record(namespace, name)
            pod = record.pod
            grace = options.get("gracePeriodSeconds")
            if grace is None:
                grace = pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
            alive = record.process is not None and record.process.poll() is None
            if "deletionTimestamp" not in pod["metadata"]:
                pod["metadata"]["deletionTimestamp"] = now_rfc3339()
                pod["metadata"]["deletionGracePeriodSeconds"] = int(grace)
                if alive:
                    self._bump("MODIFIED", namespace, pod)
            answer = json.loads(json.dumps(pod))
            if not alive:
                self._remove(namespace, name, record)
                record.started.set()  # a held kubelet wakes up and sees the pod gone
                return answer
            process = record.process
        _kill_group(process, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        if grace > 0:
            killer = threading.Timer(float(grace), _kill_group, args=(process, signal.SIGKILL))
            killer.daemon = True
            killer.start()
        return answer

    def _remove(self, namespace: str, name: str, record: PodRecord) -> None:
        if record.removed:
            return
        record.removed = True
        del self._pods[(namespace, name)]
        self._bump("DELETED", namespace, record.pod)

    def watch_from(self, namespace: str | None, selector: str, version: str | None) -> tuple[list[Event], int]:
        """The events to send first and the cursor to follow from; ApiError 410 if `version` is compacted."""
        requirements = parse_selector(selector)
        with self._changed:
            if version in (None, "", "0"):
                initial = [
                    Event(int(record.pod["metadata"]["resourceVersion"]), "ADDED", pod_namespace, record.pod)
                    for (pod_namespace, _), record in sorted(self._pods.items())
                    if namespace in (None, pod_namespace) and selector_matches(requirements, record.pod)
                ]
                return [_copy_event(event) for event in initial], self._version
            assert version is not None
            if not version.isdigit():
                raise ApiError(400, "BadRequest", f"invalid resource version {version!r}")
            cursor = int(version)
            if cursor < self._compacted:
                raise ApiError(410, "Expired", f"too old resource version: {cursor} ({self._compacted})")
            return [], cursor

    def events_after(
        self, cursor: int, namespace: str | None, selector: str, deadline: float
    ) -> tuple[list[Event], int, bool]:
        """Wait (bounded) for events after `cursor`: (events, new cursor, go on?)."""
        requirements = parse_selector(selector)
        with self._changed:
            self._changed.wait_for(
                lambda: self._closing or self._version > cursor, timeout=max(0.0, deadline - time.monotonic())
            )
            if self._closing:
                return [], cursor, False
            if cursor < self._compacted:
                raise ApiError(410, "Expired", f"too old resource version: {cursor} ({self._compacted})")
            events = [
                _copy_event(event)
                for event in self._history
                if event.resource_version > cursor
                and namespace in (None, event.namespace)
                and selector_matches(requirements, event.pod)
            ]
            return events, self._version, time.monotonic() < deadline

    def log(self, namespace: str, name: str) -> str:
        with self._changed:
            record = self._record(namespace, name)
            path = record.log_path
        return path.read_text(errors="replace") if path is not None and path.exists() else ""

    # --- test hooks ---

    def start(self, name: str, namespace: str | None = None) -> None:
        """Let the kubelet start a pod held Pending (`auto_start=False`)."""
        with self._changed:
            for (pod_namespace, pod_name), record in self._pods.items():
                if pod_name == name and namespace in (None, pod_namespace):
                    record.started.set()
                    return
        raise KeyError(name)

    def compact(self) -> None:
        """Forget the event history: a watch from any version before now gets 410 Gone."""
        with self._changed:
            self._compacted = self._version
            self._history.clear()

    def set_phase(self, namespace: str, name: str, phase: str) -> None:
        with self._changed:
            record = self._record(namespace, name)
            record.pod["status"]["phase"] = phase
            self._bump("MODIFIED", namespace, record.pod)

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.list(namespace, "")["items"]  # type: ignore[no-any-return]

    def process_of(self, namespace: str, name: str) -> subprocess.Popen[bytes] | None:
        with self._changed:
            return self._record(namespace, name).process

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        """Wait on state changes (no polling) until `condition()` holds; AssertionError when it does not in time."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self._changed.wait(remaining)

    def phase(self, namespace: str, name: str) -> str | None:
        """The pod's phase, None when there is no such pod (callable inside `wait_for`: the lock is reentrant)."""
        record = self._pods.get((namespace, name))
        return None if record is None else record.pod["status"].get("phase")

    # --- the kubelet ---

    def _kubelet(self, namespace: str, name: str, record: PodRecord) -> None:
        record.started.wait()
        with self._changed:
            if record.removed or self._closing:
                return
            pod = record.pod
            container = _runner_container(pod)
            env, mounts = self._container_env(namespace, name, pod, container)
            # The command stands for the image's program: a host path, taken as is.
            argv = [_expand(item, env) for item in container.get("command", [])]
            argv += [_rewrite(_expand(item, env), mounts) for item in container.get("args", [])]
            sandbox = self.root / namespace / name
            sandbox.mkdir(parents=True, exist_ok=True)
            record.log_path = sandbox / "container.log"
            if not argv:
                self._terminated(namespace, record, 128, "StartError", "the fake kubelet needs a command")
                return
            try:
                with record.log_path.open("wb") as log:
                    record.process = subprocess.Popen(
                        argv, env=env, cwd=sandbox, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
            except OSError as error:
                self._terminated(namespace, record, 128, "StartError", str(error))
                return
            started = now_rfc3339()
            pod["status"].update(
                phase="Running",
                startTime=started,
                podIP="127.0.0.1",
                hostIP="127.0.0.1",
                containerStatuses=[_container_status(container, {"running": {"startedAt": started}})],
            )
            self._bump("MODIFIED", namespace, pod)
            process = record.process
        code = process.wait()
        if code < 0:  # killed by a signal: the container runtime reports 128 + the signal number
            code = 128 - code
        with self._changed:
            if record.removed:
                return
            if "deletionTimestamp" in record.pod["metadata"]:
                self._remove(namespace, name, record)
                return
            self._terminated(namespace, record, code, "Completed" if code == 0 else "Error", "")

    def _terminated(self, namespace: str, record: PodRecord, code: int, reason: str, message: str) -> None:
        container = _runner_container(record.pod)
        terminated = {"exitCode": code, "reason": reason, "finishedAt": now_rfc3339()}
        if message:
            terminated["message"] = message
        record.pod["status"].update(
            phase="Succeeded" if code == 0 else "Failed",
            containerStatuses=[_container_status(container, {"terminated": terminated})],
        )
        self._bump("MODIFIED", namespace, record.pod)

    def _container_env(
        self, namespace: str, name: str, pod: dict[str, Any], container: dict[str, Any]
    ) -> tuple[dict[str, str], dict[str, Path]]:
        mounts: dict[str, Path] = {}
        empty_dirs = {volume["name"] for volume in pod["spec"].get("volumes", []) if "emptyDir" in volume}
        for mount in container.get("volumeMounts", []):
            if mount["name"] in empty_dirs:
                directory = self.root / namespace / name / "volumes" / mount["name"]
                directory.mkdir(parents=True, exist_ok=True)
                mounts[mount["mountPath"]] = directory
        env = {**self.base_env, "HOSTNAME": name}
        fields = {"metadata.name": name, "metadata.namespace": namespace, "status.podIP": "127.0.0.1"}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = _rewrite(_expand(item["value"], env), mounts)
            elif "fieldRef" in item.get("valueFrom", {}):
                env[item["name"]] = fields.get(item["valueFrom"]["fieldRef"]["fieldPath"], "")
        return env, mounts


def _copy_event(event: Event) -> Event:
    return Event(event.resource_version, event.type, event.namespace, json.loads(json.dumps(event.pod)))


def _kill_group(process: subprocess.Popen[bytes] | None, signum: int) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _runner_container(pod: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod["spec"]["containers"]
    return next((container for container in containers if container.get("name") == "runner"), containers[0])


def _container_status(container: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    running = "running" in state
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "ready": running,
        "started": running,
        "restartCount": 0,
        "state": state,
    }


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion in command, args and env values (unknown names stay as written)."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda match: env.get(match[1], match[0]), text)


def _rewrite(text: str, mounts: dict[str, Path]) -> str:
    """A path under an emulated mount, rewritten to the directory that stands for the volume."""
    for mount_path, directory in sorted(mounts.items(), key=lambda item: -len(item[0])):
        if text == mount_path or text.startswith(mount_path.rstrip("/") + "/"):
            return str(directory) + text[len(mount_path.rstrip("/")) :]
    return text


def _validated_pod(namespace: str, body: Any) -> dict[str, Any]:
    """The checks the real API server makes that matter here: 400 for a wrong body, 422 for an invalid pod."""
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body is not a JSON object")
    if body.get("kind", "Pod") != "Pod" or body.get("apiVersion", "v1") != "v1":
        raise ApiError(400, "BadRequest", f"the body is a {body.get('kind')}, not a v1 Pod")
    metadata = body.setdefault("metadata", {})
    if metadata.get("namespace", namespace) != namespace:
        raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the request")
    if not metadata.get("name") and metadata.get("generateName"):
        metadata["name"] = metadata["generateName"] + secrets.token_hex(3)[:5]
    name = metadata.get("name") or ""
    problems = []
    if not NAME_RE.fullmatch(name):
        problems.append(f"metadata.name: Invalid value: {name!r}")
    for key, value in (metadata.get("labels") or {}).items():
        if not LABEL_KEY_RE.fullmatch(key) or not isinstance(value, str) or not LABEL_VALUE_RE.fullmatch(value):
            problems.append(f"metadata.labels: Invalid value: {key}={value!r}")
    containers = (body.get("spec") or {}).get("containers") or []
    if not containers:
        problems.append("spec.containers: Required value")
    for index, container in enumerate(containers):
        if not container.get("name"):
            problems.append(f"spec.containers[{index}].name: Required value")
        if not container.get("image"):
            problems.append(f"spec.containers[{index}].image: Required value")
    if problems:
        message = f'Pod "{name}" is invalid: ' + ", ".join(problems)
        raise ApiError(422, "Invalid", message, {"name": name, "kind": "Pod"})
    body["kind"], body["apiVersion"] = "Pod", "v1"
    return body


# --- HTTP ------------------------------------------------------------------------------------------------------

POD_PATH = re.compile(r"/api/v1/namespaces/([^/]+)/pods(?:/([^/]+))?(/log)?")
ALL_PODS_PATH = "/api/v1/pods"


def _handler_for(kube: FakeKubernetes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read assertions, not access logs
            pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            kube.requests.append((method, url.path))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                self._send(400, status_object(400, "BadRequest", "the request body is not JSON"))
                return
            try:
                self._route(method, url.path, query, body)
            except ApiError as error:
                self._send(error.code, error.status)

        def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
            if method == "GET" and path in ("/api", "/api/"):
                address = "{}:{}".format(*self.server.server_address[:2])
                cidrs = [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]
                self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": cidrs})
                return
            if method == "GET" and path == "/api/v1":
                verbs = ["create", "delete", "get", "list", "watch"]
                pods = {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": verbs}
                self._send(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [pods]})
                return
            if method == "GET" and path == "/version":
                version = {"major": "1", "minor": "37", "gitVersion": "v1.37.0-plue-fake", "platform": "linux/amd64"}
                self._send(200, version)
                return
            match = POD_PATH.fullmatch(path)
            namespace: str | None
            if match:
                namespace, name, log = match.groups()
            elif path == ALL_PODS_PATH:
                namespace, name, log = None, None, None
            else:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            kube.verbs.append(_verb(method, name, log, query))
            if name is None:
                if method == "GET" and query.get("watch") in ("true", "1"):
                    self._watch(namespace, query)
                elif method == "GET":
                    self._send(200, kube.list(namespace, query.get("labelSelector", "")))
                elif method == "POST" and namespace is not None:
                    self._send(201, kube.create(namespace, body))
                else:
                    raise ApiError(405, "MethodNotAllowed", f"the server does not allow {method} on pods")
                return
            assert namespace is not None
            if method == "GET" and log:
                self._send_text(200, kube.log(namespace, name))
            elif method == "GET":
                self._send(200, kube.get(namespace, name))
            elif method == "DELETE":
                self._send(200, kube.delete(namespace, name, body if isinstance(body, dict) else {}))
            else:
                raise ApiError(405, "MethodNotAllowed", f"the server does not allow {method} on a pod")

        def _watch(self, namespace: str | None, query: dict[str, str]) -> None:
            selector = query.get("labelSelector", "")
            timeout = int(query.get("timeoutSeconds") or WATCH_DEFAULT_SECONDS)
            deadline = time.monotonic() + timeout
            if kube.expired_as_status:
                kube.watch_from(namespace, selector, query.get("resourceVersion"))  # raises 410 before the stream
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                try:
                    events, cursor = kube.watch_from(namespace, selector, query.get("resourceVersion"))
                    going = True
                    while True:
                        for event in events:
                            self._chunk({"type": event.type, "object": event.pod})
                        if not going:
                            break
                        events, cursor, going = kube.events_after(cursor, namespace, selector, deadline)
                except ApiError as error:  # as the real server: an ERROR event in a 200 stream
                    self._chunk({"type": "ERROR", "object": error.status})
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        def _chunk(self, data: dict[str, Any]) -> None:
            line = json.dumps(data).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        def _send(self, code: int, data: dict[str, Any]) -> None:
            payload = json.dumps(data).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _send_text(self, code: int, text: str) -> None:
            payload = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _verb(method: str, name: str | None, log: str | None, query: dict[str, str]) -> str:
    """The RBAC verb (and subresource) the real API server would authorize this pods request with."""
    if log:
        return "get pods/log"
    if method == "GET" and query.get("watch") in ("true", "1"):
        return "watch"
    if method == "GET":
        return "list" if name is None else "get"
    verbs = {"POST": "create", "DELETE": "delete" if name else "deletecollection", "PUT": "update", "PATCH": "patch"}
    return verbs.get(method, method.lower())


@contextlib.contextmanager
def fake_kubernetes(root: Path, **options: Any) -> Iterator[FakeKubernetes]:
    """A fake API server on a loopback port; on exit every pod process is killed and the server stopped."""
    kube = FakeKubernetes(root, **options)
    kube.start_serving()
    try:
        yield kube
    finally:
        kube.close()
