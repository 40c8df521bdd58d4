"""Rewrite the expected results of ``handlebars_corpus.json`` with what handlebars.js produces.

    uv run python tests/prompts/regenerate_corpus.py

Each case keeps its name, template, context and partials; ``expected`` becomes
handlebars.js's output, or the case gets ``"error": true`` when handlebars.js
rejects the template. Needs node and npm (the pinned handlebars is installed with
``npm ci`` on first use). Review the diff before committing: a changed expectation
means the reference changed, or the case did.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference import CORPUS, load_corpus, run_reference


def regenerate(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = [case["name"] for case in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise SystemExit(f"duplicate case names: {', '.join(sorted(duplicates))}")
    updated = []
    for case, result in zip(cases, run_reference(cases), strict=True):
        entry = {key: case[key] for key in ("name", "template", "context", "partials") if key in case}
        if "output" in result:
            entry["expected"] = result["output"]
        else:
            entry["error"] = True
        updated.append(entry)
    return updated


def main() -> None:
    cases = regenerate(load_corpus())
    CORPUS.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    errors = sum(1 for case in cases if case.get("error"))
    print(f"{CORPUS}: {len(cases)} cases ({errors} rejected by handlebars.js)")


if __name__ == "__main__":
    main()
