"""Pool runners as Kubernetes Pods, through the official `kubernetes` client (floor 5).

    KubernetesBackend   the pool's backend: one Pod per runner (create / list / delete), `runner` (one pod
                        now), `watch`, `wait_for_phase` / `wait_gone` to follow pod phases without polling
    runner_pod          the Pod manifest for one runner: the pod template + what the backend enforces (pure)
    check_pod_template  refuses, in one sentence, a template that would weaken the runner pods (config load)
    api_client_for      an `ApiClient` from a kubeconfig, the in-cluster service account, or a plain URL (tests)
    PodChange           one event seen by `watch`: ADDED / MODIFIED / DELETED and the runner it is about

Pods are named `plue-runner-<runner name>` and carry the labels `app.kubernetes.io/managed-by=plue`,
`plue.dev/pool=<pool>`, `plue.dev/runner=<name>`: after a controller restart `list` finds them by label and
they are adopted, never created twice (a create that meets an existing pod of that name is an adoption too).
The runner container (named `runner`, else the first) runs `<template command or plue> runner --server URL
--name N --pool P [--labels a,b] --work-dir /work <template args>`, with PLUE_TOKEN and PLUE_SERVER in its
environment.

Whatever the template says, runner pods run as non-root (UID 65532 unless the template picks another), with a
read-only root filesystem, no privilege escalation, every capability dropped, the RuntimeDefault seccomp
profile, no service-account token (runners never talk to Kubernetes), `restartPolicy: Never`, and resource
limits (defaults below for what the template leaves out); writable emptyDirs are mounted at /work and /tmp.
A template asking for the opposite (privileged, root, host namespaces or paths, ...) is refused, not quietly
rewritten: `check_pod_template` says what to remove. `runtime_class` (e.g. gVisor's `gvisor`) sets
`runtimeClassName`.

Every call has a bounded timeout; every failure is a `BackendError` with one sentence.
"""

from __future__ import annotations

import builtins
import copy
import dataclasses
import json
import logging
import math
import re
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import urllib3
from kubernetes import config as kube_config
from kubernetes import watch as kube_watch
from kubernetes.client import ApiClient, Configuration, CoreV1Api, V1DeleteOptions, V1Pod
from kubernetes.client.exceptions import ApiException

from plue.runners.backends import BackendError, BackendRunner, Phase, RunnerSpec

MANAGED_BY: Final = "app.kubernetes.io/managed-by"
POOL_LABEL: Final = "plue.dev/pool"
RUNNER_LABEL: Final = "plue.dev/runner"
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
LABELS_ANNOTATION: Final = "plue.dev/labels"  # the runner's labels (not all are valid label values)
SELECTOR: Final = f"{MANAGED_BY}=plue,{RUNNER_LABEL}"
POD_PREFIX: Final = "plue-runner-"
# Pod names become host names: a DNS label of at most 63 characters, prefix included.
RUNNER_NAME_RE: Final = re.compile(r"[a-z0-9]([-a-z0-9]{0,49}[a-z0-9])?\Z")
LABEL_VALUE_RE: Final = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?\Z")
WORK_DIR: Final = "/work"
NON_ROOT_UID: Final = 65532  # the conventional "nonroot" user of distroless images
DEFAULT_LIMITS: Final = {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "4Gi"}
DEFAULT_REQUESTS: Final = {"cpu": "100m", "memory": "256Mi"}
CONNECT_TIMEOUT: Final = 5.0
REQUEST_TIMEOUT: Final = 30.0
PHASES: Final[dict[str, Phase]] = {"Pending": "pending", "Running": "running"}  # anything else: exited

log = logging.getLogger(__name__)

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]


class PodTemplateInvalid(BackendError, ValueError):
    """A pod template the backend will not use; the message says why in one sentence."""


@dataclass(frozen=True)
class PodChange:
    """A runner pod appeared (ADDED), changed (MODIFIED: its phase, a deletion started) or is gone (DELETED)."""

    type: ChangeType
    runner: BackendRunner
    resource_version: str


# --- the pod manifest ---------------------------------------------------------------------------------------


def pod_name(runner_name: str) -> str:
    return POD_PREFIX + runner_name


