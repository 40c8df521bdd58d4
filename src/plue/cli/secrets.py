"""``--secret NAME``: a secret's value from the environment, else from the repository's ``.env``.

``.env`` holds simple ``NAME=value`` lines, as docker compose and python-dotenv read
them: blank lines and ``#`` comments are skipped, an ``export`` prefix is allowed, a
value may be quoted (``'...'`` literally, ``"..."`` with ``\\n``, ``\\"`` and ``\\\\``
escapes), and an unquoted value ends at `` #``. The file is read only when a secret
is not in the environment, and only the secrets asked for are kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

DOTENV = ".env"
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_DOTENV_BYTES = 1_000_000
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def resolve_secrets(names: Sequence[str], repo: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """{NAME: value} for each name; a usage error (exit 2) for a bad or missing one."""
    environ = os.environ if environ is None else environ
    for name in names:
        if not NAME_RE.match(name):
            raise click.BadParameter(f"{name[:60]!r} is not a variable name", param_hint="'--secret'")
    missing = [name for name in names if name not in environ]
    from_file = read_dotenv(repo / DOTENV) if missing else {}
    values: dict[str, str] = {}
    for name in names:
        value = environ.get(name, from_file.get(name))
        if value is None:
            raise click.BadParameter(
                f"secret {name} is neither in the environment nor in {repo / DOTENV}", param_hint="'--secret'"
            )
        values[name] = value
    return values


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of a ``.env`` file ({} when there is none)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOTENV_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise click.UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_DOTENV_BYTES:
        raise click.UsageError(f"{path} is larger than {MAX_DOTENV_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise click.UsageError(f"{path} is not UTF-8 text") from None
    return parse_dotenv(text, str(path))


def parse_dotenv(text: str, where: str = DOTENV) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, rest = line.partition("=")
        name = name.strip()
        if not sep or not NAME_RE.match(name):
            raise click.UsageError(f"{where}:{number}: expected NAME=value")
        try:
            values[name] = _value(rest.strip())
        except ValueError as exc:
            raise click.UsageError(f"{where}:{number}: {exc}") from None
    return values


def _value(text: str) -> str:
    if text[:1] == "'":
        end = text.find("'", 1)
        if end < 0:
            raise ValueError("unterminated ' quote")
        return text[1:end]
    if text[:1] == '"':
        chars: list[str] = []
        index = 1
        while index < len(text):
            ch = text[index]
            if ch == '"':
                return "".join(chars)
            if ch == "\\" and index + 1 < len(text):
                index += 1
                ch = _ESCAPES.get(text[index], "\\" + text[index])
            chars.append(ch)
            index += 1
        raise ValueError('unterminated " quote')
    comment = text.find(" #")
    return (text if comment < 0 else text[:comment]).rstrip()
