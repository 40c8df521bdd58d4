"""The runner agent's HTTP client: one method per call of the runner protocol, typed answers, clear errors.

    client = RunnerClient(server, token)
    client.register(...)            -> Registration (runner id, the server's timings)
    client.claim(runner_id, wait)   -> Claim | None (a long poll: None when nothing came in `wait` seconds)
    client.heartbeat(runner_id, attempt_ids) -> HeartbeatAnswer
    client.send_events(attempt_id, body) -> acked batch seq (body: the batch, already JSON, see `RemoteSink`)
    client.download_source(path, destination)
    client.deregister(runner_id)

Every failure is a `ClientError` whose `str()` is one sentence; its class says what to do:

    Unreachable   no answer, a timeout, 5xx or 429: try again later (`Backoff`)
    AuthRefused   401/403: the token is wrong, revoked or not a runner token; trying again will not help
    RunnerGone    410: the server does not know this runner any more (lost, offline): register again
    Draining      409 on a claim: the runner is being drained; finish what runs, then exit
    Fenced        409 on an attempt's events or source: the attempt is no longer the run's current one
    Rejected      another 4xx, or an answer that is not the protocol's: a bug on one side; retrying is pointless
    BadClaim      a claim that cannot be used (a `Rejected` naming its attempt, so the run can be ended)

The HTTP client is `httpx2` (a dependency of `anthropic`, so always installed). The token is only ever
sent to the server given here: a source path must be a path on it, not a URL elsewhere.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx2

from plue import __version__

TIMEOUT_SECONDS: Final = 30.0
CLAIM_EXTRA_SECONDS: Final = 15.0  # a long poll may take claim_wait_seconds; then the network's share
MAX_SOURCE_BYTES: Final = 1024**3  # a run's source tarball
DETAIL_CHARS: Final = 300

T = TypeVar("T")


# --- errors -----------------------------------------------------------------------------


class ClientError(Exception):
    """A protocol call failed; `str()` is one sentence for a log or a terminal."""


class Unreachable(ClientError):
    """No usable answer (refused, reset, timed out, 5xx, 429): the call may succeed later.

    `status`: the server's answer (5xx, 429, ...), or None when there was no answer at all.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthRefused(ClientError):
    """The server refused the token (401/403)."""


class RunnerGone(ClientError):
    """The server does not know this runner any more (410): register again."""


class Draining(ClientError):
    """The runner is being drained (409 on a claim): take no new run."""


class Fenced(ClientError):
    """The attempt is no longer the run's current one (409): stop it and drop what it holds."""