def check_pod_template(template: Mapping[str, Any] | None) -> None:
    """Raise `PodTemplateInvalid` if `template` is not a usable runner Pod or asks for what the backend forbids.

    Besides the rules, a trial pod is made from it and read by the client's Pod model, so a field of the wrong
    type is found now (at config load) and not at the first scale-up."""
    _check_policy(template)
    assert template is not None
    trial = RunnerSpec(name="check", pool="check", labels=(), server_url="http://plue:8080", token="check")
    pod = runner_pod(template, trial, namespace="default")
    try:
        V1Pod.from_dict(pod)
    except ValueError as exc:
        raise PodTemplateInvalid(f"the pod template does not make a valid Pod: {_model_error(exc)}") from None


def _model_error(exc: ValueError) -> str:
    """`V1ContainerPort.containerPort: Input should be a valid integer` from a pydantic ValidationError."""
    lines = [line.strip() for line in str(exc).splitlines()]
    if len(lines) >= 3 and " for " in lines[0]:
        model = lines[0].rsplit(" for ", 1)[1]
        return f"{model}.{lines[1]}: {lines[2].split(' [', 1)[0]}"
    return lines[0] if lines else type(exc).__name__


def _check_policy(template: Mapping[str, Any] | None) -> None:
    if template is None:
        raise PodTemplateInvalid("the Kubernetes backend needs a pod template (a Pod manifest with an image)")
    if not isinstance(template, Mapping):
        raise PodTemplateInvalid("the pod template is not a mapping (expected a Pod manifest)")
    if template.get("kind", "Pod") != "Pod" or template.get("apiVersion", "v1") != "v1":
        raise PodTemplateInvalid(f"the pod template is a {template.get('kind')!s}, not a v1 Pod")
    spec = template.get("spec")
    if not isinstance(spec, Mapping):
        raise PodTemplateInvalid("the pod template has no spec")
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers or not all(isinstance(c, Mapping) for c in containers):
        raise PodTemplateInvalid("the pod template has no containers")
    if not _runner_container(containers).get("image"):
        raise PodTemplateInvalid("the pod template's runner container has no image")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            raise PodTemplateInvalid(f"runner pods may not share the node's namespaces: remove {key} from the template")
    if spec.get("automountServiceAccountToken") is True:
        raise PodTemplateInvalid(
            "runner pods get no service-account token: remove automountServiceAccountToken from the template"
        )
    if spec.get("restartPolicy", "Never") != "Never":
        raise PodTemplateInvalid("runner pods have restartPolicy Never (the pool replaces runners that exit)")
    volumes = spec.get("volumes") or []
    if not isinstance(volumes, list):
        raise PodTemplateInvalid("the pod template's volumes is not a list")
    for volume in volumes:
        if isinstance(volume, Mapping) and "hostPath" in volume:
            raise PodTemplateInvalid(
                f"runner pods may not mount node paths: remove the hostPath volume {volume.get('name')!s}"
            )
    _check_security_context(spec.get("securityContext"), "the pod")
    init_containers = spec.get("initContainers") or []
    if not isinstance(init_containers, list):
        raise PodTemplateInvalid("the pod template's initContainers is not a list")
    for container in [*containers, *init_containers]:
        if not isinstance(container, Mapping):
            raise PodTemplateInvalid("the pod template has a container that is not a mapping")
        where = f"container {container.get('name')!s}"
        context = container.get("securityContext")
        _check_security_context(context, where)
        if not isinstance(context, Mapping):
            continue
        if context.get("privileged") is True:
            raise PodTemplateInvalid(f"runner pods are not privileged: remove privileged from {where}")
        if context.get("allowPrivilegeEscalation") is True:
            raise PodTemplateInvalid(f"runner pods allow no privilege escalation: remove it from {where}")
        if context.get("readOnlyRootFilesystem") is False:
            raise PodTemplateInvalid(
                f"runner pods have a read-only root filesystem: remove readOnlyRootFilesystem from {where}"
            )
        if (context.get("capabilities") or {}).get("add"):
            raise PodTemplateInvalid(f"runner pods get no capabilities: remove capabilities.add from {where}")


def _check_security_context(context: Any, where: str) -> None:
    if context is None:
        return
    if not isinstance(context, Mapping):
        raise PodTemplateInvalid(f"the securityContext of {where} is not a mapping")
    if context.get("runAsUser") == 0 or context.get("runAsNonRoot") is False:
        raise PodTemplateInvalid(f"runner pods run as non-root: {where} asks for root")
    if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
        raise PodTemplateInvalid(f"runner pods keep a seccomp profile: {where} asks for Unconfined")


