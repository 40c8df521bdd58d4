"""`plue server` as a real process (`python -m plue server --port 0`) under the failures it must survive.

Signed deliveries of the sample payloads; one delivery id sent again and concurrently (one set of runs);
`kill -9` in the middle of a burst of deliveries, then every one sent again (nothing queued twice); two
server processes on one PostgreSQL firing the same schedule ticks (each tick once), and the tick claim
itself raced by several processes at the store level. Workers are off (`workers = 0`): what is measured is
what the server records, and queued runs stay queued where the test can see them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from croniter import croniter
from ingest_support import (
    Upstream,
    fixture_payload,
    issues_payload,
    pull_request_payload,
    push_payload,
    with_repository,
)
from process_support import wait_until
from server_support import sign
from test_store_support import db_url, postgres_schema_url, run_python

from plue.store import Store

__all__ = ["db_url"]  # fixtures

SECRET = "reliability-secret"
START_TIMEOUT = 90.0
LISTENING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")

EVERY_EVENT = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    name = ctx.event.name if ctx.event else "nothing"  # triggers are read with no event
    return Plan(
        "Every event",
        steps=[Step.bash("show", "echo " + name)],
        triggers=[
            Trigger.on_push(branch="main"),
            Trigger.on_pull_request(),
            Trigger.on_issue(),
            Trigger.on_issue_comment(),
        ],
    )
"""

ON_PUSH = """\
from plue import Plan, Step, Trigger


def workflow():
    return Plan("CI", steps=[Step.bash("test", "make test")], triggers=[Trigger.on_push(branch="main")])
"""

EVERY_MINUTE = """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    return Plan("Minutely", steps=[Step.bash("tick", "true")], triggers=[Trigger.on_schedule("* * * * *")])
"""


# --- the server process ---------------------------------------------------------------------------


