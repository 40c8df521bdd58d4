"""The server configuration: TOML file, environment overrides, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from plue.server.config import ConfigError, RepositoryConfig, load_config


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
