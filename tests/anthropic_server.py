"""A fake Anthropic Messages API for tests: a real HTTP server on 127.0.0.1 that streams scripted replies.

It speaks ``POST /v1/messages`` with ``"stream": true`` as the API documents it
("Messages streaming"): SSE framing (``event: NAME`` / ``data: JSON`` / blank
line), ``message_start`` with an empty ``content`` and the usage so far, per
content block ``content_block_start`` / ``content_block_delta`` (``text_delta``;
``input_json_delta`` whose ``partial_json`` is split into several pieces) /
``content_block_stop``, ``ping`` events in between, ``message_delta`` with the
stop reason and the cumulative ``output_tokens``, then ``message_stop``.
Headers ``content-type: text/event-stream`` and ``request-id``. The body is
sent with chunked transfer encoding, so a connection dropped mid-reply is a
protocol error for the client (as a real dropped stream is), not a clean end.

A test gives a script: one item per expected HTTP request, in order —
`Reply` (a streamed message, optionally cut off or failed part-way) or
`HttpError` (an error status with the documented JSON error body and
``retry-after``). Every request is recorded (`requests`: headers and JSON body)
so tests assert what the SDK sent. Requests without the right API key
(``x-api-key``, or ``Authorization: Bearer``, which this SDK version sends) or
without ``anthropic-version`` get the API's 401 / 400 errors. A request past the
end of the script gets a 500 with ``x-should-retry: false`` and is listed in
`problems`.
"""

from __future__ import annotations

import json
import select
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "sk-ant-test-key-0123456789"
HOLD_SECONDS = 30.0  # the longest a held reply waits for the client to go away


@dataclass(frozen=True)
class Text:
    text: str
    piece: int = 7  # characters per text_delta: lines cross delta boundaries


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: Any
    id: str | None = None  # default: toolu_<request>_<block>
    pieces: int = 3  # input_json_delta events


@dataclass(frozen=True)
class Reply:
    blocks: Sequence[Text | ToolUse] = ()
    stop_reason: str = "end_turn"
    input_tokens: int = 10
    output_tokens: int = 5
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    model: str | None = None  # default: the request's model
    disconnect_after: int | None = None  # drop the connection after this many events
    error_after: int | None = None  # send an `error` event (overloaded_error) after this many events, then end
    hook_after: tuple[int, Callable[[], None]] | None = None  # after N events: call it, then hold the reply
    # until the client closes the connection (a test of cancellation)


@dataclass(frozen=True)
class HttpError:
    status: int
    error_type: str
    message: str = "scripted error"
    retry_after: str | None = "0"
    headers: dict[str, str] = field(default_factory=dict)


ScriptItem = Reply | HttpError


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]  # lowercased names
    body: dict[str, Any]


class FakeAnthropic:
    """The server. Use as a context manager; `url` is its base URL."""

    def __init__(self, script: Sequence[ScriptItem] = (), *, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self._script = list(script)
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self.problems: list[str] = []
        self.closed_by_client = threading.Event()  # a held reply saw the client close the connection
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._server.problems = self.problems
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, *items: ScriptItem) -> None:
        with self._lock:
            self._script.extend(items)

    def __enter__(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [request.body for request in self.requests]

    # --- called by the handler ------------------------------------------------------

    def _next(self, request: Request, *, take: bool) -> tuple[int, ScriptItem | None]:
        """Record the request; with `take`, the script's next item for it."""
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
            if not take:
                return number, None
            item = self._script.pop(0) if self._script else None
            if item is None:
                self.problems.append(f"request {number} has no scripted reply")
            return number, item


class _QuietServer(ThreadingHTTPServer):
    problems: list[str]

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):  # a client dropping a kept-alive connection is normal
            self.problems.append(f"the fake server failed: {error!r}")


def _handler_class(server: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fake = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeAnthropic

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparsable": raw.decode("utf-8", "replace")}
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request(self.path, headers, body)
        key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        usable = self.path == "/v1/messages" and key == self.fake.api_key and bool(headers.get("anthropic-version"))
        number, item = self.fake._next(request, take=usable)
        if self.path != "/v1/messages":
            self._error(404, "not_found_error", f"no route {self.path}", number=number)
        elif key != self.fake.api_key:
            self._error(401, "authentication_error", "invalid x-api-key", number=number)
        elif not headers.get("anthropic-version"):
            self._error(400, "invalid_request_error", "anthropic-version: header is required", number=number)
        elif body.get("stream") is not True:
            self._error(400, "invalid_request_error", "this fake only streams", number=number)
        elif item is None:
            self._error(500, "api_error", f"no scripted reply for request {number}", number=number, retry=False)
        elif isinstance(item, HttpError):
            extra = dict(item.headers)
            if item.retry_after is not None:
                extra["retry-after"] = item.retry_after
            self._error(item.status, item.error_type, item.message, number=number, extra=extra)
        else:
            self._stream(item, body, number)

    # --- replies ----------------------------------------------------------------------

    def _error(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        number: int,
        retry: bool | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        payload = json.dumps(
            {"type": "error", "error": {"type": error_type, "message": message}, "request_id": f"req_fake_{number}"}
        ).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("request-id", f"req_fake_{number}")
        if retry is not None:
            self.send_header("x-should-retry", "true" if retry else "false")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, reply: Reply, body: dict[str, Any], number: int) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", f"req_fake_{number}")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for index, (name, data) in enumerate(_events(reply, body, number)):
            if reply.disconnect_after is not None and index == reply.disconnect_after:
                self.wfile.flush()
                self.close_connection = True
                return  # no final chunk: the client sees an incomplete body
            if reply.error_after is not None and index == reply.error_after:
                error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                self._chunk(_sse("error", error))
                break
            if reply.hook_after is not None and index == reply.hook_after[0]:
                reply.hook_after[1]()
                self._hold()
                return
            self._chunk(_sse(name, data))
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _hold(self) -> None:
        """Wait (bounded) until the client closes the connection: what a cancelled client must do."""
        self.close_connection = True
        connection = self.connection
        readable, _, _ = select.select([connection], [], [], HOLD_SECONDS)
        if readable and not connection.recv(1):
            self.fake.closed_by_client.set()


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _events(reply: Reply, body: dict[str, Any], number: int) -> Iterator[tuple[str, dict[str, Any]]]:
    model = reply.model or str(body.get("model"))
    usage: dict[str, Any] = {
        "input_tokens": reply.input_tokens,
        "cache_creation_input_tokens": reply.cache_write_tokens,
        "cache_read_input_tokens": reply.cache_read_tokens,
        "output_tokens": 1,
    }
    message = {
        "id": f"msg_fake_{number}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    yield "message_start", {"type": "message_start", "message": message}
    for index, block in enumerate(reply.blocks):
        if isinstance(block, Text):
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            yield "ping", {"type": "ping"}
            for start in range(0, len(block.text), block.piece):
                delta = {"type": "text_delta", "text": block.text[start : start + block.piece]}
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        else:
            tool_id = block.id or f"toolu_{number}_{index}"
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "tool_use", "id": tool_id, "name": block.name, "input": {}},
                },
            )
            for piece in _pieces(json.dumps(block.input), block.pieces):
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
        yield "ping", {"type": "ping"}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": reply.output_tokens},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def _pieces(text: str, count: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, count)))
    return [text[start : start + size] for start in range(0, len(text), size)] or [""]