@dataclass
class ServerProcess:
    """One `plue server` process; its stdout and stderr go to `log` (a file: a pipe nobody reads would block it)."""

    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """`kill -9`: no shutdown of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Site:
    """An upstream repository and the configuration of the servers that serve it."""

    root: Path
    upstream: Upstream
    database_url: str | None  # None: SQLite in the data directory
    servers: list[ServerProcess] = field(default_factory=list)

    def config(self, name: str = "server", *, catch_up: str = "latest") -> Path:
        """A configuration file with its own data directory (each server process keeps its own mirrors)."""
        path = self.root / f"{name}.toml"
        path.write_text(
            f'data_dir = "{name}-data"\nwebhook_secret = "{SECRET}"\nworkers = 0\ncatch_up = "{catch_up}"\n'
            f'[repositories."{self.upstream.name}"]\nurl = "{self.upstream.url}"\n'
        )
        return path

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.root / 'server-data' / 'plue.db'}"

    def start(self, config: Path | None = None) -> ServerProcess:
        """Start `plue server` on a free port; return once it says where it listens and /healthz answers."""
        server = self.spawn(config or self.config())
        self.wait_ready(server)
        return server

    def spawn(self, config: Path) -> ServerProcess:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PLUE_")}
        if self.database_url is not None:
            environment["PLUE_DATABASE_URL"] = self.database_url
        log = self.root / f"{config.stem}-{len(self.servers)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "plue", "server", "--config", str(config), "--port", "0"],
                cwd=self.root,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = ServerProcess(process, log)
        self.servers.append(server)
        return server

    def wait_ready(self, server: ServerProcess) -> None:
        wait_until(
            lambda: server.process.poll() is not None or LISTENING.search(server.output()) is not None,
            "the server to listen",
            START_TIMEOUT,
        )
        found = LISTENING.search(server.output())
        assert server.process.poll() is None and found is not None, server.output()
        server.url = found.group(1)
        wait_until(lambda: healthy(server.url), "/healthz to answer", START_TIMEOUT)

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


def healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def deliver(url: str, event: str, delivery: str, payload: dict[str, Any], client: httpx.Client | None = None) -> Any:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body, SECRET),
    }
    post = client.post if client is not None else httpx.post
    return post(url + "/webhooks/github", content=body, headers=headers, timeout=120)


def open_store(site: Site) -> Store:
    return Store.open(url=site.store_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    database: Iterator[str] | None = postgres_schema_url() if request.param == "postgresql" else None
    made = Site(tmp_path, Upstream(tmp_path / "remote"), None if database is None else next(database))
    try:
        yield made
    finally:
        made.stop_all()
        if database is not None:
            next(database, None)  # drops the schema


@pytest.fixture
def sqlite_site(tmp_path: Path) -> Iterator[Site]:
    made = Site(tmp_path, Upstream(tmp_path / "remote"), None)
    try:
        yield made
    finally:
        made.stop_all()


@pytest.fixture
def postgres_site(tmp_path: Path) -> Iterator[Site]:
    database = postgres_schema_url()
    made = Site(tmp_path, Upstream(tmp_path / "remote"), next(database))
    try:
        yield made
    finally:
        made.stop_all()
        next(database, None)


# --- deliveries -----------------------------------------------------------------------------------


def test_signed_sample_payloads_queue_runs_at_their_commits(sqlite_site: Site) -> None:
    site, name = sqlite_site, sqlite_site.upstream.name
    main = site.upstream.push({"every.plue.py": EVERY_EVENT})
    head = site.upstream.push({"feature.txt": "more\n"}, branch="feature")
    comment = with_repository(fixture_payload("issue_comment.created.json"), name)
    comment["repository"]["default_branch"] = "main"
    server = site.start()

    sent = {
        "push": ("push", push_payload(name, main)),
        "pr": ("pull_request", pull_request_payload(name, head, main)),
        "issue": ("issues", issues_payload(name)),
        "comment": ("issue_comment", comment),
    }
    replies = {delivery: deliver(server.url, event, delivery, payload) for delivery, (event, payload) in sent.items()}
    for reply in replies.values():
        assert reply.status_code == 202, reply.text
        assert (reply.json()["outcome"], reply.json()["duplicate"], len(reply.json()["runs"])) == (
            "queued",
            False,
            1,
        ), reply.text

    ping = deliver(server.url, "ping", "ping-1", {"zen": "Keep it logically awesome.", "hook_id": 1})
    other = deliver(server.url, "push", "elsewhere", push_payload("octo/unknown", main))
    unhandled = deliver(server.url, "watch", "star-1", with_repository(fixture_payload("push.json"), name))
    assert [(r.status_code, r.json()["outcome"], r.json()["runs"]) for r in (ping, other, unhandled)] == [
        (202, "ignored", [])
    ] * 3
    unsigned = httpx.post(
        server.url + "/webhooks/github",
        content=b"{}",
        headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": "forged"},
        timeout=60,
    )
    assert unsigned.status_code == 401

    with open_store(site) as store:
        runs = {run.delivery_id: run for run in store.list_runs()}
        assert sorted(runs) == sorted(sent)
        assert {key: (run.event_name, run.sha, run.status) for key, run in runs.items()} == {
            "push": ("push", main, "queued"),
            "pr": ("pull_request", head, "queued"),
            "issue": ("issues", main, "queued"),  # issues and comments run the default branch's head
            "comment": ("issue_comment", main, "queued"),
        }
        for key, run in runs.items():
            assert run.plan is not None and run.plan["steps"][0]["cmd"] == f"echo {sent[key][0]}"
        recorded = {record.delivery_id: record.outcome for record in store.list_deliveries()}
        assert recorded == {
            **dict.fromkeys(sent, "queued"),
            **dict.fromkeys(["ping-1", "elsewhere", "star-1"], "ignored"),
        }
        assert "forged" not in recorded


def test_one_delivery_sent_again_and_concurrently_queues_one_set_of_runs(site: Site) -> None:
    sha = site.upstream.push({"ci.plue.py": ON_PUSH, "every.plue.py": EVERY_EVENT})
    server = site.start()
    payload = push_payload(site.upstream.name, sha)
    copies = 12
    ready = threading.Barrier(copies)

    def send(_index: int) -> Any:
        with httpx.Client() as client:
            ready.wait(60)
            return deliver(server.url, "push", "same-delivery", payload, client)

    with ThreadPoolExecutor(copies) as pool:
        replies = list(pool.map(send, range(copies)))
    replies.append(deliver(server.url, "push", "same-delivery", payload))  # and once more, later

    assert {reply.status_code for reply in replies} == {202}
    answers = [reply.json() for reply in replies]
    assert sorted(answer["duplicate"] for answer in answers) == [False] + [True] * copies
    assert len({tuple(answer["runs"]) for answer in answers}) == 1  # every copy is told the same runs
    run_ids = answers[0]["runs"]
    assert len(run_ids) == 2
    with open_store(site) as store:
        assert sorted(run.id for run in store.list_runs()) == sorted(run_ids)
        assert [record.delivery_id for record in store.list_deliveries()] == ["same-delivery"]


def test_kill_9_in_a_burst_loses_no_accepted_delivery_and_queues_nothing_twice(site: Site) -> None:
    sha = site.upstream.push({"ci.plue.py": ON_PUSH})
    payload = push_payload(site.upstream.name, sha)
    server = site.start()
    deliveries = [f"burst-{index:02d}-{uuid.uuid4().hex[:8]}" for index in range(50)]
    accepted: dict[str, list[int]] = {}  # delivery -> its runs, for each 2xx reply
    failed: dict[str, str] = {}
    lock = threading.Lock()
    kill_after = 10  # 2xx replies: the kill lands with deliveries in flight and others not sent yet

    def send(delivery: str) -> None:
        try:
            with httpx.Client() as client:
                reply = deliver(server.url, "push", delivery, payload, client)
        except httpx.TransportError as exc:
            with lock:
                failed[delivery] = type(exc).__name__
            return
        with lock:
            if 200 <= reply.status_code < 300:
                accepted[delivery] = reply.json()["runs"]
                if len(accepted) == kill_after:
                    server.kill()
            else:
                failed[delivery] = str(reply.status_code)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, deliveries))
    assert server.process.returncode == -signal.SIGKILL
    assert len(accepted) >= kill_after and failed, (accepted, failed)
    assert all(len(runs) == 1 for runs in accepted.values())

    restarted = site.start()
    with open_store(site) as store:
        for delivery, runs in accepted.items():
            record = store.get_delivery(delivery)
            assert record is not None and list(record.run_ids) == runs, delivery
            [run] = [store.get_run(run_id) for run_id in runs]
            assert run is not None and (run.delivery_id, run.status, run.sha) == (delivery, "queued", sha)
        stored_before = {record.delivery_id for record in store.list_deliveries(limit=100)}
    assert set(accepted) <= stored_before  # and some that got no reply may be stored too

    with ThreadPoolExecutor(8) as pool:
        answers = pool.map(lambda delivery: deliver(restarted.url, "push", delivery, payload), deliveries)
        replies = dict(zip(deliveries, answers, strict=True))
    assert {reply.status_code for reply in replies.values()} == {202}
    for delivery, reply in replies.items():
        answer = reply.json()
        assert answer["outcome"] == "queued" and len(answer["runs"]) == 1, answer
        assert answer["duplicate"] is (delivery in stored_before), delivery
        if delivery in accepted:
            assert answer["runs"] == accepted[delivery]

    with open_store(site) as store:
        runs = store.list_runs(limit=200)
        assert len(runs) == len(deliveries)
        assert Counter(run.delivery_id for run in runs) == Counter(deliveries)
        assert {run.status for run in runs} == {"queued"}


# --- schedules ------------------------------------------------------------------------------------

TICK_CLAIMER = """
import sys
from plue.store import Store

