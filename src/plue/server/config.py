"""The server's configuration: a TOML file, then environment variables over it.

    database_url = "postgresql://plue@db/plue"     # default: SQLite at <data_dir>/plue.db
    data_dir = "/var/lib/plue"                       # default: ./.plue-server
    webhook_secret = ["new", "old"]                  # a string, or several while rotating
    workers = 2
    catch_up = "latest"                              # latest | none | all
    host = "127.0.0.1"
    port = 8080

    [repositories."octo/app"]
    url = "https://github.com/octo/app.git"          # or a local path / file:// URL
    default_branch = "main"

    [secrets]
    ANTHROPIC_API_KEY = { env = "ANTHROPIC_API_KEY" } # or a literal string
    DEPLOY_KEY = { env = "DEPLOY_KEY", repositories = ["octo/app"] }  # only runs of these repositories

    [runners]                                        # how `plue runner` agents are treated
    heartbeat_seconds = 5                            # how often runners report
    lost_after_seconds = 30                          # silent this long: lost, its run retried
    claim_wait_seconds = 30                          # how long a claim is held when nothing is queued

    [pool]                                           # the warm pool: no [[pool.pools]], no controller
    backend = "local"                                # local | kubernetes
    server_url = "http://plue.internal:8080"         # the URL runners dial; default http://{host}:{port}
    interval_seconds = 2                             # how often the controller looks
    runner_command = ["/opt/plue/bin/plue"]          # local backend: argv before `runner ...`

    [[pool.pools]]
    name = "gpu"                                     # unique, a-z 0-9 and -, up to 40 characters
    labels = ["linux", "gpu"]                        # what its runners offer; runs needing a subset go here
    min_idle = 1                                     # kept idle and registered
    max_runners = 4                                  # never more than this, busy or not
    idle_timeout_seconds = 300                       # idle longer (beyond min_idle): retired

    [pool.kubernetes]                                # backend = "kubernetes"
    namespace = "plue"
    pod_template = "runner-pod.yaml"                 # a Pod manifest, read and parsed at load
    kubeconfig = "~/.kube/config"                    # default: the client's default; or in_cluster = true
    in_cluster = false
    api_url = "http://127.0.0.1:8001"                # an API server used without credentials (kubectl proxy)
    runtime_class = "gvisor"                         # runtimeClassName of the runner pods (default: none)

`PLUE_DATABASE_URL`, `PLUE_WEBHOOK_SECRET` (comma-separated), `PLUE_DATA_DIR` and
`PLUE_WORKERS` override the file, so ``PLUE_WEBHOOK_SECRET=s plue server`` needs no
file at all. Relative paths in the file are relative to the file's directory; from the
environment or the defaults, to the working directory. Every problem is collected
before anything is refused, so one `ConfigError` lists them all.

Pools: `min_idle` may not exceed `max_runners`; pool names are unique. The pod template
is read and parsed when the configuration is loaded, so a broken template stops the
server at start rather than at its first scale-up. `lost_after_seconds` must be longer
than `heartbeat_seconds`: else every runner would be lost between two heartbeats.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from plue.events.payloads import REPOSITORY_RE, ref_problem
from plue.plan.arguments import PlanError, runner_labels

DEFAULT_DATA_DIR: Final = Path(".plue-server")
DATABASE_NAME: Final = "plue.db"
CATCH_UP_POLICIES: Final = ("latest", "none", "all")
MAX_WORKERS: Final = 256
SECRET_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

TOP_LEVEL_KEYS: Final = frozenset(
    {
        "database_url",
        "data_dir",
        "webhook_secret",
        "workers",
        "catch_up",
        "host",
        "port",
        "repositories",
        "secrets",
        "runners",
        "pool",
    }
)
REPOSITORY_KEYS: Final = frozenset({"url", "default_branch"})
RUNNERS_KEYS: Final = frozenset({"heartbeat_seconds", "lost_after_seconds", "claim_wait_seconds"})
POOL_KEYS: Final = frozenset({"backend", "server_url", "interval_seconds", "runner_command", "pools", "kubernetes"})
POOL_SPEC_KEYS: Final = frozenset({"name", "labels", "min_idle", "max_runners", "idle_timeout_seconds"})
KUBERNETES_KEYS: Final = frozenset(
    {"namespace", "pod_template", "kubeconfig", "in_cluster", "api_url", "runtime_class"}
)
POOL_BACKENDS: Final = ("local", "kubernetes")
# A pool's name goes into runner names, token names and Kubernetes labels and pod names: keep it DNS-safe.
POOL_NAME_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?\Z")
NAMESPACE_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
MAX_POOL_RUNNERS: Final = 1000
MAX_POOLS: Final = 100
MAX_SECONDS: Final = 30 * 24 * 3600.0
MAX_POD_TEMPLATE_BYTES: Final = 1 << 20


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:
            message = f"invalid server configuration: {problems[0]}"
        else:
            message = "invalid server configuration:\n" + "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(message)


@dataclass(frozen=True)
class RepositoryConfig:
    name: str  # "owner/name", as in payload["repository"]["full_name"]
    url: str  # git URL or local path (file:// or a directory); cloned as a bare mirror
    default_branch: str = "main"


@dataclass(frozen=True)
class RunnerSettings:
    """How the server treats `plue runner` agents (`[runners]`)."""

    heartbeat_seconds: float = 5.0  # how often runners report
    lost_after_seconds: float = 30.0  # a runner silent this long is lost; its run is retried
    claim_wait_seconds: float = 30.0  # how long a claim request is held when nothing is queued


@dataclass(frozen=True)
class PoolSpec:
    """One pool of the warm pool (`[[pool.pools]]`): runners with `labels`, kept between the bounds."""

    name: str
    labels: tuple[str, ...] = ()
    min_idle: int = 0
    max_runners: int = 4
    idle_timeout_seconds: float = 300.0


@dataclass(frozen=True)
class KubernetesSettings:
    """The Kubernetes backend (`[pool.kubernetes]`)."""

    namespace: str = "default"
    pod_template: dict[str, Any] | None = None  # a Pod manifest (parsed YAML) the backend fills in
    kubeconfig: Path | None = None  # None and not in_cluster: the default kubeconfig
    in_cluster: bool = False
    api_url: str | None = None  # an API server URL used without credentials (tests)
    runtime_class: str | None = None  # runtimeClassName of runner pods, e.g. "gvisor"


@dataclass(frozen=True)
class PoolSettings:
    """The warm pool (`[pool]`): no `pools`, no controller."""

    backend: str = "local"  # local | kubernetes
    server_url: str | None = None  # the URL runners dial; None: http://{host}:{port}
    interval_seconds: float = 2.0
    pools: tuple[PoolSpec, ...] = ()
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    runner_command: tuple[str, ...] | None = None  # local backend argv prefix; None: (sys.executable, "-m", "plue")


@dataclass(frozen=True)
class ServerConfig:
    database_url: str | None  # None: SQLite at <data_dir>/plue.db
    data_dir: Path  # absolute; mirrors in data_dir/mirrors, workspaces in data_dir/work
    webhook_secrets: tuple[bytes, ...]
    repositories: dict[str, RepositoryConfig]
    workers: int = 2
    catch_up: str = "latest"  # "latest" (run the most recent missed tick) | "none" | "all"
    host: str = "127.0.0.1"
    port: int = 8080
    secrets: dict[str, str] = field(default_factory=dict, repr=False)  # run secrets given to steps
    # Secrets limited to some repositories' runs (name -> "owner/name"s); the others go to every run.
    secret_scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    runners: RunnerSettings = field(default_factory=RunnerSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)

    @property
    def store_url(self) -> str:
        """The URL to open the store with: `database_url`, else the SQLite file in `data_dir`."""
        return self.database_url or f"sqlite:///{self.data_dir / DATABASE_NAME}"

    def secrets_for(self, repository: str | None) -> dict[str, str]:
        """The secrets a run of `repository` may see (None: a run without a repository)."""
        return {
            name: value
            for name, value in self.secrets.items()
            if name not in self.secret_scopes or repository in self.secret_scopes[name]
        }

    @property
    def mirrors_dir(self) -> Path:
        return self.data_dir / "mirrors"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"


def load_config(path: Path | None, environ: Mapping[str, str]) -> ServerConfig:
    """Read `path` (None: no file) and the `PLUE_*` variables of `environ`; raises ConfigError listing every problem."""
    problems: list[str] = []
    data: dict[str, Any] = {}
    base = Path.cwd()
    where = "the configuration"
    if path is not None:
        where = str(path)
        base = path.resolve().parent
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError([f"{path}: no such file; give an existing TOML file with --config"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{path}: cannot be read: {exc}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    reader = _Reader(where, data, problems)

    for key in sorted(set(data) - TOP_LEVEL_KEYS):
        problems.append(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(TOP_LEVEL_KEYS))})")

    database_url = reader.text("database_url")
    if "PLUE_DATABASE_URL" in environ:
        database_url = environ["PLUE_DATABASE_URL"] or None

    data_dir_text = reader.text("data_dir")
    data_dir = base / data_dir_text if data_dir_text else Path.cwd() / DEFAULT_DATA_DIR
    if environ.get("PLUE_DATA_DIR"):
        data_dir = Path.cwd() / environ["PLUE_DATA_DIR"]

    secrets_given = _webhook_secrets(reader, environ)

    workers = reader.integer("workers", 2, 0, MAX_WORKERS)
    if "PLUE_WORKERS" in environ:
        workers = _env_integer(environ, "PLUE_WORKERS", 0, MAX_WORKERS, problems, workers)

    catch_up = reader.text("catch_up") or "latest"
    if catch_up not in CATCH_UP_POLICIES:
        problems.append(f"{where}: catch_up must be one of {', '.join(CATCH_UP_POLICIES)}, not {catch_up!r}")

    host = reader.text("host") or "127.0.0.1"
    port = reader.integer("port", 8080, 0, 65535)

    repositories = _repositories(reader, base)
    secrets, secret_scopes = _run_secrets(reader, environ, repositories)
    runners = _runner_settings(reader)
    pool = _pool_settings(reader, base)

    if problems:
        raise ConfigError(problems)
    return ServerConfig(
        database_url=database_url,
        data_dir=data_dir.resolve(),
        webhook_secrets=secrets_given,
        repositories=repositories,
        workers=workers,
        catch_up=catch_up,
        host=host,
        port=port,
        secrets=secrets,
        secret_scopes=secret_scopes,
        runners=runners,
        pool=pool,
    )


class _Reader:
    """Typed reads from one TOML table that note a problem (and give a default) on a wrong type."""

    def __init__(self, where: str, table: Mapping[str, Any], problems: list[str], origin: str | None = None) -> None:
        self.where = where
        self.table = table
        self.problems = problems
        self.origin = origin  # for a sub-table: the file's `where`; its own is "file: pool.kubernetes"

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{self.where}: {key} {message}")

    def text(self, key: str) -> str | None:
        value = self.table.get(key)
        if value is None:
            return None
        if type(value) is not str or not value:
            self.fail(key, f"must be a non-empty string, not {_shown(value)}")
            return None
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.table.get(key, default)
        if type(value) is not int or not low <= value <= high:
            self.fail(key, f"must be a whole number from {low} to {high}, not {_shown(value)}")
            return default
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        """Seconds and the like: a whole or decimal number within the bounds."""
        value = self.table.get(key, default)
        if type(value) not in (int, float) or not low <= value <= high:
            self.fail(key, f"must be a number from {low:g} to {high:g}, not {_shown(value)}")
            return default
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if type(value) is not bool:
            self.fail(key, f"must be true or false, not {_shown(value)}")
            return default
        return value

    def url(self, key: str) -> str | None:
        value = self.text(key)
        if value is not None and not re.match(r"https?://[^/\s]+", value):
            self.fail(key, f"must be an http:// or https:// URL, not {value!r}")
            return None
        return value.rstrip("/") if value is not None else None

    def path(self, key: str, base: Path) -> Path | None:
        """A path as given: `~` expanded, a relative one made absolute against `base`."""
        value = self.text(key)
        return None if value is None else (base / Path(value).expanduser()).resolve()

    def table_of(self, key: str) -> dict[str, Any]:
        value = self.table.get(key, {})
        if type(value) is not dict:
            self.fail(key, f"must be a table, not {_shown(value)}")
            return {}
        return value

    def sub(self, key: str) -> _Reader:
        """A reader of the table at `key` (none given: an empty one), named `pool.kubernetes` in problems."""
        where = f"{self.where}.{key}" if self.origin else f"{self.where}: {key}"
        return _Reader(where, self.table_of(key), self.problems, self.origin or self.where)

    def refuse_unknown(self, known: Collection[str]) -> None:
        for key in sorted(set(self.table) - set(known)):
            self.problems.append(f"{self.where}: unknown setting {key!r} (known: {', '.join(sorted(known))})")


def _webhook_secrets(reader: _Reader, environ: Mapping[str, str]) -> tuple[bytes, ...]:
    if "PLUE_WEBHOOK_SECRET" in environ:
        texts = [part.strip() for part in environ["PLUE_WEBHOOK_SECRET"].split(",")]
        if not all(texts):
            reader.problems.append("PLUE_WEBHOOK_SECRET has an empty secret; give secrets separated by commas")
        return tuple(text.encode() for text in texts if text)
    value = reader.table.get("webhook_secret")
    if value is None:
        return ()
    values = [value] if type(value) is str else value
    if type(values) is not list or not values or not all(type(item) is str and item for item in values):
        reader.fail("webhook_secret", f"must be a non-empty string or a list of them, not {_shown(value)}")
        return ()
    return tuple(item.encode() for item in values)


def _env_integer(environ: Mapping[str, str], name: str, low: int, high: int, problems: list[str], default: int) -> int:
    text = environ[name].strip()
    if not text.isdigit() or not low <= int(text) <= high:
        problems.append(f"{name} must be a whole number from {low} to {high}, not {environ[name]!r}")
        return default
    return int(text)


def _repositories(reader: _Reader, base: Path) -> dict[str, RepositoryConfig]:
    repositories: dict[str, RepositoryConfig] = {}
    for name, entry in reader.table_of("repositories").items():
        where = f"repositories.{name!r}"
        if not REPOSITORY_RE.match(name):
            reader.fail(where, "is not a repository name of the form owner/name")
            continue
        if type(entry) is not dict:
            reader.fail(where, f"must be a table with url and default_branch, not {_shown(entry)}")
            continue
        sub = _Reader(f"{reader.where}: {where}", entry, reader.problems)
        for key in sorted(set(entry) - REPOSITORY_KEYS):
            sub.problems.append(f"{sub.where}: unknown setting {key!r} (known: url, default_branch)")
        url = sub.text("url")
        if url is None and "url" not in entry:
            sub.problems.append(f"{sub.where}: url is missing; give the git URL or local path to clone")
        branch = sub.text("default_branch") or "main"
        problem = ref_problem("refs/heads/" + branch)
        if problem:
            sub.fail("default_branch", f"is not a valid branch name ({problem}): {branch!r}")
        if url is not None:
            repositories[name] = RepositoryConfig(name, _repository_url(url, base), branch)
    return repositories


def _repository_url(url: str, base: Path) -> str:
    """A URL as given; a relative local path made absolute against the configuration file's directory."""
    if "://" in url or re.match(r"[\w.-]+@[\w.-]+:", url) or Path(url).is_absolute():
        return url
    return str((base / url).resolve())


