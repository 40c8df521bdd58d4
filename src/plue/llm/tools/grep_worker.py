"""The grep tool's child process: ``python -P -m plue.llm.tools.grep_worker WORKSPACE REQUEST_JSON``.

Writes result lines to stdout as it finds them (see `search`); on a refusal
writes ``error: MESSAGE`` and exits with 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from plue.llm.tools.outcome import ToolError
from plue.llm.tools.paths import Workspace
from plue.llm.tools.search import WORKER_ERROR, GrepRequest, search


def main(argv: list[str]) -> int:
    root, request = argv
    out = sys.stdout

    def write(text: str) -> None:
        out.write(text)
        out.flush()

    try:
        search(Workspace(Path(root)), GrepRequest(**json.loads(request)), write)
    except ToolError as exc:
        write(f"{WORKER_ERROR}{exc}\n")
        return 2
    except OSError as exc:
        write(f"{WORKER_ERROR}grep could not read the workspace: {exc.strerror or exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
