"""Record and replay of LLM calls at the HTTP transport level (the SDK itself is untouched).

Record: `RecordingTransport` forwards each request to the real transport and
writes the exchange to ``DIR/<step-id>/<NNN>.json`` (NNN counts the step's HTTP
requests from 001, retries included): the request's method, path and JSON body,
a SHA-256 of the canonical request (method, path, body with sorted keys), the
response status, the headers that matter (`KEPT_HEADERS`) and the body (for a
stream: the SSE text as received, except that each run of deltas of a content
block is merged into one event and pings are dropped, `coalesce_deltas`: the
same reply, readable, and a secret streamed in pieces is whole to be masked;
``complete`` is false when the connection dropped mid-reply, and ``error`` says
how). Request headers are never written, so API keys and auth headers never
reach a recording; texts pass through `mask` (the run's secret masking) before
they are written. A step's old recording is removed when its
recording starts.

Replay: `ReplayTransport` answers from those files without any network: the
first unused exchange with the same request hash, else the next unused one in
order (with a notice that the request differs). When nothing is left, the call
fails with `ReplayMissing` ("no recorded LLM exchange for step X call N in DIR;
…"), which the SDK does not retry. A replayed error status carries
``retry-after-ms: 1``, so replays do not wait. Replay needs no API key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final

import anthropic
import httpx2

KEPT_HEADERS: Final = ("content-type", "request-id", "retry-after", "retry-after-ms", "x-should-retry")
FORMAT_VERSION: Final = 1


class ReplayMissing(anthropic.AnthropicError):
    """No recorded exchange for a call (an `AnthropicError` that is not an API error: the SDK does not retry it)."""


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def step_directory(directory: Path, step_id: str) -> Path:
    return directory / step_id


class RecordingTransport(httpx2.AsyncBaseTransport):
    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        directory: Path,
        step_id: str,
        *,
        mask: Callable[[str], str] = lambda text: text,
    ) -> None:
        self._inner = inner
        self._directory = step_directory(directory, step_id)
        self._mask = mask
        self._calls = 0
        shutil.rmtree(self._directory, ignore_errors=True)
        self._directory.mkdir(parents=True, exist_ok=True)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self._calls += 1
        call = self._calls
        body = _json_body(await request.aread())
        # Plain bytes on the wire make a readable recording (and a replay that needs no decoder).
        request.headers["accept-encoding"] = "identity"
        response = await self._inner.handle_async_request(request)
        kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        path = self._directory / f"{call:03d}.json"

        def finish(data: bytes, complete: bool, error: str | None) -> None:
            exchange = {
                "format": FORMAT_VERSION,
                "call": call,
                "request_hash": request_hash(request.method, request.url.path, body),
                "request": {"method": request.method, "path": request.url.path, "body": body},
                "response": {
                    "status": response.status_code,
                    "headers": kept,
                    "body": coalesce_deltas(data.decode("utf-8", "replace")),
                    "complete": complete,
                    "error": error,
                },
            }
            text = json.dumps(exchange, indent=1, ensure_ascii=False)
            path.write_text(self._mask(text) + "\n", encoding="utf-8")

        if response.status_code >= 400:
            # The SDK may close an error response unread before it retries: keep its body now.
            data = await response.aread()
            finish(data, True, None)
            return httpx2.Response(
                response.status_code, headers=response.headers, content=data, extensions=response.extensions
            )
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, finish),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _TeeStream(httpx2.AsyncByteStream):
    """The response body as it streams by, handed to `finish` once: at its end, or when it broke or was closed."""

    def __init__(self, inner: httpx2.AsyncByteStream, finish: Callable[[bytes, bool, str | None], None]) -> None:
        self._inner = inner
        self._finish = finish
        self._chunks: list[bytes] = []
        self._error: str | None = None
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        complete = False
        try:
            async for chunk in self._inner:
                self._chunks.append(chunk)
                yield chunk
            complete = True
        except httpx2.TransportError as exc:
            self._error = str(exc)  # replayed as the same failure
            raise
        finally:
            self._end(complete)

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._end(False)

    def _end(self, complete: bool) -> None:
        if not self._done:
            self._done = True
            self._finish(b"".join(self._chunks), complete, self._error)


class ReplayTransport(httpx2.AsyncBaseTransport):
    def __init__(self, directory: Path, step_id: str, *, notice: Callable[[str], None] | None = None) -> None:
        self._root = directory
        self._step_id = step_id
        self._notice = notice
        self._exchanges, self._unreadable = _load(step_directory(directory, step_id))
        self._used: set[int] = set()
        self._calls = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self._calls += 1
        body = _json_body(await request.aread())
        wanted = request_hash(request.method, request.url.path, body)
        index = self._find(wanted)
        if index is None:
            unreadable = f" ({', '.join(self._unreadable)} could not be read)" if self._unreadable else ""
            raise ReplayMissing(
                f"no recorded LLM exchange for step {self._step_id} call {self._calls} in {self._root}{unreadable};"
                f" record one with --llm-record {self._root}"
            )
        self._used.add(index)
        exchange = self._exchanges[index]
        response = exchange["response"]
        headers = dict(response.get("headers", {}))
        if int(response["status"]) >= 400:
            headers["retry-after-ms"] = "1"
        data = str(response.get("body", "")).encode("utf-8")
        return httpx2.Response(
            int(response["status"]),
            headers=headers,
            stream=_ReplayStream(data, complete=bool(response.get("complete", True)), error=response.get("error")),
        )

    def _find(self, wanted: str) -> int | None:
        unused = [index for index in range(len(self._exchanges)) if index not in self._used]
        for index in unused:
            if self._exchanges[index].get("request_hash") == wanted:
                return index
        if not unused:
            return None
        index = unused[0]
        if self._notice is not None:
            self._notice(
                f"replay: call {self._calls} of step {self._step_id} differs from the recording;"
                f" answering with recorded call {self._exchanges[index].get('call', index + 1)} (in order)"
            )
        return index


class _ReplayStream(httpx2.AsyncByteStream):
    """A recorded body; one that broke while recording breaks again at the same place, with the same message."""

    def __init__(self, data: bytes, *, complete: bool, error: object) -> None:
        self._data = data
        self._complete = complete
        self._error = str(error) if error else "the recorded reply ended mid-stream"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._data:
            yield self._data
        if not self._complete:
            raise httpx2.RemoteProtocolError(self._error)


def coalesce_deltas(body: str) -> str:
    """An SSE body with each run of deltas of one content block merged into one event, and pings dropped.

    The stream means the same (the same text and tool input, in the same blocks)
    while a secret the model wrote in pieces is whole again, so masking finds it.
    An unfinished last event (a reply cut off while recording) is kept as it was.
    """
    *events, tail = body.split("\n\n")
    parts: list[str] = []
    merging: tuple[str, dict[str, Any]] | None = None  # (the delta's field, the event) that later deltas join

    def flush() -> None:
        nonlocal merging
        if merging is not None:
            parts.append(f"event: content_block_delta\ndata: {json.dumps(merging[1], ensure_ascii=False)}")
            merging = None

    for raw in events:
        name, data = _parse_event(raw)
        if name == "ping":
            continue
        field = _delta_field(data) if name == "content_block_delta" else None
        if field is not None and merging is not None and _same_block(merging[1], data, field):
            merging[1]["delta"][field] += data["delta"][field]
            continue
        flush()
        if field is not None:
            merging = (field, data)
        else:
            parts.append(raw)
    flush()
    return "\n\n".join([*parts, tail])


def _delta_field(data: Any) -> str | None:
    """The field a text or tool-input delta adds to, or None for any other event."""
    try:
        kind = data["delta"]["type"]
    except (KeyError, TypeError):
        return None
    return {"text_delta": "text", "input_json_delta": "partial_json"}.get(kind)


def _same_block(previous: dict[str, Any], data: dict[str, Any], field: str) -> bool:
    return bool(previous.get("index") == data.get("index") and field in previous["delta"])


def _parse_event(raw: str) -> tuple[str, Any]:
    """(name, data) of one SSE event made of an `event:` and a `data:` line; ("", None) for anything else."""
    lines = raw.split("\n")
    if len(lines) != 2 or not lines[0].startswith("event: ") or not lines[1].startswith("data: "):
        return "", None
    try:
        return lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])
    except ValueError:
        return "", None


def _load(directory: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The step's recorded exchanges in call order, and the names of files that could not be used."""
    exchanges: list[dict[str, Any]] = []
    unreadable: list[str] = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in sorted(directory.glob("*.json")):
            try:
                exchange = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                exchange = None
            if isinstance(exchange, dict) and isinstance(exchange.get("response"), dict):
                exchanges.append(exchange)
            else:
                unreadable.append(path.name)
    return exchanges, unreadable


def _json_body(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data.decode("utf-8", "replace")
