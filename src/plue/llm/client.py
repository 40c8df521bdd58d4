"""The Anthropic client of an llm step: explicit settings only, SDK-native retries, capped waits.

`make_client` builds an `anthropic.AsyncAnthropic` from `ClientOptions` and
nothing else. The SDK looks for credentials in the environment and in config
files (``ANTHROPIC_API_KEY``, ``ANTHROPIC_AUTH_TOKEN``, ``ANTHROPIC_PROFILE``,
``~/.config/anthropic``, workload identity variables) only when no credential is
given, and for a base URL only when none is given: both are always given here,
so a run never uses the host's account by accident. It also reads
``ANTHROPIC_CUSTOM_HEADERS`` unconditionally; those headers are dropped, and
OpenTelemetry tracing (also configurable by environment) is off.

Retries are the SDK's own (429, 529, 5xx, 408, 409 and connection errors, with
exponential backoff, honouring ``retry-after-ms``/``retry-after``). The HTTP
transport under the SDK (`RetryGuard`) caps the wait a server may ask for at
`ClientOptions.max_retry_wait` and reports each retry through `notice`. A
`transport` (record or replay, `plue.llm.recording`) sits under that guard.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import anthropic
import httpx2

DEFAULT_BASE_URL: Final = "https://api.anthropic.com"
DEFAULT_MAX_RETRIES: Final = 4
MAX_RETRY_WAIT_SECONDS: Final = 60.0
READ_TIMEOUT_SECONDS: Final = 600.0  # between two bytes of a reply: long thinking pauses happen
CONNECT_TIMEOUT_SECONDS: Final = 10.0
_RETRIED_STATUSES: Final = {408: "request timeout", 409: "conflict", 429: "rate limited", 529: "overloaded"}


@dataclass(frozen=True)
class ClientOptions:
    api_key: str
    base_url: str = DEFAULT_BASE_URL
    max_retries: int = DEFAULT_MAX_RETRIES  # per API call, by the SDK
    max_retry_wait: float = MAX_RETRY_WAIT_SECONDS  # the longest `retry-after` obeyed
    read_timeout: float = READ_TIMEOUT_SECONDS
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    transport: httpx2.AsyncBaseTransport | None = None  # default: real HTTP


def make_client(options: ClientOptions, *, notice: Callable[[str], None] | None = None) -> anthropic.AsyncAnthropic:
    """An async client with exactly these settings; `notice` hears about retries."""
    timeout = httpx2.Timeout(options.read_timeout, connect=options.connect_timeout)
    inner = options.transport or httpx2.AsyncHTTPTransport()
    http_client = httpx2.AsyncClient(
        transport=RetryGuard(inner, options.max_retries, options.max_retry_wait, notice),
        timeout=timeout,
        follow_redirects=True,
    )
    client = anthropic.AsyncAnthropic(
        api_key=options.api_key,
        base_url=options.base_url,
        max_retries=options.max_retries,
        timeout=timeout,
        http_client=http_client,
        open_telemetry=False,
    )
    if os.environ.get("ANTHROPIC_CUSTOM_HEADERS") is not None:
        # The SDK merges this variable into every request and offers no way to refuse it.
        client._custom_headers = {}
    return client


class RetryGuard(httpx2.AsyncBaseTransport):
    """Caps the waits a server asks for and reports the SDK's retries; otherwise passes requests through."""

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        max_retries: int,
        max_wait: float,
        notice: Callable[[str], None] | None,
    ) -> None:
        self._inner = inner
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._notice = notice

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        retries_taken = _int(request.headers.get("x-stainless-retry-count"))
        will_retry = retries_taken < self._max_retries
        try:
            response = await self._inner.handle_async_request(request)
        except httpx2.TransportError as exc:
            if will_retry:
                self._tell(f"could not reach the API ({describe_transport_error(exc)})", retries_taken, None)
            raise
        if will_retry and _retried(response):
            wait = self._cap_wait(response.headers)
            what = _RETRIED_STATUSES.get(response.status_code, "server error")
            self._tell(f"the API answered HTTP {response.status_code} ({what})", retries_taken, wait)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _cap_wait(self, headers: httpx2.Headers) -> float | None:
        """The wait the server asks for (seconds), rewritten in the headers to at most `max_wait`."""
        wait = _retry_after(headers)
        if wait is None:
            return None
        if wait > self._max_wait:
            wait = self._max_wait
            headers["retry-after-ms"] = str(int(wait * 1000))
            headers["retry-after"] = str(int(wait))
        return max(wait, 0.0)

    def _tell(self, what: str, retries_taken: int, wait: float | None) -> None:
        if self._notice is None:
            return
        when = f" in {wait:.1f} s" if wait is not None and wait >= 0.05 else ""
        self._notice(f"{what}; retrying{when} (retry {retries_taken + 1} of {self._max_retries})")


def describe_transport_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _retried(response: httpx2.Response) -> bool:
    """The SDK's rule (`_should_retry`), to know when to report a retry."""
    should = response.headers.get("x-should-retry")
    if should in ("true", "false"):
        return should == "true"
    return response.status_code in _RETRIED_STATUSES or response.status_code >= 500


def _retry_after(headers: httpx2.Headers) -> float | None:
    try:
        return float(headers["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    date = email.utils.parsedate_tz(value)
    return None if date is None else float(email.utils.mktime_tz(date) - time.time())


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