with Store.open(url=sys.argv[1]) as store:
    print("ready", flush=True)
    sys.stdin.readline()
    won = [tick for tick in range(1000, 1200) if store.fire_schedule("octo/app:nightly.plue.py:* * * * *:UTC", tick)]
    print(" ".join(map(str, won)), flush=True)
"""


def test_processes_racing_for_the_same_ticks_fire_each_once(db_url: str) -> None:
    with Store.open(url=db_url):
        pass  # migrated once here
    processes = [run_python(TICK_CLAIMER, db_url) for _ in range(4)]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    for process in processes:  # all at once, as far as the OS lets them
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    won: list[int] = []
    for process in processes:
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0
        won += [int(tick) for tick in out.split()]
    assert sorted(won) == list(range(1000, 1200))  # every tick fired, none twice
    with Store.open(url=db_url) as store:
        assert store.last_schedule_tick("octo/app:nightly.plue.py:* * * * *:UTC") == 1199.0


def test_two_servers_on_one_postgresql_fire_each_due_tick_once(postgres_site: Site) -> None:
    site = postgres_site
    sha = site.upstream.push({"minutely.plue.py": EVERY_MINUTE})
    key = f"{site.upstream.name}:minutely.plue.py:* * * * *:UTC"
    started = datetime.now(UTC).timestamp()
    # The schedule last fired ten minutes ago: every minute since is due at once, in both processes.
    seeded = float(croniter("* * * * *", datetime.fromtimestamp(started, UTC)).get_prev(float)) - 600
    due = [seeded + 60 * minute for minute in range(1, 11)]
    with open_store(site) as store:
        assert store.fire_schedule(key, seeded)

    configs = [site.config(name, catch_up="all") for name in ("left", "right")]
    servers = [site.spawn(config) for config in configs]  # both start together
    for server in servers:
        site.wait_ready(server)
    indexed = f"{site.upstream.name} at {sha[:12]}: 1 schedule"
    for server in servers:  # each process has made its first pass: built its index and fired what it could
        wait_until(lambda server=server: indexed in server.output(), "the scheduler's first pass", START_TIMEOUT)

    with open_store(site) as store:
        runs = [run for run in store.list_runs(limit=500) if run.event_name == "schedule"]
        last = store.last_schedule_tick(key)
    assert last is not None
    fired = [_scheduled_at(run.event) for run in runs]
    assert Counter(fired).most_common(1)[0][1] == 1, fired  # no tick queued twice
    # Every due tick, and any minute that passed since, queued exactly one run.
    expected = due + [seeded + 60 * minute for minute in range(11, int((last - seeded) // 60) + 1)]
    assert sorted(fired) == expected
    assert {(run.sha, run.status, run.workflow_name) for run in runs} == {(sha, "queued", "Minutely")}
    for server in servers:
        assert "Traceback" not in server.output()


def _scheduled_at(event: dict[str, Any] | None) -> float:
    assert event is not None
    text = event["payload"]["scheduled_at"]
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