def _run_secrets(
    reader: _Reader, environ: Mapping[str, str], repositories: Mapping[str, RepositoryConfig]
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """The run secrets, and the repositories each scoped one is limited to."""
    secrets: dict[str, str] = {}
    scopes: dict[str, tuple[str, ...]] = {}
    for name, value in reader.table_of("secrets").items():
        where = f"secrets.{name}"
        if not SECRET_NAME_RE.match(name):
            reader.fail(where, "is not a valid secret name (letters, digits and _, not starting with a digit)")
            continue
        fail = functools.partial(reader.fail, where)
        if type(value) is dict and "repositories" in value:
            scope = value["repositories"]
            value = {key: item for key, item in value.items() if key != "repositories"}
            if type(scope) is not list or not all(type(item) is str for item in scope):
                fail("repositories must be a list of owner/name")
                continue
            unknown = [item for item in scope if item not in repositories]
            if unknown:
                fail(f"names repositories that are not configured: {', '.join(unknown)}")
                continue
            scopes[name] = tuple(scope)
            if set(value) == {"value"}:
                value = value["value"]
        resolved = _secret_value(value, environ, fail)
        if resolved is not None:
            secrets[name] = resolved
    return secrets, scopes


def _secret_value(value: object, environ: Mapping[str, str], fail: Callable[[str], None]) -> str | None:
    if type(value) is str:
        return value
    if type(value) is dict and set(value) == {"env"} and type(value["env"]) is str:
        variable = value["env"]
        if variable not in environ:
            fail(f"reads ${variable}, which is not set; export it or give the value")
            return None
        return environ[variable]
    fail('must be a string, {env = "VARIABLE"}, or either with repositories = ["owner/name", ...]')
    return None


def _runner_settings(reader: _Reader) -> RunnerSettings:
    if "runners" not in reader.table:
        return RunnerSettings()
    sub = reader.sub("runners")
    sub.refuse_unknown(RUNNERS_KEYS)
    defaults = RunnerSettings()
    heartbeat = sub.number("heartbeat_seconds", defaults.heartbeat_seconds, 0.01, 3600.0)
    lost_after = sub.number("lost_after_seconds", defaults.lost_after_seconds, 0.01, MAX_SECONDS)
    claim_wait = sub.number("claim_wait_seconds", defaults.claim_wait_seconds, 0.0, 600.0)
    if lost_after <= heartbeat:
        sub.problems.append(
            f"{sub.where}: lost_after_seconds ({lost_after:g}) must be longer than heartbeat_seconds ({heartbeat:g}),"
            " else every runner is lost between two heartbeats"
        )
    return RunnerSettings(heartbeat_seconds=heartbeat, lost_after_seconds=lost_after, claim_wait_seconds=claim_wait)


def _pool_settings(reader: _Reader, base: Path) -> PoolSettings:
    if "pool" not in reader.table:
        return PoolSettings()
    sub = reader.sub("pool")
    sub.refuse_unknown(POOL_KEYS)
    defaults = PoolSettings()
    backend = sub.text("backend") or defaults.backend
    if backend not in POOL_BACKENDS:
        sub.fail("backend", f"must be one of {', '.join(POOL_BACKENDS)}, not {backend!r}")
    settings = PoolSettings(
        backend=backend,
        server_url=sub.url("server_url"),
        interval_seconds=sub.number("interval_seconds", defaults.interval_seconds, 0.01, 3600.0),
        pools=_pool_specs(sub),
        kubernetes=_kubernetes_settings(sub, base) if "kubernetes" in sub.table else KubernetesSettings(),
        runner_command=_runner_command(sub),
    )
    kubernetes = sub.table.get("kubernetes")
    template_failed = type(kubernetes) is dict and "pod_template" in kubernetes and not settings.kubernetes.pod_template
    if backend == "kubernetes" and settings.pools and not template_failed:  # a failed read is reported already
        _check_kubernetes_template(sub, settings.kubernetes.pod_template)
    return settings


def _check_kubernetes_template(reader: _Reader, template: dict[str, Any] | None) -> None:
    """The Kubernetes backend's own checks (no privileged or root pods, ...), at load rather than at the first pod."""
    # Imported here: the Kubernetes client is heavy, and only this backend needs it.
    from plue.runners.kubernetes import PodTemplateInvalid, check_pod_template

    try:
        check_pod_template(template)
    except PodTemplateInvalid as exc:
        reader.problems.append(f"{reader.where}.kubernetes: pod_template: {exc}")


def _runner_command(reader: _Reader) -> tuple[str, ...] | None:
    value = reader.table.get("runner_command")
    if value is None:
        return None
    if type(value) is not list or not value or not all(type(item) is str and item for item in value):
        reader.fail(
            "runner_command",
            f'must be a non-empty list of strings, the command before `runner` (e.g. ["plue"]), not {_shown(value)}',
        )
        return None
    return tuple(value)


def _pool_specs(reader: _Reader) -> tuple[PoolSpec, ...]:
    entries = reader.table.get("pools", [])
    if type(entries) is not list:
        reader.fail("pools", f"must be an array of tables ([[pool.pools]]), not {_shown(entries)}")
        return ()
    if len(entries) > MAX_POOLS:
        reader.fail("pools", f"has {len(entries)} pools; at most {MAX_POOLS} are allowed")
        return ()
    specs: list[PoolSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, 1):
        if type(entry) is not dict:
            reader.fail(f"pools[{index}]", f"must be a table with name, labels, min_idle..., not {_shown(entry)}")
            continue
        name = entry.get("name")
        label = f"pools[{index}]" + (f" ({name})" if type(name) is str and name else "")
        spec = _pool_spec(_Reader(f"{reader.where}.{label}", entry, reader.problems, reader.origin))
        if spec is None:
            continue
        if spec.name in seen:
            reader.fail("pools", f"name {spec.name!r} is used by more than one pool; give each pool its own name")
            continue
        seen.add(spec.name)
        specs.append(spec)
    return tuple(specs)


def _pool_spec(reader: _Reader) -> PoolSpec | None:
    reader.refuse_unknown(POOL_SPEC_KEYS)
    before = len(reader.problems)
    name = reader.text("name")
    if name is None and "name" not in reader.table:
        reader.problems.append(f'{reader.where}: name is missing; give each pool a name such as "gpu"')
    elif name is not None and not POOL_NAME_RE.match(name):
        reader.fail("name", f"must be 1 to 40 of a-z, 0-9 and -, starting and ending with a letter or digit: {name!r}")
    labels: list[str] = []
    try:
        labels = runner_labels(reader.table.get("labels"), f"{reader.where}: labels")
    except PlanError as exc:
        reader.problems.append(str(exc))
    defaults = PoolSpec(name="")
    min_idle = reader.integer("min_idle", defaults.min_idle, 0, MAX_POOL_RUNNERS)
    max_runners = reader.integer("max_runners", defaults.max_runners, 0, MAX_POOL_RUNNERS)
    idle_timeout = reader.number("idle_timeout_seconds", defaults.idle_timeout_seconds, 0.0, MAX_SECONDS)
    if min_idle > max_runners:
        reader.problems.append(
            f"{reader.where}: min_idle ({min_idle}) is more than max_runners ({max_runners}); "
            "a pool cannot keep more idle runners than it may have"
        )
    if len(reader.problems) > before or name is None:
        return None
    return PoolSpec(name, tuple(labels), min_idle, max_runners, idle_timeout)


def _kubernetes_settings(reader: _Reader, base: Path) -> KubernetesSettings:
    sub = reader.sub("kubernetes")
    sub.refuse_unknown(KUBERNETES_KEYS)
    namespace = sub.text("namespace") or KubernetesSettings().namespace
    if not NAMESPACE_RE.match(namespace):
        sub.fail("namespace", f"must be a Kubernetes namespace name (a-z, 0-9 and -, up to 63): {namespace!r}")
    template_path = sub.path("pod_template", base)
    kubeconfig = sub.path("kubeconfig", base)
    if kubeconfig is not None and not kubeconfig.is_file():
        sub.fail("kubeconfig", f"names {kubeconfig}, which is not a file")
    in_cluster = sub.flag("in_cluster", False)
    if in_cluster and kubeconfig is not None:
        sub.problems.append(f"{sub.where}: give kubeconfig or in_cluster = true, not both")
    runtime_class = sub.text("runtime_class")
    if runtime_class is not None and not NAMESPACE_RE.match(runtime_class):
        sub.fail("runtime_class", f"must be a RuntimeClass name (a-z, 0-9 and -, up to 63): {runtime_class!r}")
    return KubernetesSettings(
        namespace=namespace,
        pod_template=None if template_path is None else _pod_template(sub, template_path),
        kubeconfig=kubeconfig,
        in_cluster=in_cluster,
        api_url=sub.url("api_url"),
        runtime_class=runtime_class,
    )


def _pod_template(reader: _Reader, path: Path) -> dict[str, Any] | None:
    """The Pod manifest in the YAML file at `path`, checked enough that the backend can fill it in."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_POD_TEMPLATE_BYTES + 1)
    except FileNotFoundError:
        reader.fail("pod_template", f"names {path}, which does not exist")
        return None
    except OSError as exc:
        reader.fail("pod_template", f"{path} cannot be read: {exc.strerror or exc}")
        return None
    if len(raw) > MAX_POD_TEMPLATE_BYTES:
        reader.fail("pod_template", f"{path} is larger than {MAX_POD_TEMPLATE_BYTES // 1024} KiB")
        return None
    try:
        manifest = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        reader.fail("pod_template", f"{path} is not valid YAML: {_yaml_problem(exc)}")
        return None
    problem = _pod_problem(manifest)
    if problem is not None:
        reader.fail("pod_template", f"{path} {problem}")
        return None
    assert isinstance(manifest, dict)
    return manifest


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """`line 2, column 1: but found another document`: where and what, on one line."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {' '.join(str(exc.problem).split())}"
    return " ".join(str(exc).split())


def _pod_problem(manifest: object) -> str | None:
    if type(manifest) is not dict:
        return f"must hold one Pod manifest (a mapping), not {_shown(manifest)}"
    kind = manifest.get("kind", "Pod")
    if kind != "Pod":
        return f"must be a Pod manifest, not kind {_shown(kind)}"
    spec = manifest.get("spec")
    if type(spec) is not dict:
        return "has no spec mapping: a Pod template needs spec.containers"
    containers = spec.get("containers")
    if type(containers) is not list or not containers or not all(type(item) is dict for item in containers):
        return "needs spec.containers, a non-empty list of containers (the runner runs in the one named runner)"
    return None


def _shown(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
