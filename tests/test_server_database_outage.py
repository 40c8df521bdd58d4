"""The database goes away under a running server: webhooks answer 503 (GitHub redelivers), nothing half-stored,
and the same delivery sent again once the database is back queues its runs once."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ingest_support import Upstream, push_payload
from server_support import make_config, serve, sign
from sqlalchemy.engine import make_url
from test_store_support import postgres_schema_url

from plue.server.app import create_app
from plue.store import Store

SECRET = "webhook secret"
ON_PUSH = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    return Plan("CI", steps=[Step.bash("test", "make test")], triggers=[Trigger.on_push(branch="main")])
"""


class Cable:
    """A TCP relay to PostgreSQL that can be unplugged (every connection cut, new ones refused) and plugged
    back on the same port: the database as a server sees it during a network failure or a restart."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def plug(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def unplug(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        for sock in [listener, *sockets]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # unplugged
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from postgres_schema_url()


def test_a_database_outage_answers_503_and_the_redelivery_queues_once(pg_url: str, tmp_path: Path) -> None:
    direct = make_url(pg_url)
    cable = Cable((direct.host or "127.0.0.1", direct.port or 5432))
    cable.plug()
    url = direct.set(port=cable.port).render_as_string(hide_password=False)
    upstream = Upstream(tmp_path / "remote")
    sha = upstream.push({"ci.plue.py": ON_PUSH})
    config = make_config(
        tmp_path / "data", {upstream.name: upstream.url}, database_url=url, webhook_secrets=(SECRET.encode(),)
    )
    body = json.dumps(push_payload(upstream.name, sha)).encode()

    def deliver(server_url: str, delivery: str) -> httpx.Response:
        headers = {"X-Hub-Signature-256": sign(body, SECRET), "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery}
        return httpx.post(server_url + "/webhooks/github", content=body, headers=headers, timeout=60)

    try:
        with Store.open(url=url) as store, serve(create_app(config, store=store, start_background=False)) as server:
            first = deliver(server.url, "before")
            assert first.status_code == 202 and first.json()["outcome"] == "queued"

            cable.unplug()  # the plan is remembered: only the store needs the database
            down = deliver(server.url, "during")
            assert down.status_code == 503
            assert "the database is unavailable, redeliver later" in down.json()["detail"]

            cable.plug()
            again = deliver(server.url, "during")  # GitHub's redelivery
            assert again.status_code == 202 and again.json()["outcome"] == "queued"
            assert again.json()["duplicate"] is False  # the refused attempt stored nothing
            assert deliver(server.url, "during").json()["duplicate"] is True
            runs = [run for run in store.list_runs(limit=10) if run.delivery_id in ("before", "during")]
            assert sorted(run.delivery_id or "" for run in runs) == ["before", "during"]
    finally:
        cable.unplug()