def runner_pod(
    template: Mapping[str, Any],
    spec: RunnerSpec,
    *,
    namespace: str,
    runtime_class: str | None = None,
    work_dir: str = WORK_DIR,
) -> dict[str, Any]:
    """The Pod for `spec`: a deep copy of `template` (checked first) with the name, labels, command and the
    security settings filled in. Raises `BackendError` for a runner name or pool no pod can carry."""
    _check_policy(template)
    if not RUNNER_NAME_RE.match(spec.name):
        raise BackendError(
            f"{spec.name!r} cannot name a runner pod (lowercase letters, digits and -, at most 51 characters)"
        )
    if not spec.pool or not LABEL_VALUE_RE.match(spec.pool):
        raise BackendError(f"{spec.pool!r} cannot be a pod label value (letters, digits, - _ ., at most 63)")
    try:
        return _render(template, spec, namespace, runtime_class, work_dir)
    except KeyError as exc:
        raise PodTemplateInvalid(f"the pod template misses a required field ({exc.args[0]})") from None
    except (AttributeError, TypeError) as exc:  # a field of the wrong shape
        raise PodTemplateInvalid(f"the pod template has a field of the wrong type ({exc})") from None


def _render(
    template: Mapping[str, Any], spec: RunnerSpec, namespace: str, runtime_class: str | None, work_dir: str
) -> dict[str, Any]:
    pod: dict[str, Any] = copy.deepcopy(dict(template))
    pod["apiVersion"], pod["kind"] = "v1", "Pod"
    metadata = _mapping(pod, "metadata")
    for key in ("generateName", "resourceVersion", "uid", "creationTimestamp", "ownerReferences"):
        metadata.pop(key, None)
    metadata["name"] = pod_name(spec.name)
    metadata["namespace"] = namespace
    metadata["labels"] = {
        **_mapping(metadata, "labels"),
        MANAGED_BY: "plue",
        COMPONENT_LABEL: "runner",
        POOL_LABEL: spec.pool,
        RUNNER_LABEL: spec.name,
    }
    metadata["annotations"] = {**_mapping(metadata, "annotations"), LABELS_ANNOTATION: ",".join(spec.labels)}
    pod.pop("status", None)

    body = _mapping(pod, "spec")
    body["restartPolicy"] = "Never"
    body["automountServiceAccountToken"] = False
    body.setdefault("enableServiceLinks", False)  # no other services' addresses in the runner's environment
    if runtime_class:
        body["runtimeClassName"] = runtime_class
    pod_context = _mapping(body, "securityContext")
    pod_context["runAsNonRoot"] = True
    pod_context.setdefault("runAsUser", NON_ROOT_UID)
    pod_context.setdefault("runAsGroup", pod_context["runAsUser"])
    pod_context.setdefault("fsGroup", pod_context["runAsGroup"])
    pod_context.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    for container in [*body["containers"], *(body.get("initContainers") or [])]:
        _harden(container)

    runner = _runner_container(body["containers"])
    _mount_scratch(body, runner, "plue-work", work_dir)
    _mount_scratch(body, runner, "plue-tmp", "/tmp")
    args = ["runner", "--server", spec.server_url, "--name", spec.name, "--pool", spec.pool]
    if spec.labels:
        args += ["--labels", ",".join(spec.labels)]
    args += ["--work-dir", work_dir]
    runner["command"] = [str(item) for item in _sequence(runner, "command")] or ["plue"]
    runner["args"] = args + [str(item) for item in _sequence(runner, "args")]  # the template's: more options
    ours = {"PLUE_SERVER": spec.server_url, "PLUE_TOKEN": spec.token, **dict(spec.env)}
    env = [item for item in _sequence(runner, "env") if item["name"] not in ours]
    if not any(item["name"] == "HOME" for item in env) and "HOME" not in ours:
        ours["HOME"] = "/tmp"  # the root filesystem is read-only; tools want a writable home
    runner["env"] = env + [{"name": name, "value": value} for name, value in sorted(ours.items())]
    return pod


