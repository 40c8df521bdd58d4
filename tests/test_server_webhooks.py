"""POST /webhooks/github through a real uvicorn server: signature first, size limits, runs queued once per delivery."""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from ingest_support import Upstream, push_payload
from server_support import RunningServer, make_config, serve, sign

from plue.server import webhooks
from plue.server.app import create_app
from plue.server.config import RepositoryConfig, ServerConfig
from plue.store import Store

SECRET = "webhook secret"

ON_PUSH = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    return Plan("CI", steps=[Step.bash("test", "make test")], triggers=[Trigger.on_push(branch="main")])
"""


@dataclass
class Site:
    server: RunningServer
    store: Store
    upstream: Upstream

    @property
    def url(self) -> str:
        return self.server.url + "/webhooks/github"

    def deliver(
        self,
        body: bytes,
        *,
        event: str | None = "push",
        delivery: str | None = "d-1",
        signature: str | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        headers = {"Content-Type": content_type, "X-Hub-Signature-256": signature or sign(body, SECRET)}
        if event is not None:
            headers["X-GitHub-Event"] = event
        if delivery is not None:
            headers["X-GitHub-Delivery"] = delivery
        return httpx.post(self.url, content=body, headers=headers, timeout=60)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    upstream = Upstream(tmp_path / "remote")
    config = ServerConfig(
        database_url=None,
        data_dir=tmp_path / "data",
        webhook_secrets=(SECRET.encode(),),
        repositories={upstream.name: RepositoryConfig(upstream.name, upstream.url)},
    )
    store = Store.open(url=config.store_url)
    try:
        with serve(create_app(config, store=store, start_background=False)) as server:
            yield Site(server, store, upstream)
    finally:
        store.close()


def test_a_signed_push_queues_its_runs_once(site: Site) -> None:
    sha = site.upstream.push({"ci.plue.py": ON_PUSH})
    body = json.dumps(push_payload(site.upstream.name, sha)).encode()
    first = site.deliver(body)
    assert first.status_code == 202, first.text
    reply = first.json()
    assert (reply["delivery"], reply["outcome"], reply["reason"], reply["duplicate"]) == ("d-1", "queued", None, False)
    [run_id] = reply["runs"]
    run = site.store.get_run(run_id)
    assert run is not None
    assert (run.status, run.sha, run.delivery_id, run.workflow_name) == ("queued", sha, "d-1", "CI")

    again = site.deliver(body)
    assert again.status_code == 202
    assert again.json() == {**reply, "duplicate": True}
    assert [r.id for r in site.store.list_runs()] == [run_id]


def test_a_form_encoded_delivery_is_accepted(site: Site) -> None:
    sha = site.upstream.push({"ci.plue.py": ON_PUSH})
    payload = json.dumps(push_payload(site.upstream.name, sha))
    body = urllib.parse.urlencode({"payload": payload}).encode()
    response = site.deliver(body, content_type="application/x-www-form-urlencoded", delivery="form-1")
    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "queued"


def test_ping_and_unknown_repositories_are_accepted_and_ignored(site: Site) -> None:
    ping = site.deliver(b'{"zen": "Design for failure.", "hook_id": 1}', event="ping", delivery="p-1")
    assert ping.status_code == 202
    assert (ping.json()["outcome"], ping.json()["reason"]) == ("ignored", "ping")
    other = site.deliver(json.dumps(push_payload("octo/other", "a" * 40)).encode(), delivery="o-1")
    assert other.status_code == 202
    assert other.json()["reason"] == "repository octo/other is not configured"
    assert {d.delivery_id for d in site.store.list_deliveries()} == {"p-1", "o-1"}


def test_a_bad_signature_is_refused_before_the_body_is_parsed(site: Site) -> None:
    body = b"this is not even JSON"
    wrong = site.deliver(body, signature=sign(body, "another secret"))
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "the X-Hub-Signature-256 signature does not match the body"}
    missing = httpx.post(site.url, content=body, headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": "x"})
    assert missing.status_code == 401
    assert "missing X-Hub-Signature-256" in missing.json()["detail"]
    assert site.store.list_deliveries() == []


@pytest.mark.parametrize(
    ("kwargs", "body", "detail"),
    [
        ({"event": None}, b"{}", "missing X-GitHub-Event header"),
        ({"delivery": None}, b"{}", "missing X-GitHub-Delivery header"),
        ({"delivery": "bad id with spaces"}, b"{}", "malformed X-GitHub-Delivery header"),
        (
            {},
            b"{not json",
            "the payload is not valid JSON: Expecting property name enclosed in double quotes at line 1",
        ),
        ({}, b"[1, 2]", "the payload must be a JSON object"),
    ],
)
def test_bad_requests_get_a_400_with_one_sentence(
    site: Site, kwargs: dict[str, str | None], body: bytes, detail: str
) -> None:
    response = site.deliver(body, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert site.store.list_deliveries() == []


def raw_request(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send `head` (and `body`) on a fresh connection; everything the server answers until it closes or replies."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(head + body)
        received = b""
        while b"\r\n\r\n" not in received or not received.split(b"\r\n\r\n", 1)[1]:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_a_large_delivery_is_decided_in_a_thread_with_the_same_outcome(site: Site) -> None:
    """Past `INLINE_DECIDE_MAX_BYTES` the payload is parsed and decided off the event loop: same answers."""
    sha = site.upstream.push({"ci.plue.py": ON_PUSH})
    payload = push_payload(site.upstream.name, sha)
    small = site.deliver(json.dumps(payload).encode(), delivery="small-1")  # the tree and plan are remembered now
    payload["padding"] = "x" * (webhooks.INLINE_DECIDE_MAX_BYTES + 1)
    body = json.dumps(payload).encode()
    large = site.deliver(body, delivery="large-1")
    assert small.status_code == large.status_code == 202
    assert large.json()["outcome"] == "queued" and len(large.json()["runs"]) == 1
    assert site.deliver(body, delivery="large-1").json()["duplicate"] is True
    broken = site.deliver(body[:-1], delivery="large-2")
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["detail"]
    stored = site.store.get_delivery("large-1")
    assert stored is not None and stored.payload is not None and len(stored.payload["padding"]) > 512 * 1024


def test_a_declared_oversized_body_is_refused_without_being_read(site: Site) -> None:
    head = (
        b"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-GitHub-Event: push\r\nX-GitHub-Delivery: big\r\nX-Hub-Signature-256: sha256=00\r\n"
        + f"Content-Length: {26 * 1024 * 1024}\r\n\r\n".encode()
    )
    answer = raw_request(site.server.port, head)  # no body is ever sent: the server answers from the header
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"the body is larger than the 25 MiB limit" in answer


def test_a_chunked_body_is_counted_while_it_is_read(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "MAX_BODY_BYTES", 1024)  # small, so the whole request fits one socket write
    body = b"x" * 4096
    head = (
        b"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-GitHub-Event: push\r\nX-GitHub-Delivery: chunked\r\nTransfer-Encoding: chunked\r\n"
        + f"X-Hub-Signature-256: {sign(body, SECRET)}\r\n\r\n".encode()
    )
    chunked = b"".join(b"%x\r\n%s\r\n" % (512, body[i : i + 512]) for i in range(0, len(body), 512)) + b"0\r\n\r\n"
    answer = raw_request(site.server.port, head, chunked)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert site.store.list_deliveries() == []

    monkeypatch.setattr(webhooks, "MAX_BODY_BYTES", 8192)  # the same request under a larger limit gets through
    answer = raw_request(site.server.port, head, chunked)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]  # signed and complete: only then is it parsed
    assert b"not valid JSON" in answer


def test_the_declared_route_answers_as_the_fast_path_and_is_documented(tmp_path: Path) -> None:
    """The middleware takes deliveries before FastAPI's router; the route it shadows answers the same."""
    from fastapi import FastAPI

    upstream = Upstream(tmp_path / "remote")
    config = make_config(tmp_path / "data", {upstream.name: upstream.url}, webhook_secrets=(SECRET.encode(),))
    store = Store.open(url=config.store_url)
    sha = upstream.push({"ci.plue.py": ON_PUSH})
    body = json.dumps(push_payload(upstream.name, sha)).encode()
    try:
        full = create_app(config, store=store, start_background=False)
        operation = full.openapi()["paths"]["/webhooks/github"]["post"]
        assert operation["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("WebhookReply")
        plain = FastAPI()  # the declared route alone, no middleware, the same state
        plain.state.plue = full.state.plue
        plain.include_router(webhooks.router)
        answers = []
        for app, delivery in ((full, "fast-1"), (plain, "route-1")):
            with serve(app) as server:
                url = server.url + "/webhooks/github"
                headers = {"X-Hub-Signature-256": sign(body, SECRET), "X-GitHub-Event": "push"}
                good = httpx.post(url, content=body, headers={**headers, "X-GitHub-Delivery": delivery}, timeout=60)
                bad = httpx.post(url, content=body + b" ", headers={**headers, "X-GitHub-Delivery": delivery})
                answers.append((good.status_code, good.json(), bad.status_code, bad.json()))
        (fast, route) = answers
        assert fast[0] == route[0] == 202 and fast[2] == route[2] == 401 and fast[3] == route[3]
        assert fast[1]["outcome"] == route[1]["outcome"] == "queued"
        assert set(fast[1]) == set(route[1]) == {"delivery", "outcome", "reason", "runs", "duplicate"}
        assert store.get_delivery("fast-1") is not None and store.get_delivery("route-1") is not None
    finally:
        full.state.plue.deliveries.close()
        store.close()
