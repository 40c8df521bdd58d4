"""The environment of a step's process.

Layers, later ones winning: the base environment, the plan's ``env``, the
step's ``env`` (both rendered), the secrets (by name), then Plue's own
variables: ``PLUE_RUN_ID``, ``PLUE_STEP_ID``, ``PLUE_ATTEMPT``,
``PLUE_WORKSPACE``, ``PLUE_OUTPUT`` and ``CI=true``.

The default base is a small inherited set, not the whole of ``os.environ``:
what a shell needs to work (`INHERITED_NAMES`), and nothing of the host's
credentials or configuration by accident. A caller that wants more (a runner
that knows its image) passes ``base_env``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

INHERITED_NAMES: Final = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR", "USER", "SHELL")
ENV_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def inherited_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The default base environment: `INHERITED_NAMES` from `environ` (the process's by default); PATH always set."""
    source = os.environ if environ is None else environ
    env = {name: source[name] for name in INHERITED_NAMES if name in source}
    env.setdefault("PATH", os.defpath)
    return env


def plue_variables(run_id: str, step_id: str, attempt: int, workspace: Path, output_file: Path) -> dict[str, str]:
    return {
        "PLUE_RUN_ID": run_id,
        "PLUE_STEP_ID": step_id,
        "PLUE_ATTEMPT": str(attempt),
        "PLUE_WORKSPACE": str(workspace),
        "PLUE_OUTPUT": str(output_file),
        "CI": "true",
    }


def step_env(
    base: Mapping[str, str],
    rendered_env: Mapping[str, str],
    secrets: Mapping[str, str],
    variables: Mapping[str, str],
) -> dict[str, str]:
    """base + plan/step env (already merged and rendered) + secrets + Plue's variables."""
    return {**base, **rendered_env, **secrets, **variables}