def _mapping(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """`parent[key]`, made an empty mapping when missing or null; TypeError when it is something else."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = {}
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not a mapping")
    return value


def _sequence(parent: dict[str, Any], key: str) -> list[Any]:
    """`parent[key]`, made an empty list when missing or null; TypeError when it is something else."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = []
    if not isinstance(value, list):
        raise TypeError(f"{key} is not a list")
    return value


def _harden(container: dict[str, Any]) -> None:
    context = _mapping(container, "securityContext")
    context.update(runAsNonRoot=True, readOnlyRootFilesystem=True, allowPrivilegeEscalation=False, privileged=False)
    capabilities = _mapping(context, "capabilities")
    drop = [str(item) for item in _sequence(capabilities, "drop") if str(item) != "ALL"]
    capabilities["drop"] = ["ALL", *drop]
    resources = _mapping(container, "resources")
    limits = _mapping(resources, "limits")
    for key, value in DEFAULT_LIMITS.items():
        limits.setdefault(key, value)
    requests = _mapping(resources, "requests")
    for key, value in DEFAULT_REQUESTS.items():
        requests.setdefault(key, value)


def _mount_scratch(body: dict[str, Any], container: dict[str, Any], volume: str, path: str) -> None:
    """An emptyDir at `path` unless the container mounts something there already."""
    mounts = _sequence(container, "volumeMounts")
    if any(mount["mountPath"].rstrip("/") == path.rstrip("/") for mount in mounts):
        return
    volumes = _sequence(body, "volumes")
    if not any(item["name"] == volume for item in volumes):
        volumes.append({"name": volume, "emptyDir": {}})
    mounts.append({"name": volume, "mountPath": path})


def _runner_container(containers: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = next((c for c in containers if c.get("name") == "runner"), containers[0])
    return found


# --- reading pods back ----------------------------------------------------------------------------------------


def runner_of(pod: V1Pod) -> BackendRunner | None:
    """The runner a pod stands for; None for a pod without the runner labels."""
    metadata = pod.metadata
    labels = (metadata.labels if metadata else None) or {}
    name, pool = labels.get(RUNNER_LABEL), labels.get(POOL_LABEL)
    if metadata is None or not name or pool is None:
        return None
    status = pod.status
    phase_name = (status.phase if status else None) or "Pending"
    # A pod being deleted takes no more work, whatever its phase says.
    phase: Phase = "exited" if metadata.deletion_timestamp else PHASES.get(phase_name, "exited")
    created = metadata.creation_timestamp
    return BackendRunner(
        name=name,
        pool=pool,
        phase=phase,
        created_at=created.timestamp() if isinstance(created, datetime) else None,
        detail=_detail(pod, phase_name),
    )


def _detail(pod: V1Pod, phase_name: str) -> str:
    text = f"pod {pod.metadata.name if pod.metadata else '?'}: {phase_name}"
    if pod.metadata is not None and pod.metadata.deletion_timestamp:
        text += ", terminating"
    for status in (pod.status.container_statuses if pod.status else None) or []:
        state = status.state
        if state is not None and state.terminated is not None:
            terminated = state.terminated
            text += f", {status.name} exit code {terminated.exit_code}"
            if terminated.reason:
                text += f" ({terminated.reason})"
        elif state is not None and state.waiting is not None and state.waiting.reason:
            text += f", {status.name} {state.waiting.reason}"
    return text


def _refusal(exc: ApiException) -> str:
    """`403 Forbidden: pods is forbidden: ...` from an ApiException, the Status message when there is one."""
    message = ""
    if exc.body:
        try:
            data = json.loads(exc.body)
            if isinstance(data, dict):
                message = str(data.get("message") or "")
        except ValueError:
            message = str(exc.body)[:200]
    head = f"{exc.status} {exc.reason or ''}".strip()
    return f"{head}: {message}" if message else head


def _network_reason(exc: Exception) -> str:
    """`Connection refused`, `timed out`, ... rather than urllib3's pool and retry wrapping."""
    inner: Any = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason else exc
    if isinstance(exc, ApiException):  # the client wraps TLS and protocol errors as status 0
        return str(exc.reason or "no answer")[:200]
    errno_text = re.search(r"\[Errno -?\d+\] ([^\"')\]]+)", str(inner))
    if errno_text:
        return errno_text[1].strip()
    if isinstance(inner, urllib3.exceptions.TimeoutError | TimeoutError):  # (a refused connection is one too)
        return "timed out"
    return f"{type(inner).__name__}: {inner}"[:200]


# --- the backend ----------------------------------------------------------------------------------------------


def api_client_for(
    *, api_url: str | None = None, kubeconfig: Path | None = None, in_cluster: bool = False
) -> ApiClient:
    """An ApiClient: `api_url` as is, without credentials (tests, `kubectl proxy`); else the pod's service
    account (`in_cluster`); else `kubeconfig` (None: $KUBECONFIG or ~/.kube/config)."""
    configuration = Configuration()
    try:
        if api_url:
            configuration.host = api_url.rstrip("/")
        elif in_cluster:
            kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig.expanduser()) if kubeconfig else None, client_configuration=configuration
            )
    except (kube_config.ConfigException, OSError, ValueError) as exc:
        where = "in-cluster service account" if in_cluster else f"kubeconfig {kubeconfig or '(default)'}"
        raise BackendError(f"cannot configure the Kubernetes client from the {where}: {exc}") from None
    return ApiClient(configuration)


