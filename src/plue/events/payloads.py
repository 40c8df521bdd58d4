"""Reading untrusted webhook payloads: JSON decoding with limits, plain-data checks, and a
typed field reader whose every failure is an `EventError` naming the field."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from plue.events.errors import EventError, quote, type_name

# GitHub caps webhook payloads at 25 MB; anything larger did not come from GitHub.
MAX_PAYLOAD_BYTES = 25 * 1024 * 1024
MAX_NESTING = 200
# "The array includes a maximum of 2048 commits" (push webhook docs): a list this long
# may have been cut, so the files it names are not all the files changed.
MAX_PUSH_COMMITS = 2048
MAX_REF_LENGTH = 1024

SHA_RE = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")
ZERO_SHA_RE = re.compile(r"0+\Z")
REPOSITORY_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")
# What git check-ref-format refuses anywhere in a ref: control characters, space, ~ ^ : ? * [ \
REF_FORBIDDEN_RE = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")
TOO_DEEP = f"payload is nested more than {MAX_NESTING} levels deep"


def load_payload(payload: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """A webhook body (bytes, text or mapping) -> plain JSON data, checked to be an object."""
    if isinstance(payload, bytes | bytearray | memoryview):
        raw = bytes(payload)
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise EventError(f"payload is larger than {MAX_PAYLOAD_BYTES // (1024 * 1024)} MB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventError(f"payload is not valid UTF-8 (at byte {exc.start})") from None
        data = decode_json(text)
    elif isinstance(payload, str):
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise EventError(f"payload is larger than {MAX_PAYLOAD_BYTES // (1024 * 1024)} MB")
        data = decode_json(payload)
    elif isinstance(payload, Mapping):
        data = plain(payload, "payload", 0)
    else:
        raise EventError(f"payload must be JSON bytes, text or a mapping, not {type_name(payload)}")
    if type(data) is not dict:
        raise EventError(f"payload must be a JSON object, not {type_name(data)}")
    return data


def decode_json(text: str) -> Any:
    try:
        data = json.loads(text, parse_float=json_number, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        raise EventError(f"payload is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise EventError(TOO_DEEP) from None
    if too_deep(data):
        # Later copies recurse, so refuse here what they could not handle.
        raise EventError(TOO_DEEP)
    if SURROGATE_ESCAPE_RE.search(text):
        check_encodable(json.dumps(data, ensure_ascii=False), "payload")
    return data


def check_encodable(text: str, where: str) -> None:
    """Refuse lone surrogates (valid JSON escapes, invalid text): UTF-8 encoding of plans
    and logs built from the payload would fail later, far from here."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise EventError(f"{where} holds text that is not valid Unicode (a lone surrogate)") from None


def too_deep(data: Any) -> bool:
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            return True
        if type(value) is dict:
            stack.extend((item, depth + 1) for item in value.values())
        elif type(value) is list:
            stack.extend((item, depth + 1) for item in value)
    return False


def reject_constant(name: str) -> Any:
    raise EventError(f"payload is not valid JSON: {name} is not a JSON value")


def json_number(text: str) -> int | str:
    """Keep the context float-free (plans avoid floats): whole numbers become ints,
    others keep their JSON text."""
    value = float(text)
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return text


def plain(value: Any, where: str, depth: int) -> Any:
    """A deep copy of `value` as JSON data (dict/list/str/int/bool/None)."""
    if depth > MAX_NESTING:
        raise EventError(f"{where} is nested more than {MAX_NESTING} levels deep")
    if type(value) is str:
        if not value.isascii():
            check_encodable(value, where)
        return value
    if value is None or type(value) in (bool, int):
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise EventError(f"{where} holds {value!r}, which is not a JSON number")
        return json_number(repr(value))
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise EventError(f"{where}: keys must be strings, not {type_name(key)}")
            result[key] = plain(item, where, depth + 1)
        return result
    if isinstance(value, list | tuple):
        return [plain(item, where, depth + 1) for item in value]
    raise EventError(f"{where} holds {type(value).__name__}, which is not JSON data")


