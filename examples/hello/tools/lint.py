"""A small linter with the standard library only: every module parses, has a docstring,
no tabs, no trailing blanks, lines of at most 100 characters.

Usage: python3 lint.py DIR. Writes `files=N` to $PLUE_OUTPUT; exit 1 on any finding.
"""

import ast
import os
import sys
from pathlib import Path

MAX_LINE = 100


def check(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(text, str(path))
    except SyntaxError as exc:
        return [f"{path}:{exc.lineno}: {exc.msg}"]
    found = [] if ast.get_docstring(tree) else [f"{path}:1: the module has no docstring"]
    for number, line in enumerate(text.splitlines(), start=1):
        if "\t" in line:
            found.append(f"{path}:{number}: tab character")
        if line != line.rstrip():
            found.append(f"{path}:{number}: trailing whitespace")
        if len(line) > MAX_LINE:
            found.append(f"{path}:{number}: line longer than {MAX_LINE} characters")
    return found


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    files = sorted(path for path in root.rglob("*.py") if "dist" not in path.parts)
    findings = [finding for path in files for finding in check(path)]
    for finding in findings:
        print(finding)
    print(f"{len(files)} files checked, {len(findings)} findings")
    output = os.environ.get("PLUE_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(f"files={len(files)}\n")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
