"""The server configuration: TOML file, environment overrides, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from plue.server.config import (
    ConfigError,
    PoolSettings,
    PoolSpec,
    RepositoryConfig,
    RunnerSettings,
    load_config,
)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plue-server.toml"
    path.write_text(text)
    return path


def problems_of(path: Path | None, environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ)
    return caught.value.problems


def test_environment_alone_is_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, {"PLUE_WEBHOOK_SECRET": "s"})
    assert config.webhook_secrets == (b"s",)
    assert config.data_dir == tmp_path.resolve() / ".plue-server"
    assert config.database_url is None
    assert config.store_url == f"sqlite:///{tmp_path.resolve() / '.plue-server' / 'plue.db'}"
    assert (config.workers, config.catch_up, config.host, config.port) == (2, "latest", "127.0.0.1", 8080)
    assert config.repositories == {}
    assert config.secrets == {}


def test_a_full_file_is_read_with_paths_relative_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    path = write_config(
        tmp_path,
        """
database_url = "postgresql://plue@db/plue"
data_dir = "state"
webhook_secret = ["new", "old"]
workers = 4
catch_up = "all"
host = "0.0.0.0"
port = 9000

[repositories."octo/app"]
url = "repos/app.git"
default_branch = "trunk"

[repositories."octo/web"]
url = "https://github.com/octo/web.git"

[secrets]
LITERAL = "value"
FROM_ENV = { env = "MY_KEY" }
""",
    )
    config = load_config(path, {"MY_KEY": "k3y"})
    assert config.database_url == "postgresql://plue@db/plue"
    assert config.store_url == "postgresql://plue@db/plue"
    assert config.data_dir == tmp_path.resolve() / "state"
    assert config.mirrors_dir == tmp_path.resolve() / "state" / "mirrors"
    assert config.webhook_secrets == (b"new", b"old")
    assert (config.workers, config.catch_up, config.host, config.port) == (4, "all", "0.0.0.0", 9000)
    assert config.repositories == {
        "octo/app": RepositoryConfig("octo/app", str(tmp_path.resolve() / "repos" / "app.git"), "trunk"),
        "octo/web": RepositoryConfig("octo/web", "https://github.com/octo/web.git", "main"),
    }
    assert config.secrets == {"LITERAL": "value", "FROM_ENV": "k3y"}
    assert "k3y" not in repr(config)  # run secrets never show in a repr


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'database_url = "sqlite:///a.db"\nwebhook_secret = "file"\nworkers = 1\n')
    environ = {
        "PLUE_DATABASE_URL": "sqlite:///b.db",
        "PLUE_WEBHOOK_SECRET": "one, two",
        "PLUE_DATA_DIR": str(tmp_path / "elsewhere"),
        "PLUE_WORKERS": "7",
    }
    config = load_config(path, environ)
    assert config.database_url == "sqlite:///b.db"
    assert config.webhook_secrets == (b"one", b"two")
    assert config.data_dir == tmp_path.resolve() / "elsewhere"
    assert config.workers == 7


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
workers = "two"
catch_up = "sometimes"
port = 70000
webhook_secret = 5
colour = "blue"

[repositories."not a name"]
url = "x"

[repositories."octo/app"]
default_branch = "bad..branch"
branch = "main"

[secrets]
"1BAD" = "x"
MISSING = { env = "NOT_SET_ANYWHERE" }
""",
    )
    problems = problems_of(path, {"PLUE_WORKERS": "many"})
    text = "\n".join(problems)
    for expected in (
        "workers must be a whole number",
        "PLUE_WORKERS must be a whole number from 0 to 256, not 'many'",
        "catch_up must be one of latest, none, all, not 'sometimes'",
        "port must be a whole number from 0 to 65535",
        "webhook_secret must be a non-empty string or a list of them",
        "unknown setting 'colour'",
        "'not a name'",
        "url is missing",
        "default_branch is not a valid branch name",
        "unknown setting 'branch'",
        "secrets.1BAD is not a valid secret name",
        "reads $NOT_SET_ANYWHERE, which is not set",
    ):
        assert expected in text, expected
    assert len(problems) == 12
    assert all("\n" not in problem for problem in problems)


def test_unreadable_files_are_one_clear_problem(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "missing.toml", {}) == [
        f"{tmp_path / 'missing.toml'}: no such file; give an existing TOML file with --config"
    ]
    [problem] = problems_of(write_config(tmp_path, "workers = \n"), {})
    assert problem.startswith(f"{tmp_path / 'plue-server.toml'}: not valid TOML:")
    assert str(ConfigError([problem])) == f"invalid server configuration: {problem}"


def test_empty_secrets_in_the_environment_are_refused(tmp_path: Path) -> None:
    assert problems_of(None, {"PLUE_WEBHOOK_SECRET": "a,,b"}) == [
        "PLUE_WEBHOOK_SECRET has an empty secret; give secrets separated by commas"
    ]


POD_TEMPLATE = """
apiVersion: v1
kind: Pod
metadata:
  labels: {team: ci}
spec:
  containers:
    - name: runner
      image: ghcr.io/example/plue:1
"""


