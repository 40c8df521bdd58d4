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

`PLUE_DATABASE_URL`, `PLUE_WEBHOOK_SECRET` (comma-separated), `PLUE_DATA_DIR` and
`PLUE_WORKERS` override the file, so ``PLUE_WEBHOOK_SECRET=s plue server`` needs no
file at all. Relative paths in the file are relative to the file's directory; from the
environment or the defaults, to the working directory. Every problem is collected
before anything is refused, so one `ConfigError` lists them all.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from plue.events.payloads import REPOSITORY_RE, ref_problem

DEFAULT_DATA_DIR: Final = Path(".plue-server")
DATABASE_NAME: Final = "plue.db"
CATCH_UP_POLICIES: Final = ("latest", "none", "all")
MAX_WORKERS: Final = 256
SECRET_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

TOP_LEVEL_KEYS: Final = frozenset(
    {"database_url", "data_dir", "webhook_secret", "workers", "catch_up", "host", "port", "repositories", "secrets"}
)
REPOSITORY_KEYS: Final = frozenset({"url", "default_branch"})


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
    runners: RunnerSettings = field(default_factory=RunnerSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)

    @property
    def store_url(self) -> str:
        """The URL to open the store with: `database_url`, else the SQLite file in `data_dir`."""
        return self.database_url or f"sqlite:///{self.data_dir / DATABASE_NAME}"

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
    secrets = _run_secrets(reader, environ)

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
    )


class _Reader:
    """Typed reads from one TOML table that note a problem (and give a default) on a wrong type."""

    def __init__(self, where: str, table: Mapping[str, Any], problems: list[str]) -> None:
        self.where = where
        self.table = table
        self.problems = problems

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

    def table_of(self, key: str) -> dict[str, Any]:
        value = self.table.get(key, {})
        if type(value) is not dict:
            self.fail(key, f"must be a table, not {_shown(value)}")
            return {}
        return value


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


def _run_secrets(reader: _Reader, environ: Mapping[str, str]) -> dict[str, str]:
    secrets: dict[str, str] = {}
    for name, value in reader.table_of("secrets").items():
        where = f"secrets.{name}"
        if not SECRET_NAME_RE.match(name):
            reader.fail(where, "is not a valid secret name (letters, digits and _, not starting with a digit)")
            continue
        resolved = _secret_value(value, environ, functools.partial(reader.fail, where))
        if resolved is not None:
            secrets[name] = resolved
    return secrets


def _secret_value(value: object, environ: Mapping[str, str], fail: Callable[[str], None]) -> str | None:
    if type(value) is str:
        return value
    if type(value) is dict and set(value) == {"env"} and type(value["env"]) is str:
        variable = value["env"]
        if variable not in environ:
            fail(f"reads ${variable}, which is not set; export it or give the value")
            return None
        return environ[variable]
    fail('must be a string or {env = "VARIABLE"}')
    return None


def _shown(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
