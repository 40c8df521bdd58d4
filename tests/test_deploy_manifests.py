"""deploy/kubernetes: every manifest validates against the Kubernetes OpenAPI schemas (kubernetes-validate, strict:
unknown fields refused), and what matters holds: the Role allows exactly what the backend calls, runner and
server pods meet the "restricted" Pod Security Standard with a read-only root filesystem and limits, the
NetworkPolicy isolates the pods the backend makes, and the server's plue.toml loads with the runner template.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kube_api import FakeKubernetes, fake_kubernetes

from plue.runners.backends import RunnerSpec
from plue.runners.kubernetes import KubernetesBackend, api_client_for, check_pod_template, runner_pod
from plue.server.config import load_config

DEPLOY = Path(__file__).parents[1] / "deploy" / "kubernetes"
NAMESPACE = "plue"
VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]  # the oldest release still common, and the newest
# Not applied by kustomize: an example to copy, the template (a ConfigMap's file), an optional cluster-wide class.
NOT_APPLIED = {
    "kustomization.yaml",
    "postgres-secret.example.yaml",
    "runner-pod-template.yaml",
    "runtimeclass-gvisor.yaml",
}
SAFE_VOLUMES = {"configMap", "downwardAPI", "emptyDir", "persistentVolumeClaim", "projected", "secret", "ephemeral"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def manifest(kind: str, name: str | None = None) -> dict[str, Any]:
    """The one applied manifest of `kind` (and `name`)."""
    found = [
        document
        for path in sorted(DEPLOY.glob("*.yaml"))
        if path.name not in NOT_APPLIED
        for document in documents(path)
        if document["kind"] == kind and name in (None, document["metadata"]["name"])
    ]
    assert len(found) == 1, f"{len(found)} {kind} manifests"
    return found[0]


def runner_template() -> dict[str, Any]:
    (template,) = documents(DEPLOY / "runner-pod-template.yaml")
    return template


def rendered_runner_pod() -> dict[str, Any]:
    spec = RunnerSpec("default-0a1b2c3d", "default", ("linux",), "http://plue-server.plue.svc:8080", "plue_token")
    return runner_pod(runner_template(), spec, namespace=NAMESPACE)


def server_toml() -> str:
    text: str = manifest("ConfigMap", "plue-config")["data"]["plue.toml"]
    return text


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (matchLabels and matchExpressions) against a pod's labels."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def restricted_problems(pod_spec: dict[str, Any]) -> list[str]:
    """Violations of the Pod Security Standard "restricted" (and of baseline, which it includes)."""
    problems = []
    pod_context = pod_spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(key):
            problems.append(key)
    for volume in pod_spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= SAFE_VOLUMES:
            problems.append(f"volume {volume['name']} is {kinds}")
    for container in [*pod_spec["containers"], *(pod_spec.get("initContainers") or [])]:
        context = container.get("securityContext") or {}
        name = container["name"]
        if not (context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))):
            problems.append(f"{name}: runAsNonRoot")
        if 0 in (context.get("runAsUser"), pod_context.get("runAsUser")):
            problems.append(f"{name}: runs as root")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation")
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []) or set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: capabilities")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile")
        if context.get("readOnlyRootFilesystem") is not True:  # not in "restricted", but required here
            problems.append(f"{name}: writable root filesystem")
        limits = (container.get("resources") or {}).get("limits") or {}
        if not {"cpu", "memory"} <= set(limits):
            problems.append(f"{name}: no cpu and memory limits")
    return problems


# --- schemas ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_strictly(version: str) -> None:
    paths = sorted(path for path in DEPLOY.glob("*.yaml") if path.name != "kustomization.yaml")
    assert {path.name for path in paths} >= {
        "namespace.yaml",
        "server-deployment.yaml",
        "server-service.yaml",
        "postgres-secret.example.yaml",
        "server-config.yaml",
        "runner-pod-template.yaml",
        "rbac.yaml",
        "networkpolicy.yaml",
        "runtimeclass-gvisor.yaml",
    }
    checked = 0
    for path in paths:
        for document in documents(path):
            kubernetes_validate.validate(document, version, strict=True)
            checked += 1
    assert checked >= 11
    # The pod the backend makes from the template is valid too (the backend's own fields included).
    kubernetes_validate.validate(rendered_runner_pod(), version, strict=True)


def test_the_validator_refuses_what_is_wrong() -> None:
    """The check has teeth: an unknown field and a wrong type are refused."""
    pod = rendered_runner_pod()
    pod["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="securityContxt"):
        kubernetes_validate.validate(pod, VERSIONS[-1], strict=True)
    service = manifest("Service")
    service["spec"]["ports"][0]["port"] = "eighty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, VERSIONS[-1], strict=True)


def test_the_kustomization_applies_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    applied = {path.name for path in DEPLOY.glob("*.yaml")} - NOT_APPLIED
    assert set(kustomization["resources"]) == applied
    assert kustomization["namespace"] == NAMESPACE
    (generator,) = kustomization["configMapGenerator"]
    assert generator["name"] == "plue-runner-template"
    assert generator["files"] == ["runner-pod-template.yaml"]
    for name in applied:
        for document in documents(DEPLOY / name):
            assert document["metadata"].get("namespace", NAMESPACE) == NAMESPACE or document["kind"] == "Namespace"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed")
def test_kustomize_builds_valid_manifests() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    rendered = [document for document in yaml.safe_load_all(built) if document]
    for document in rendered:
        kubernetes_validate.validate(document, VERSIONS[-1], strict=True)
    kinds = sorted(document["kind"] for document in rendered)
    expected = ["Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "ConfigMap", "Deployment"]
    assert kinds == sorted([*expected, "Service", "NetworkPolicy"])
    (generated,) = [d for d in rendered if d["metadata"]["name"] == "plue-runner-template"]
    assert yaml.safe_load(generated["data"]["runner-pod-template.yaml"]) == runner_template()


# --- RBAC -----------------------------------------------------------------------------------------------------


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubernetes]:
    with fake_kubernetes(tmp_path / "kube", auto_start=False) as fake:
        yield fake


def test_the_role_allows_exactly_what_the_backend_calls(kube: FakeKubernetes, tmp_path: Path) -> None:
    script = tmp_path / "runner.py"
    script.write_text("import sys; sys.exit(0)\n")
    template = runner_template()
    template["spec"]["containers"][0]["command"] = [sys.executable, str(script)]
    backend = KubernetesBackend(NAMESPACE, template, api_client_for(api_url=kube.url))
    spec = RunnerSpec("r1", "default", ("linux",), "http://plue-server:8080", "token")

    # Every call the backend has: create (and the adopting create), list, watch, the waits, delete.
    backend.create(spec)
    backend.create(spec)
    assert [runner.phase for runner in backend.list()] == ["pending"]
    for change in backend.watch(timeout=20):
        if change.runner.phase == "pending":
            kube.start("plue-runner-r1")
        if change.runner.phase == "exited":
            break
    assert backend.wait_for_phase("r1", ["exited"], timeout=20) is not None
    backend.delete("r1")
    backend.delete("r1")
    assert backend.wait_gone("r1", timeout=20)

    role = manifest("Role", "plue-pool")
    (rule,) = role["rules"]
    assert rule["apiGroups"] == [""] and rule["resources"] == ["pods"]
    assert "resourceNames" not in rule
    assert sorted(rule["verbs"]) == sorted(set(kube.verbs))


def test_the_role_is_bound_to_the_servers_account_only() -> None:
    binding = manifest("RoleBinding", "plue-pool")
    account = manifest("ServiceAccount", "plue-server")
    deployment = manifest("Deployment", "plue-server")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "plue-pool"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "plue-server", "namespace": NAMESPACE}]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert account["automountServiceAccountToken"] is False  # only the server's pod mounts it
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    kinds = {document["kind"] for path in DEPLOY.glob("*.yaml") for document in documents(path)}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}


# --- pods --------------------------------------------------------------------------------------------------------


def test_runner_pods_are_restricted_read_only_and_limited() -> None:
    template = runner_template()
    check_pod_template(template)  # the backend accepts it as it is
    assert restricted_problems(template["spec"]) == []
    pod = rendered_runner_pod()
    assert restricted_problems(pod["spec"]) == []
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["restartPolicy"] == "Never"
    (container,) = pod["spec"]["containers"]
    assert container["args"][:2] == ["runner", "--server"]
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert {"/work", "/tmp"} <= mounts  # writable scratch, the root filesystem being read-only
    # The template's own limits are kept, not replaced by the backend's defaults.
    assert container["resources"]["limits"] == template["spec"]["containers"][0]["resources"]["limits"]


def test_a_template_without_hardening_still_makes_restricted_pods() -> None:
    bare = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "runner", "image": "plue:0.1.0"}]}}
    spec = RunnerSpec("r1", "default", (), "http://plue-server:8080", "token")
    assert restricted_problems(runner_pod(bare, spec, namespace=NAMESPACE)["spec"]) == []
    assert restricted_problems(bare["spec"]) != []  # the check itself sees a bare pod as unrestricted


def test_the_server_pod_is_restricted_probed_and_writes_only_to_its_volumes(tmp_path: Path) -> None:
    deployment = manifest("Deployment", "plue-server")
    pod_spec = deployment["spec"]["template"]["spec"]
    assert restricted_problems(pod_spec) == []
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    (container,) = pod_spec["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
        assert container[probe]["httpGet"]["port"] in ("http", 8080)
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec["volumes"]}
    config = load_server_config(tmp_path)
    assert "emptyDir" in volumes[mounts[str(config.data_dir)]]  # the data dir is writable
    assert "emptyDir" in volumes[mounts["/tmp"]]
    # The config file and the runner template are both in the config volume, where plue.toml looks for them.
    assert container["command"][container["command"].index("--config") + 1] == "/etc/plue/plue.toml"
    sources = {source["configMap"]["name"] for source in volumes[mounts["/etc/plue"]]["projected"]["sources"]}
    assert sources == {"plue-config", "plue-runner-template"}
    assert 'pod_template = "/etc/plue/runner-pod-template.yaml"' in server_toml()
    # The secrets it reads are the ones the example Secret defines.
    (secret,) = documents(DEPLOY / "postgres-secret.example.yaml")
    refs = {
        (item["valueFrom"]["secretKeyRef"]["name"], item["valueFrom"]["secretKeyRef"]["key"])
        for item in container["env"]
        if "valueFrom" in item
    }
    assert refs == {(secret["metadata"]["name"], key) for key in secret["stringData"]}
    assert "PLUE_DATABASE_URL" in secret["stringData"]


# --- network ------------------------------------------------------------------------------------------------------


def test_the_network_policy_isolates_the_runner_pods_the_backend_makes(tmp_path: Path) -> None:
    policy = manifest("NetworkPolicy", "plue-runners")["spec"]
    runner_labels = rendered_runner_pod()["metadata"]["labels"]
    server_labels = manifest("Deployment", "plue-server")["spec"]["template"]["metadata"]["labels"]
    assert selects(policy["podSelector"], runner_labels)
    assert not selects(policy["podSelector"], server_labels)
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    assert policy.get("ingress", []) == []  # nothing connects to a runner
    to_server, to_dns = policy["egress"]
    assert len(policy["egress"]) == 2
    (peer,) = to_server["to"]
    assert set(peer) == {"podSelector"} and selects(peer["podSelector"], server_labels)
    assert not selects(peer["podSelector"], runner_labels)  # runners cannot reach each other
    # The port allowed is the one the Service forwards to on the server pods, and runners dial that Service.
    service = manifest("Service", "plue-server")
    (service_port,) = service["spec"]["ports"]
    (container,) = manifest("Deployment", "plue-server")["spec"]["template"]["spec"]["containers"]
    (http,) = [port for port in container["ports"] if port["name"] == service_port["targetPort"]]
    assert to_server["ports"] == [{"protocol": "TCP", "port": http["containerPort"]}]
    assert selects({"matchLabels": service["spec"]["selector"]}, server_labels)
    expected_url = f"http://{service['metadata']['name']}.{NAMESPACE}.svc.cluster.local:{service_port['port']}"
    assert load_server_config(tmp_path).pool.server_url == expected_url
    assert {(port["protocol"], port["port"]) for port in to_dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    (dns,) = to_dns["to"]
    assert dns["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}


# --- the server's configuration ----------------------------------------------------------------------------------


def load_server_config(directory: Path) -> Any:
    """plue.toml from the ConfigMap, loaded by the server's own loader (the template path pointed at the file)."""
    path = directory / "plue.toml"
    path.write_text(
        server_toml().replace("/etc/plue/runner-pod-template.yaml", str(DEPLOY / "runner-pod-template.yaml"))
    )
    return load_config(path, {"PLUE_DATABASE_URL": "postgresql://plue@db/plue", "PLUE_WEBHOOK_SECRET": "s"})


def test_the_server_config_loads_with_the_runner_template(tmp_path: Path) -> None:
    config = load_server_config(tmp_path)
    assert config.pool.backend == "kubernetes"
    assert config.pool.kubernetes.namespace == NAMESPACE
    assert config.pool.kubernetes.in_cluster is True
    assert config.pool.kubernetes.pod_template == runner_template()
    assert [pool.name for pool in config.pool.pools] == ["default"]
    assert config.workers == 0  # every run goes to a runner pod, none runs in the server


def test_the_gvisor_runtime_class_is_the_one_the_config_names() -> None:
    (runtime_class,) = documents(DEPLOY / "runtimeclass-gvisor.yaml")
    name = runtime_class["metadata"]["name"]
    assert f'# runtime_class = "{name}"' in server_toml()
    spec = RunnerSpec("r1", "default", (), "http://plue-server:8080", "token")
    pod = runner_pod(runner_template(), spec, namespace=NAMESPACE, runtime_class=name)
    assert pod["spec"]["runtimeClassName"] == name
    kubernetes_validate.validate(pod, VERSIONS[-1], strict=True)