def test_runner_and_pool_sections_are_read(tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "runner-pod.yaml").write_text(POD_TEMPLATE)
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\n")
    path = write_config(
        tmp_path,
        """
[runners]
heartbeat_seconds = 2
lost_after_seconds = 12.5
claim_wait_seconds = 0

[pool]
backend = "local"
server_url = "http://plue.internal:8080/"
interval_seconds = 0.5
runner_command = ["/opt/plue/bin/plue", "--quiet"]

[[pool.pools]]
name = "cpu"

[[pool.pools]]
name = "gpu-a100"
labels = ["linux", "gpu", "linux"]
min_idle = 1
max_runners = 8
idle_timeout_seconds = 60

[pool.kubernetes]
namespace = "plue-ci"
pod_template = "k8s/runner-pod.yaml"
kubeconfig = "kubeconfig"
api_url = "http://127.0.0.1:8001"
runtime_class = "gvisor"
""",
    )
    config = load_config(path, {})
    assert config.runners == RunnerSettings(heartbeat_seconds=2.0, lost_after_seconds=12.5, claim_wait_seconds=0.0)
    pool = config.pool
    assert (pool.backend, pool.server_url, pool.interval_seconds) == ("local", "http://plue.internal:8080", 0.5)
    assert pool.runner_command == ("/opt/plue/bin/plue", "--quiet")
    assert pool.pools == (
        PoolSpec("cpu", (), 0, 4, 300.0),
        PoolSpec("gpu-a100", ("gpu", "linux"), 1, 8, 60.0),
    )
    kube = pool.kubernetes
    assert kube.namespace == "plue-ci"
    assert kube.pod_template == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"team": "ci"}},
        "spec": {"containers": [{"name": "runner", "image": "ghcr.io/example/plue:1"}]},
    }
    assert kube.kubeconfig == tmp_path.resolve() / "kubeconfig"
    assert (kube.in_cluster, kube.api_url, kube.runtime_class) == (False, "http://127.0.0.1:8001", "gvisor")


def test_without_runner_and_pool_sections_the_defaults_hold(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "workers = 1\n"), {})
    assert config.runners == RunnerSettings()
    assert config.pool == PoolSettings()
    assert config.pool.pools == () and config.pool.backend == "local"


def test_every_runner_and_pool_problem_is_listed_at_once(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("spec: [unclosed\n")
    path = write_config(
        tmp_path,
        """
[runners]
heartbeat_seconds = 10
lost_after_seconds = 5
claim_wait_seconds = true
hearbeat = 1

[pool]
backend = "docker"
server_url = "plue.internal:8080"
interval_seconds = -1
runner_command = "plue"
size = 3

[[pool.pools]]
name = "GPU"
labels = ["ok", "bad label"]

[[pool.pools]]
name = "cpu"
min_idle = 5
max_runners = 2

[[pool.pools]]
name = "cpu"

[[pool.pools]]
labels = ["linux"]
idle_timeout = 30

[pool.kubernetes]
namespace = "Not_A_Namespace"
pod_template = "broken.yaml"
kubeconfig = "missing-kubeconfig"
in_cluster = "yes"
""",
    )
    problems = problems_of(path, {})
    text = "\n".join(problems)
    where = str(path)
    for expected in (
        f"{where}: runners: lost_after_seconds (5) must be longer than heartbeat_seconds (10)",
        f"{where}: runners: claim_wait_seconds must be a number from 0 to 600, not bool True",
        f"{where}: runners: unknown setting 'hearbeat' (known: claim_wait_seconds, heartbeat_seconds, "
        "lost_after_seconds)",
        f"{where}: pool: backend must be one of local, kubernetes, not 'docker'",
        f"{where}: pool: server_url must be an http:// or https:// URL, not 'plue.internal:8080'",
        f"{where}: pool: interval_seconds must be a number from 0.01 to 3600, not int -1",
        f"{where}: pool: runner_command must be a non-empty list of strings",
        f"{where}: pool: unknown setting 'size' (known: backend, interval_seconds, kubernetes, pools, "
        "runner_command, server_url)",
        f"{where}: pool.pools[1] (GPU): name must be 1 to 40 of a-z, 0-9 and -",
        f"{where}: pool.pools[1] (GPU): labels: 'bad label' is not a runner label",
        f"{where}: pool.pools[2] (cpu): min_idle (5) is more than max_runners (2)",
        f"{where}: pool.pools[4]: name is missing",
        f"{where}: pool.pools[4]: unknown setting 'idle_timeout' (known: idle_timeout_seconds, labels, "
        "max_runners, min_idle, name)",
        f"{where}: pool.kubernetes: namespace must be a Kubernetes namespace name",
        f"{where}: pool.kubernetes: pod_template {tmp_path.resolve() / 'broken.yaml'} is not valid YAML:",
        f"{where}: pool.kubernetes: kubeconfig names {tmp_path.resolve() / 'missing-kubeconfig'}, which is not a file",
        f"{where}: pool.kubernetes: in_cluster must be true or false, not str 'yes'",
    ):
        assert expected in text, expected
    # The third pool reuses a good name only after the second was refused: no duplicate reported for it.
    assert "used by more than one pool" not in text
    assert len(problems) == 17
    assert all("\n" not in problem for problem in problems)


def test_pool_names_are_unique(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[[pool.pools]]\nname = "cpu"\n\n[[pool.pools]]\nname = "cpu"\nmin_idle = 1\n')
    assert problems_of(path, {}) == [
        f"{path}: pool: pools name 'cpu' is used by more than one pool; give each pool its own name"
    ]


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("- a\n- b\n", "must hold one Pod manifest (a mapping), not list"),
        ("kind: Deployment\nspec: {}\n", "must be a Pod manifest, not kind str 'Deployment'"),
        ("kind: Pod\n", "has no spec mapping"),
        ("kind: Pod\nspec:\n  containers: []\n", "needs spec.containers, a non-empty list"),
        ("a: 1\n---\nb: 2\n", "is not valid YAML"),
    ],
)
def test_a_pod_template_that_is_not_a_pod_is_refused_at_load(tmp_path: Path, template: str, problem: str) -> None:
    (tmp_path / "pod.yaml").write_text(template)
    path = write_config(tmp_path, '[pool.kubernetes]\npod_template = "pod.yaml"\n')
    [found] = problems_of(path, {})
    assert found.startswith(f"{path}: pool.kubernetes: pod_template {tmp_path.resolve() / 'pod.yaml'} ")
    assert problem in found