class Rejected(ClientError):
    """The server called the request invalid, or answered something that is not the protocol's."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadClaim(Rejected):
    """A claim that cannot be used; `attempt_id` names it, so the run can be ended failed with the reason."""

    def __init__(self, message: str, attempt_id: int) -> None:
        super().__init__(message)
        self.attempt_id = attempt_id


# --- answers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    runner_id: str
    heartbeat_seconds: float
    lost_after_seconds: float
    claim_wait_seconds: float


@dataclass(frozen=True)
class HeartbeatAnswer:
    status: str  # idle | busy | draining | lost | offline
    cancel: frozenset[int] = frozenset()  # attempts whose run a user cancelled: cancel them
    abort: frozenset[int] = frozenset()  # attempts that are no longer ours: stop them, report nothing more
    drain: bool = False  # take no new run; exit when the current ones are done


@dataclass(frozen=True)
class ClaimedRun:
    """The stored run a claim hands over: what the engine needs, and what logs and errors may name."""

    id: int
    workflow_name: str
    plan: dict[str, Any]
    workflow_path: str | None = None
    event_name: str | None = None
    event: dict[str, Any] | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    repository: str | None = None
    sha: str | None = None
    ref: str | None = None
    branch: str | None = None


@dataclass(frozen=True)
class ReusedStep:
    outputs: dict[str, str]
    exit_code: int | None


@dataclass(frozen=True)
class Claim:
    attempt_id: int  # the fencing token every report carries
    attempt: int  # the run's attempt number: 1, 2, ...
    run: ClaimedRun
    secrets: dict[str, str] = field(repr=False, default_factory=dict)
    attempt_base: dict[str, int] = field(default_factory=dict)
    reuse: dict[str, ReusedStep] = field(default_factory=dict)
    source: str | None = None  # a path on the server: the run's commit as a gzipped tarball


# --- backoff ----------------------------------------------------------------------------------


class Backoff:
    """Capped exponential backoff with jitter: `next()` is the next delay, `reset()` after a success.

    Each delay is drawn from [d/2, d] where d doubles from `initial` up to `cap`: runners that lost the
    server together do not come back in lock step.
    """

    def __init__(self, initial: float = 0.1, cap: float = 5.0) -> None:
        self._initial = initial
        self._cap = cap
        self._current = initial

    def next(self) -> float:
        delay = self._current
        self._current = min(self._cap, self._current * 2)
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self._current = self._initial

    def wait(self, stop: threading.Event) -> bool:
        """Sleep the next delay unless `stop` is set first; True if `stop` is set."""
        return stop.wait(self.next())


# --- the client -----------------------------------------------------------------------------


class RunnerClient:
    """One Plue server and a runner (or admin) token. Thread-safe: the agent's threads share it."""

    def __init__(self, server: str, token: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        if not server.startswith(("http://", "https://")):
            raise ValueError(f"the server {server!r} is not an http:// or https:// URL")
        if not token:
            raise ValueError("a runner needs an API token (scope runner): set PLUE_TOKEN or pass --token")
        self.url = server.rstrip("/")
        self._client = httpx2.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": f"plue-runner/{__version__}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RunnerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the protocol ------------------------------------------------------------------------

    def register(
        self,
        name: str,
        labels: Sequence[str],
        version: str,
        host: Mapping[str, Any],
        capacity: int,
        *,
        pool: str | None = None,
    ) -> Registration:
        body: dict[str, Any] = {
            "name": name,
            "labels": sorted(labels),
            "version": version,
            "host": dict(host),
            "capacity": capacity,
        }
        if pool is not None:
            body["pool"] = pool
        data = self._json(self._request("POST", "/api/runners", body), "the registration")
        return Registration(
            runner_id=_get(data, "runner_id", str, "the registration"),
            heartbeat_seconds=_seconds(data, "heartbeat_seconds"),
            lost_after_seconds=_seconds(data, "lost_after_seconds"),
            claim_wait_seconds=_seconds(data, "claim_wait_seconds"),
        )

    def claim(self, runner_id: str, wait: float) -> Claim | None:
        """Ask for a run; the server holds the request up to `wait` seconds. None: nothing to do yet."""
        timeout = httpx2.Timeout(TIMEOUT_SECONDS, read=wait + CLAIM_EXTRA_SECONDS)
        response = self._request("POST", f"/api/runners/{runner_id}/claim", {}, timeout=timeout, draining=True)
        if response.status_code == 204:
            return None
        data = self._json(response, "the claim")
        claim = data.get("claim", data)  # {"claim": {...}} per the protocol; a bare claim is read too
        if not isinstance(claim, dict):
            raise Rejected("the server's claim is not a JSON object")
        try:
            return parse_claim(claim)
        except Rejected as exc:
            attempt_id = claim.get("attempt_id")
            if type(attempt_id) is int:  # the run is ours now: the agent can still end it with the reason
                raise BadClaim(str(exc), attempt_id) from None
            raise

    def heartbeat(self, runner_id: str, attempt_ids: Sequence[int]) -> HeartbeatAnswer:
        response = self._request("POST", f"/api/runners/{runner_id}/heartbeat", {"attempts": sorted(attempt_ids)})
        data = self._json(response, "the heartbeat answer")
        return HeartbeatAnswer(
            status=_get(data, "status", str, "the heartbeat answer"),
            cancel=frozenset(_ids(data.get("cancel", []), "cancel")),
            abort=frozenset(_ids(data.get("abort", []), "abort")),
            drain=bool(data.get("drain", False)),
        )

    def send_events(self, attempt_id: int, body: bytes) -> int:
        """Post one batch (`{"seq": n, "events": [...]}` as JSON bytes); the highest batch seq the server holds."""
        response = self._request("POST", f"/api/attempts/{attempt_id}/events", content=body, fenced=True)
        data = self._json(response, "the events answer")
        acked = data.get("acked")
        if type(acked) is not int or acked < 0:
            raise Rejected("the server's events answer has no valid 'acked' number")
        return acked

    def download_source(self, path: str, destination: Path, *, max_bytes: int = MAX_SOURCE_BYTES) -> int:
        """Save the tarball at `path` (a path on this server) to `destination`; its size in bytes."""
        if not path.startswith("/") or path.startswith("//"):
            raise Rejected(f"the claim's source {path[:200]!r} is not a path on the server")
        written = 0
        try:
            with self._client.stream("GET", path) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._status_error(response, fenced=True)
                with destination.open("wb") as out:
                    for chunk in response.iter_bytes():
                        written += len(chunk)
                        if written > max_bytes:
                            raise Rejected(f"the run's source is larger than {max_bytes} bytes")
                        out.write(chunk)
        except httpx2.TransportError as exc:
            raise self._transport_error(exc) from None
        return written

    def deregister(self, runner_id: str) -> None:
        self._request("DELETE", f"/api/runners/{runner_id}")

    # --- plumbing ---------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content: bytes | None = None,
        timeout: httpx2.Timeout | None = None,
        draining: bool = False,
        fenced: bool = False,
    ) -> httpx2.Response:
        headers = {"Content-Type": "application/json"} if content is not None else None
        extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
        try:
            response = self._client.request(
                method,
                path,
                json=body if content is None else None,
                content=content,
                headers=headers,
                **extra,
            )
        except httpx2.TransportError as exc:
            raise self._transport_error(exc) from None
        if response.status_code >= 400:
            raise self._status_error(response, draining=draining, fenced=fenced)
        return response

    def _status_error(self, response: httpx2.Response, *, draining: bool = False, fenced: bool = False) -> ClientError:
        status = response.status_code
        detail = _detail(response.text)
        said = f"the server answered {status}: {detail}"
        if status in (401, 403):
            return AuthRefused(f"the server refused the token ({status}: {detail}); it needs the runner scope")
        if status == 410:
            return RunnerGone(said)
        if status == 409 and fenced:
            return Fenced(said)
        if status == 409 and draining:
            return Draining(said)
        if status >= 500 or status in (408, 425, 429):
            return Unreachable(said, status)
        return Rejected(said, status)

    def _transport_error(self, exc: httpx2.TransportError) -> Unreachable:
        if isinstance(exc, httpx2.TimeoutException):
            return Unreachable(f"the Plue server at {self.url} did not answer in time ({type(exc).__name__})")
        reason = " ".join((str(exc) or type(exc).__name__).split())[:DETAIL_CHARS]
        return Unreachable(f"cannot reach the Plue server at {self.url}: {reason}")

    @staticmethod
    def _json(response: httpx2.Response, what: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise Rejected(f"{what} is not JSON: is this a Plue server?") from None
        if not isinstance(data, dict):
            raise Rejected(f"{what} is not a JSON object")
        return data


# --- reading answers ----------------------------------------------------------------------------------


def parse_claim(data: Mapping[str, Any]) -> Claim:
    """A claim as the server sends it, checked field by field (`Rejected` names the first bad one)."""
    run = data.get("run")
    if not isinstance(run, dict):
        raise Rejected("the claim has no 'run' object")
    plan = run.get("plan")
    if not isinstance(plan, dict):
        raise Rejected("the claim's run has no 'plan' object")
    secrets = data.get("secrets") or {}
    if not isinstance(secrets, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()):
        raise Rejected("the claim's 'secrets' is not an object of strings")
    base = data.get("attempt_base") or {}
    if not isinstance(base, dict) or not all(type(v) is int and v >= 0 for v in base.values()):
        raise Rejected("the claim's 'attempt_base' is not an object of whole numbers")
    source = data.get("source")
    if source is not None and not isinstance(source, str):
        raise Rejected("the claim's 'source' is not a string")
    event = run.get("event")
    inputs = run.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise Rejected("the claim's run 'inputs' is not an object")
    return Claim(
        attempt_id=_get(data, "attempt_id", int, "the claim"),
        attempt=_get(data, "attempt", int, "the claim"),
        run=ClaimedRun(
            id=_get(run, "id", int, "the claim's run"),
            workflow_name=_optional(run, "workflow_name") or "",
            plan=plan,
            workflow_path=_optional(run, "workflow_path"),
            event_name=_optional(run, "event_name"),
            event=event if isinstance(event, dict) else None,
            inputs=inputs,
            repository=_optional(run, "repository"),
            sha=_optional(run, "sha"),
            ref=_optional(run, "ref"),
            branch=_optional(run, "branch"),
        ),
        secrets=dict(secrets),
        attempt_base={str(k): int(v) for k, v in base.items()},
        reuse=_reuse(data.get("reuse") or {}),
        source=source,
    )


def _reuse(data: Any) -> dict[str, ReusedStep]:
    if not isinstance(data, dict):
        raise Rejected("the claim's 'reuse' is not an object")
    reuse = {}
    for step_id, item in data.items():
        outputs = item.get("outputs") if isinstance(item, dict) else None
        code = item.get("exit_code") if isinstance(item, dict) else None
        if (
            not isinstance(outputs, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in outputs.items())
            or not (code is None or type(code) is int)
        ):
            raise Rejected(f"the claim's 'reuse' entry {str(step_id)[:100]!r} is not {{outputs, exit_code}}")
        reuse[str(step_id)] = ReusedStep(dict(outputs), code)
    return reuse


def _get(data: Mapping[str, Any], key: str, kind: type[T], what: str) -> T:
    value = data.get(key)
    if type(value) is not kind:
        raise Rejected(f"{what} has no valid {key!r}")
    return value  # type(value) is kind: checked just above


def _optional(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise Rejected(f"the claim's run {key!r} is not a string")
    return value


def _seconds(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise Rejected(f"the registration has no valid {key!r}")
    return float(value)


def _ids(value: Any, key: str) -> list[int]:
    if not isinstance(value, list) or not all(type(item) is int for item in value):
        raise Rejected(f"the heartbeat answer's {key!r} is not a list of attempt ids")
    return value


def _detail(text: str) -> str:
    """The one-line reason of an error answer: FastAPI's `detail`, or the start of the body."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    detail = data.get("detail") if isinstance(data, dict) else None
    reason = detail if isinstance(detail, str) else text if detail is None else json.dumps(detail)
    return " ".join(reason.split())[:DETAIL_CHARS] or "(no details)"
