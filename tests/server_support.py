"""A real uvicorn server for tests (no tests here): `serve(app)` runs it in a thread on 127.0.0.1 port 0.

    with serve(create_app(make_config(tmp_path), start_background=False)) as server:
        httpx.get(server.url + "/healthz")

The lifespan runs as in production (startup before `serve` returns, shutdown before it exits).
`sign(body, secret)` is the `X-Hub-Signature-256` GitHub would send for `body`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from plue.server.config import RepositoryConfig, ServerConfig

START_TIMEOUT = 30.0
WEBHOOK_SECRET = "test-webhook-secret"


def make_config(data_dir: Path, repositories: dict[str, str] | None = None, **overrides: Any) -> ServerConfig:
    """A server config with its data (SQLite database, mirrors) in `data_dir`; `repositories`: name -> url."""
    repos = {name: RepositoryConfig(name=name, url=url) for name, url in (repositories or {}).items()}
    values: dict[str, Any] = {
        "database_url": None,
        "data_dir": data_dir,
        "webhook_secrets": (WEBHOOK_SECRET.encode(),),
        "repositories": repos,
        "workers": 1,
    }
    values.update(overrides)
    return ServerConfig(**values)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign(body: bytes, secret: str | bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class _Server(uvicorn.Server):
    """A uvicorn server that says when it listens (or failed to start)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29 calls this; the thread cannot take signals
        pass


@dataclass
class RunningServer:
    url: str  # http://127.0.0.1:PORT
    port: int
    server: uvicorn.Server


@contextmanager
def serve(app: Any) -> Iterator[RunningServer]:
    """Run `app` under uvicorn in a thread until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = _Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as exc:  # e.g. SystemExit from a failed lifespan startup
            failure.append(exc)
        finally:
            server.ready.set()  # never leave the caller waiting

    thread = threading.Thread(target=run, name="uvicorn-test-server", daemon=True)
    thread.start()
    if not server.ready.wait(START_TIMEOUT) or failure or not server.started:
        server.should_exit = True
        thread.join(START_TIMEOUT)
        raise RuntimeError(f"the test server did not start: {failure[0] if failure else 'timeout'}")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", port, server)
    finally:
        # Waiting runner claims would hold the shutdown up to claim_wait_seconds: end them first.
        state = getattr(getattr(app, "state", None), "plue", None)
        if state is not None:
            from plue.server.queue_signal import queue_signal

            queue_signal(state).close()
        server.should_exit = True
        thread.join(START_TIMEOUT)