def test_a_missing_pod_template_is_one_problem(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[pool.kubernetes]\npod_template = "nowhere.yaml"\n')
    assert problems_of(path, {}) == [
        f"{path}: pool.kubernetes: pod_template names {tmp_path.resolve() / 'nowhere.yaml'}, which does not exist"
    ]


def test_the_kubernetes_backend_refuses_a_template_that_weakens_runner_pods(tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text(POD_TEMPLATE + "      securityContext: {privileged: true}\n")
    text = (
        '[pool]\nbackend = "kubernetes"\n\n[[pool.pools]]\nname = "k"\n\n[pool.kubernetes]\npod_template = "pod.yaml"\n'
    )
    [problem] = problems_of(write_config(tmp_path, text), {})
    assert "pool.kubernetes: pod_template: runner pods are not privileged" in problem
    # Without a template at all, the backend cannot make pods.
    [problem] = problems_of(
        write_config(tmp_path, '[pool]\nbackend = "kubernetes"\n\n[[pool.pools]]\nname = "k"\n'), {}
    )
    assert "needs a pod template" in problem
    # A good template passes the backend's checks.
    (tmp_path / "pod.yaml").write_text(POD_TEMPLATE)
    assert load_config(write_config(tmp_path, text), {}).pool.kubernetes.pod_template is not None


def test_a_secret_can_be_limited_to_some_repositories(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
[repositories."octo/app"]
url = "https://example.com/octo/app.git"
[repositories."octo/docs"]
url = "https://example.com/octo/docs.git"

[secrets]
EVERYWHERE = "e"
DEPLOY = { env = "DEPLOY_KEY", repositories = ["octo/app"] }
DOCS = { value = "d", repositories = ["octo/docs"] }
""",
    )
    config = load_config(path, {"DEPLOY_KEY": "k"})
    assert config.secret_scopes == {"DEPLOY": ("octo/app",), "DOCS": ("octo/docs",)}
    assert config.secrets_for("octo/app") == {"EVERYWHERE": "e", "DEPLOY": "k"}
    assert config.secrets_for("octo/docs") == {"EVERYWHERE": "e", "DOCS": "d"}
    assert config.secrets_for(None) == {"EVERYWHERE": "e"}


def test_a_secret_scoped_to_an_unknown_repository_is_refused(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        '[secrets]\nX = { value = "v", repositories = ["octo/nope"] }\n'
        'Y = { value = "v", repositories = "octo/nope" }\n',
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    assert raised.value.problems == [
        f"{path}: secrets.X names repositories that are not configured: octo/nope",
        f"{path}: secrets.Y repositories must be a list of owner/name",
    ]


def test_plue_server_prints_every_problem_on_its_own_line(tmp_path: Path) -> None:
    """The CLI keeps a multi-line error's lines (escaping only what a terminal would act on)."""
    import os
    import subprocess
    import sys

    path = write_config(tmp_path, 'workers = "two"\ncatch_up = "sometimes"\n"bad\\u001b[31mkey" = 1\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith("PLUE_")}
    result = subprocess.run(
        [sys.executable, "-m", "plue", "server", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert lines[0] == "plue: error: invalid server configuration:"
    assert any(line.startswith("  - ") and "workers must be a whole number" in line for line in lines[1:])
    assert any(line.startswith("  - ") and "catch_up must be one of" in line for line in lines[1:])
    assert "\\x0a" not in result.stderr and "\x1b" not in result.stderr
    assert any("\\x1b[31m" in line for line in lines)  # the escape in the key, shown, not obeyed
