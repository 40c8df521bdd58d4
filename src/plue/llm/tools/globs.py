"""The glob patterns of list_files and grep, translated to regular expressions.

``*`` matches within one path segment, ``?`` one character of it, ``[abc]``
and ``[!abc]`` one character of a set, ``{a,b}`` either alternative, and a
``**`` segment any number of segments (none too: ``**/x`` matches ``x``).
Patterns match whole paths relative to the directory searched; dot files are
not special.
"""

from __future__ import annotations

import re

from plue.llm.tools.outcome import ToolError

MAX_PATTERN_CHARS = 1000


def compile_glob(pattern: str) -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ToolError(f"the glob pattern is too long ({len(pattern):,} characters; at most {MAX_PATTERN_CHARS:,})")
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise ToolError(
            f"glob pattern {pattern!r} must be relative to the directory searched, without '..'; "
            "choose the directory with path"
        )
    segments = [segment for segment in pattern.split("/") if segment not in ("", ".")] or ["**"]
    regex = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex.append(".*" if last else "(?:.*/)?")
        else:
            regex.append(_segment(segment) + ("" if last else "/"))
    return re.compile("".join(regex), re.DOTALL)


def _segment(segment: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(segment):
        char = segment[index]
        index += 1
        if char == "*":
            while index < len(segment) and segment[index] == "*":
                index += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = segment.find("]", index + 1 if segment[index : index + 1] in ("!", "]") else index)
            if end < 0:
                out.append(re.escape(char))
                continue
            body = segment[index:end]
            index = end + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            members = "".join(char if char == "-" else re.escape(char) for char in body)
            out.append(f"[{'^/' if negate else ''}{members}]")
        elif char == "{":
            end = segment.find("}", index)
            if end < 0:
                out.append(re.escape(char))
                continue
            choices = segment[index:end].split(",")
            index = end + 1
            out.append("(?:" + "|".join(_segment(choice) for choice in choices) + ")")
        else:
            out.append(re.escape(char))
    return "".join(out)
