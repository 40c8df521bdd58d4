"""`POST /api/deliveries/{id}/redeliver` through a real server: a stored delivery ingested again, as a new one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from ingest_support import Upstream, push_payload
from server_support import WEBHOOK_SECRET, bearer, make_config, serve, sign

from plue.server.app import create_app
from plue.store import Store

ON_PUSH = """\
from plue import Plan, Step, Trigger


def workflow():
    return Plan("CI", steps=[Step.bash("test", "make test")], triggers=[Trigger.on_push(branch="main")])
"""


@dataclass
class Site:
    client: httpx.Client
    store: Store
    upstream: Upstream
    write: dict[str, str]
    read: dict[str, str]

    def deliver(self, payload: dict[str, object], delivery: str, event: str = "push") -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(body, WEBHOOK_SECRET),
        }
        return self.client.post("/webhooks/github", content=body, headers=headers)

    def redeliver(self, delivery: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.client.post(
            f"/api/deliveries/{delivery}/redeliver", headers=self.write if headers is None else headers
        )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    upstream = Upstream(tmp_path / "remote")
    app = create_app(make_config(tmp_path / "data", {upstream.name: upstream.url}), start_background=False)
    store: Store = app.state.plue.store
    write = bearer(store.create_token("writer", "write"))
    read = bearer(store.create_token("reader", "read"))
    with serve(app) as running, httpx.Client(base_url=running.url, timeout=60) as client:
        yield Site(client, store, upstream, write, read)


def test_a_redelivery_queues_the_runs_again_under_a_new_delivery_id(site: Site) -> None:
    sha = site.upstream.push({"ci.plue.py": ON_PUSH})
    first = site.deliver(push_payload(site.upstream.name, sha), "abc-1")
    assert first.status_code == 202 and len(first.json()["runs"]) == 1

    again = site.redeliver("abc-1")
    assert again.status_code == 202, again.text
    reply = again.json()
    assert reply["delivery"] == "abc-1-redelivery-1"
    assert (reply["outcome"], reply["duplicate"]) == ("queued", False)
    assert reply["reason"] == "redelivery of abc-1"
    assert len(reply["runs"]) == 1 and reply["runs"] != first.json()["runs"]
    run = site.store.get_run(reply["runs"][0])
    assert run is not None and (run.sha, run.event_name, run.status) == (sha, "push", "queued")

    # A redelivery of a redelivery counts from the first delivery; each is a new delivery.
    third = site.redeliver("abc-1-redelivery-1").json()
    assert third["delivery"] == "abc-1-redelivery-2"
    assert third["reason"] == "redelivery of abc-1-redelivery-1"
    listed = site.client.get("/api/deliveries", headers=site.read).json()["deliveries"]
    assert [item["delivery_id"] for item in listed] == ["abc-1-redelivery-2", "abc-1-redelivery-1", "abc-1"]
    assert len({run_id for item in listed for run_id in item["run_ids"]}) == 3


def test_a_redelivery_of_an_ignored_delivery_is_recorded_with_its_reason(site: Site) -> None:
    ping = site.deliver({"zen": "Keep it logically awesome.", "hook_id": 1}, "ping-1", event="ping")
    assert ping.json()["outcome"] == "ignored"
    reply = site.redeliver("ping-1").json()
    assert (reply["delivery"], reply["outcome"], reply["runs"]) == ("ping-1-redelivery-1", "ignored", [])
    assert reply["reason"] == "redelivery of ping-1; ping"


def test_unknown_deliveries_and_low_scopes_are_refused(site: Site) -> None:
    missing = site.redeliver("nope")
    assert (missing.status_code, missing.json()["detail"]) == (404, "no delivery nope")
    site.deliver({"zen": "z", "hook_id": 1}, "ping-2", event="ping")
    assert site.redeliver("ping-2", headers=site.read).status_code == 403
    assert site.redeliver("ping-2", headers={}).status_code == 401
    assert [
        item["delivery_id"] for item in site.client.get("/api/deliveries", headers=site.read).json()["deliveries"]
    ] == ["ping-2"]
