"""Step outputs: parsing the file a step wrote through ``$PLUE_OUTPUT``.

Accepted forms (the same as GitHub's ``$GITHUB_OUTPUT``, plus JSON):

- ``key=value`` lines (split at the first ``=``; the value is kept as is);
- ``key<<DELIMITER`` … ``DELIMITER``: a multi-line value, the lines between;
- a single JSON object: string values are kept, other values are JSON-encoded.

A later key wins over an earlier one. Names must match ``[A-Za-z_][A-Za-z0-9_-]*``
(the names templates can refer to). Anything else is reported as a warning and
skipped, never an error: a step's result does not depend on its output file.
Warnings name line numbers, not content (a line may hold a secret).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

OUTPUT_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
MAX_OUTPUT_FILE_BYTES: Final = 1024 * 1024  # outputs are rendered into commands and stored: keep them small
_FORMS: Final = "use key=value, key<<DELIMITER ... DELIMITER, or one JSON object"


@dataclass
class ParsedOutputs:
    outputs: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def read_outputs(path: Path) -> ParsedOutputs:
    """The outputs in a step's output file; a missing or empty file has none."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OUTPUT_FILE_BYTES + 1)
    except FileNotFoundError:
        return ParsedOutputs()
    except OSError as exc:
        return ParsedOutputs(warnings=[f"could not read $PLUE_OUTPUT: {exc.strerror or exc}"])
    warnings: list[str] = []
    if len(data) > MAX_OUTPUT_FILE_BYTES:
        data = data[:MAX_OUTPUT_FILE_BYTES]
        warnings.append(f"$PLUE_OUTPUT is larger than {MAX_OUTPUT_FILE_BYTES} bytes; only the beginning was read")
    parsed = parse_outputs(data.decode("utf-8", "replace"))
    parsed.warnings[:0] = warnings
    return parsed


def parse_outputs(text: str) -> ParsedOutputs:
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            pass  # not JSON after all: read it as lines, which names the bad ones
        else:
            if isinstance(value, dict):
                return _from_json(value)
    return _from_lines(text)


def _from_json(value: dict[str, object]) -> ParsedOutputs:
    result = ParsedOutputs()
    for key, item in value.items():
        if not OUTPUT_NAME_RE.match(key):
            result.warnings.append(f"$PLUE_OUTPUT: output name {_shown(key)} is not valid; {_name_rule()}")
            continue
        result.outputs[key] = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
    return result


def _from_lines(text: str) -> ParsedOutputs:
    result = ParsedOutputs()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index].removesuffix("\r")
        index += 1
        if not line.strip():
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals > 0 and (heredoc < 0 or equals < heredoc):  # as GitHub: whichever separator comes first
            key, value = line[:equals], line[equals + 1 :]
        elif heredoc > 0:
            key, delimiter = line[:heredoc], line[heredoc + 2 :]
            end = _find_line(lines, delimiter, index)
            if not delimiter or end is None:
                result.warnings.append(
                    f"$PLUE_OUTPUT line {number}: the delimiter of {_shown(key)} is "
                    + ("empty" if not delimiter else "never closed")
                    + "; the output is ignored"
                )
                if not delimiter:
                    continue
                break
            value = "\n".join(line.removesuffix("\r") for line in lines[index:end])
            index = end + 1
        else:
            result.warnings.append(f"$PLUE_OUTPUT line {number} is not an output; {_FORMS}")
            continue
        if not OUTPUT_NAME_RE.match(key):
            result.warnings.append(
                f"$PLUE_OUTPUT line {number}: output name {_shown(key)} is not valid; {_name_rule()}"
            )
            continue
        result.outputs[key] = value
    return result


def _find_line(lines: list[str], delimiter: str, start: int) -> int | None:
    for index in range(start, len(lines)):
        if lines[index].removesuffix("\r") == delimiter:
            return index
    return None


def _name_rule() -> str:
    return "names are letters, digits, '_' and '-', starting with a letter or '_'"


def _shown(name: str) -> str:
    return repr(name[:40] + ("…" if len(name) > 40 else ""))