class Reader:
    """Typed access to one JSON object, naming the field path in every error."""

    def __init__(self, data: Mapping[str, Any], where: str, prefix: str = "") -> None:
        self._data = data
        self._where = where
        self._prefix = prefix

    def fail(self, key: str, problem: str) -> EventError:
        """An error naming the field, e.g. "push payload: 'repository.full_name' is missing"."""
        return EventError(f"{self._where}: '{self._prefix}{key}' {problem}")

    def _get(self, key: str, required: bool) -> Any:
        value = self._data.get(key)
        if value is None and required:
            raise self.fail(key, "is missing")
        return value

    def obj(self, key: str) -> Reader:
        value = self._get(key, True)
        if type(value) is not dict:
            raise self.fail(key, f"must be an object, not {type_name(value)}")
        return Reader(value, self._where, f"{self._prefix}{key}.")

    def opt_obj(self, key: str) -> Reader | None:
        return None if self._data.get(key) is None else self.obj(key)

    def text(self, key: str) -> str:
        value = self._get(key, True)
        if type(value) is not str:
            raise self.fail(key, f"must be a string, not {type_name(value)}")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self._data.get(key) is None else self.text(key)

    def number(self, key: str) -> int:
        value = self._get(key, True)
        if type(value) is not int or value < 1:
            raise self.fail(key, f"must be a positive integer, not {quote(value, 30)}")
        return value

    def flag(self, key: str) -> bool:
        """A boolean; absent or null reads as False."""
        value = self._data.get(key)
        if value is None:
            return False
        if type(value) is not bool:
            raise self.fail(key, f"must be true or false, not {type_name(value)}")
        return value

    def sha(self, key: str) -> str:
        value = self.text(key)
        if not SHA_RE.match(value):
            raise self.fail(key, f"is not a commit SHA: {quote(value, 50)}")
        return value

    def ref(self, key: str) -> str:
        value = self.text(key)
        problem = ref_problem(value)
        if problem:
            raise self.fail(key, f"is not a valid git ref ({problem}): {quote(value, 60)}")
        return value

    def branch(self, key: str) -> str:
        value = self.text(key)
        problem = ref_problem("refs/heads/" + value)
        if problem:
            raise self.fail(key, f"is not a valid branch name ({problem}): {quote(value, 60)}")
        return value

    def label_names(self, key: str) -> list[str]:
        """The `name` of each label object in the list at `key`."""
        names = []
        for index, item in enumerate(self.array(key) or []):
            if type(item) is not dict:
                raise self.fail(f"{key}[{index}]", f"must be an object, not {type_name(item)}")
            names.append(Reader(item, self._where, f"{self._prefix}{key}[{index}].").text("name"))
        return names

    def array(self, key: str) -> list[Any] | None:
        value = self._data.get(key)
        if value is None:
            return None
        if type(value) is not list:
            raise self.fail(key, f"must be a list, not {type_name(value)}")
        return value


def ref_problem(ref: str) -> str | None:
    """Why `ref` is not a full ref git would accept (git check-ref-format), or None."""
    if not ref.startswith("refs/"):
        return "a full ref starts with refs/"
    if len(ref) > MAX_REF_LENGTH:
        return f"longer than {MAX_REF_LENGTH} characters"
    if REF_FORBIDDEN_RE.search(ref):
        return "it contains a character or sequence git forbids"
    for part in ref.split("/"):
        if not part or part.startswith(".") or part.endswith(".lock"):
            return "a part is empty, starts with '.' or ends with '.lock'"
    if ref.endswith("."):
        return "it ends with '.'"
    if ref.startswith(("refs/heads/-", "refs/tags/-")):
        return "a branch or tag name may not start with '-'"  # git would read it as an option
    return None


def plain_inputs(inputs: Mapping[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(inputs, Mapping):
        raise EventError(f"{what} must be a mapping of name: value, not {type_name(inputs)}")
    return dict(plain(inputs, what, 0))
