"""The CLI's remote mode: a Plue server's JSON API and its event streams, as `gh` talks to GitHub.

    Remote.connect(server, token)   the server of `--server`/$PLUE_SERVER with `--token`/$PLUE_TOKEN
    remote.get / remote.post        one API call, its JSON answer
    remote.events(run_id)           a run's Server-Sent Events until its `end`, reconnecting after drops

The HTTP client is `httpx2` (a runtime dependency of `anthropic`, so always installed), imported
only here. Every failure becomes a `RemoteError`, one line and an exit code: 2 for what the user
can fix on the command line (a bad URL, a token refused, an unknown run, a request the server
calls invalid), 1 otherwise (the server cannot be reached, or failed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import click
import httpx2

from plue import __version__
from plue.cli.output import one_line

TIMEOUT_SECONDS: Final = 30.0
# The server sends a keep-alive comment every 15 s: a stream silent for longer than this is dead.
STREAM_READ_TIMEOUT_SECONDS: Final = 60.0
RECONNECT_ATTEMPTS: Final = 5  # in a row without an event in between
RECONNECT_DELAY_SECONDS: Final = 1.0
USAGE_STATUSES: Final = frozenset({400, 401, 403, 404, 405, 422})


class RemoteError(click.ClickException):
    """The server could not do what the command asked; printed as `plue: error: <message>`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class


class HttpStatusError(RemoteError):
    """The server answered with an error status."""

    def __init__(self, status: int, detail: str, *, usage: bool) -> None:
        super().__init__(f"server answered {status}: {detail}", 2 if usage else 1)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of a run: `step`, `log` or `end`, its data, and its id (the resume cursor)."""

    name: str
    data: dict[str, Any]
    id: str


class Remote:
    """A Plue server and a token for it."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.client = httpx2.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": f"plue/{__version__}"},
            timeout=TIMEOUT_SECONDS,
        )

    @classmethod
    def connect(cls, server: str, token: str | None) -> Remote:
        if not server.startswith(("http://", "https://")):
            raise click.UsageError(f"the server {server!r} is not an http:// or https:// URL")
        if not token:
            raise click.UsageError(f"talking to {server} needs an API token: set PLUE_TOKEN or pass --token")
        return cls(server, token)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests ------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", path, params=params)

    def post(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        usage_statuses: frozenset[int] = USAGE_STATUSES,
    ) -> Any:
        return self._call("POST", path, params=params, body=body, usage_statuses=usage_statuses)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        usage_statuses: frozenset[int] = USAGE_STATUSES,
    ) -> Any:
        clean_params = {key: value for key, value in (params or {}).items() if value is not None}
        with self._talking():
            response = self.client.request(method, path, params=clean_params, json=body)
        if response.status_code >= 400:
            raise self._status_error(response.status_code, response.text, usage_statuses)
        try:
            return response.json()
        except ValueError:
            raise RemoteError(f"{self.url} did not answer with JSON: is it a Plue server?") from None

    # --- events ----------------------------------------------------------------------

    def events(self, run_id: int) -> Iterator[Event]:
        """The run's events from the start to its `end` (included), each exactly once across reconnections."""
        last_id: str | None = None
        failures = 0
        while True:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            timeout = httpx2.Timeout(TIMEOUT_SECONDS, read=STREAM_READ_TIMEOUT_SECONDS)
            try:
                with self.client.sse(f"/api/runs/{run_id}/events", headers=headers, timeout=timeout) as source:
                    response = source.response
                    if response.status_code >= 400:
                        response.read()
                        raise self._status_error(response.status_code, response.text, USAGE_STATUSES)
                    for sse in source:
                        data = json.loads(sse.data) if sse.data else {}
                        if sse.id:
                            last_id = sse.id
                        failures = 0
                        yield Event(sse.event, data if isinstance(data, dict) else {}, sse.id)
                        if sse.event == "end":
                            return
            except (httpx2.TransportError, ValueError) as exc:
                # The stream broke (server restart, proxy, network): resume after the last event seen.
                failures += 1
                if failures >= RECONNECT_ATTEMPTS:
                    raise (
                        self._transport_error(exc)
                        if isinstance(exc, httpx2.TransportError)
                        else RemoteError(f"{self.url} sent an event stream that cannot be read: {exc}")
                    ) from None
            else:
                failures += 1  # the stream ended without `end`
                if failures >= RECONNECT_ATTEMPTS:
                    raise RemoteError(f"the event stream of run {run_id} keeps closing before the run ends")
            time.sleep(RECONNECT_DELAY_SECONDS)

    # --- errors ------------------------------------------------------------------------

    @contextmanager
    def _talking(self) -> Iterator[None]:
        """Transport failures (refused, timed out, reset) as one-line `RemoteError`s."""
        try:
            yield
        except httpx2.TransportError as exc:
            raise self._transport_error(exc) from None

    def _status_error(self, status: int, text: str, usage_statuses: frozenset[int]) -> HttpStatusError:
        return HttpStatusError(status, error_detail(text), usage=status in usage_statuses)

    def _transport_error(self, exc: httpx2.TransportError) -> RemoteError:
        if isinstance(exc, httpx2.TimeoutException):
            return RemoteError(f"the Plue server at {self.url} did not answer in time ({type(exc).__name__})")
        reason = str(exc) or type(exc).__name__
        return RemoteError(f"cannot reach the Plue server at {self.url}: {one_line(reason, 200)}")


def error_detail(text: str) -> str:
    """The one-line reason of an error answer: FastAPI's `detail` (a sentence, or validation errors)."""
    try:
        data = json.loads(text)
    except ValueError:
        return one_line(text, 300) or "(no details)"
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(detail, str):
        return one_line(detail, 300)
    if isinstance(detail, list):  # request validation: [{"loc": [...], "msg": ...}, ...]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path"))
                parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        return one_line("; ".join(parts), 300) or "the request is invalid"
    return one_line(text, 300)