class KubernetesBackend:
    """Runners as Pods in `namespace`, made from `pod_template` (a parsed Pod manifest)."""

    name = "kubernetes"

    def __init__(
        self,
        namespace: str,
        pod_template: Mapping[str, Any] | None,
        api_client: ApiClient,
        *,
        runtime_class: str | None = None,
        work_dir: str = WORK_DIR,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        check_pod_template(pod_template)
        assert pod_template is not None
        self.namespace = namespace
        self.pod_template: Mapping[str, Any] = copy.deepcopy(dict(pod_template))
        self.runtime_class = runtime_class
        self.work_dir = work_dir
        self.api = CoreV1Api(api_client)
        self._timeout = (CONNECT_TIMEOUT, request_timeout)

    @property
    def url(self) -> str:
        return str(self.api.api_client.configuration.host)

    def _failure(self, exc: Exception, doing: str) -> BackendError:
        """One sentence for a failed call: refused (with the API's own message), or not reached (and why)."""
        if isinstance(exc, ApiException) and exc.status:
            return BackendError(f"Kubernetes refused to {doing}: {_refusal(exc)}")
        return BackendError(f"cannot reach the Kubernetes API at {self.url} to {doing}: {_network_reason(exc)}")

    def pod(self, spec: RunnerSpec) -> dict[str, Any]:
        return runner_pod(
            self.pod_template, spec, namespace=self.namespace, runtime_class=self.runtime_class, work_dir=self.work_dir
        )

    def create(self, spec: RunnerSpec) -> None:
        manifest = self.pod(spec)
        name = manifest["metadata"]["name"]
        try:
            body = V1Pod.from_dict(manifest)
        except ValueError as exc:  # the model refused the manifest (a template field of the wrong type)
            raise PodTemplateInvalid(f"the pod template does not make a valid Pod: {_model_error(exc)}") from None
        if body is None:
            raise BackendError("the pod template does not make a valid Pod")
        try:
            self.api.create_namespaced_pod(self.namespace, body, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 409:  # there already: a pod a previous controller made, adopted as it is
                log.info("runner pod %s exists already: adopted", name)
                return
            raise self._failure(exc, f"create pod {name}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failure(exc, f"create pod {name}") from None
        log.info("runner pod %s created in %s", name, self.namespace)

    def list(self) -> list[BackendRunner]:
        return [runner for runner in (runner_of(pod) for pod in self._list_pods()[0]) if runner is not None]

    def _list_pods(self) -> tuple[builtins.list[V1Pod], str]:
        try:
            answer = self.api.list_namespaced_pod(
                self.namespace, label_selector=SELECTOR, _request_timeout=self._timeout
            )
        except ApiException as exc:
            raise self._failure(exc, "list the runner pods") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failure(exc, "list the runner pods") from None
        version = (answer.metadata.resource_version if answer.metadata else None) or ""
        return builtins.list(answer.items), version

    def delete(self, name: str) -> None:
        """Delete the runner's pod (its runner gets SIGTERM and the pod's grace period); a missing pod is fine."""
        target = pod_name(name)
        try:
            self.api.delete_namespaced_pod(
                target, self.namespace, body=V1DeleteOptions(), _request_timeout=self._timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return
            raise self._failure(exc, f"delete pod {target}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failure(exc, f"delete pod {target}") from None
        log.info("runner pod %s deleted", target)

    def close(self) -> None:
        self.api.api_client.close()

    # --- following phases ---

    def watch(self, timeout: float, resource_version: str | None = None) -> Iterator[PodChange]:
        """Runner pod changes for up to `timeout` seconds (stop early by leaving the loop).

        Without `resource_version` it lists first and reports every current pod as ADDED, then follows from
        the list's version. When the server has forgotten the version it follows (410 Gone) it lists again and
        reports the difference: pods gone meanwhile as DELETED, the others as MODIFIED or ADDED. So a consumer
        that applies the changes in order ends up with the real state. A DELETED runner's phase is "exited".
        """
        deadline = time.monotonic() + timeout
        known: dict[str, BackendRunner] = {}
        if resource_version is None:
            known, resource_version = self._snapshot()
            for runner in known.values():
                yield PodChange("ADDED", runner, resource_version)
        yield from self._follow(resource_version, known, deadline)

    def _snapshot(self) -> tuple[dict[str, BackendRunner], str]:
        pods, version = self._list_pods()
        runners = (runner_of(pod) for pod in pods)
        return {runner.name: runner for runner in runners if runner is not None}, version

    def _follow(self, version: str, known: dict[str, BackendRunner], deadline: float) -> Iterator[PodChange]:
        """Changes after `version` until `deadline`; `known` (the consumer's view) is kept up to date."""
        while (left := deadline - time.monotonic()) > 0:
            try:
                for change in self._watch_once(version, left):
                    version = change.resource_version
                    if change.type == "DELETED":
                        known.pop(change.runner.name, None)
                    else:
                        known[change.runner.name] = change.runner
                    yield change
            except _Expired:
                current, version = self._snapshot()
                for name in sorted(set(known) - set(current)):
                    gone = dataclasses.replace(known.pop(name), phase="exited")
                    yield PodChange("DELETED", gone, version)
                for name, runner in sorted(current.items()):
                    change_type: ChangeType = "MODIFIED" if name in known else "ADDED"
                    known[name] = runner
                    yield PodChange(change_type, runner, version)

    def _watch_once(self, version: str, left: float) -> Iterator[PodChange]:
        """One watch request from `version`, ended by the server after at most `left` seconds."""
        watcher = kube_watch.Watch()  # type: ignore[no-untyped-call]
        seconds = max(1, math.ceil(left))
        try:
            stream = watcher.stream(  # type: ignore[no-untyped-call]
                self.api.list_namespaced_pod,
                self.namespace,
                label_selector=SELECTOR,
                resource_version=version,
                timeout_seconds=seconds,
                _request_timeout=(CONNECT_TIMEOUT, seconds + CONNECT_TIMEOUT),
            )
            for event in stream:
                kind = event.get("type")
                pod = event.get("object")
                if kind not in ("ADDED", "MODIFIED", "DELETED") or not isinstance(pod, V1Pod):
                    continue
                runner = runner_of(pod)
                if runner is None:
                    continue
                if kind == "DELETED":
                    runner = dataclasses.replace(runner, phase="exited")
                yield PodChange(kind, runner, str(pod.metadata.resource_version if pod.metadata else version))
        except ApiException as exc:
            if exc.status == 410:
                raise _Expired from None
            raise self._failure(exc, "watch the runner pods") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failure(exc, "watch the runner pods") from None
        finally:
            watcher.stop()  # type: ignore[no-untyped-call]

    def runner(self, name: str) -> tuple[BackendRunner | None, str]:
        """The runner's pod now (None if there is none) and the resource version to watch it from."""
        target = pod_name(name)
        try:
            pod = self.api.read_namespaced_pod(target, self.namespace, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 404:
                return None, ""
            raise self._failure(exc, f"read pod {target}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failure(exc, f"read pod {target}") from None
        return runner_of(pod), str(pod.metadata.resource_version if pod.metadata else "")

    def wait_for_phase(self, name: str, phases: Collection[Phase], timeout: float) -> BackendRunner | None:
        """The runner once its pod is in one of `phases` (a pod deleted meanwhile is "exited"); None when it
        does not get there within `timeout` or has no pod to begin with."""
        runner, version = self.runner(name)
        if runner is None or runner.phase in phases:
            return runner
        for change in self._follow(version, {name: runner}, time.monotonic() + timeout):
            if change.runner.name == name and change.runner.phase in phases:
                return change.runner
            if change.runner.name == name and change.type == "DELETED":
                return None
        return None

    def wait_gone(self, name: str, timeout: float) -> bool:
        """Whether the runner's pod is gone within `timeout` (after `delete`, its process has its grace period)."""
        runner, version = self.runner(name)
        if runner is None:
            return True
        for change in self._follow(version, {name: runner}, time.monotonic() + timeout):
            if change.type == "DELETED" and change.runner.name == name:
                return True
        return False


class _Expired(Exception):
    """The watched resource version is too old (410 Gone): list again."""
