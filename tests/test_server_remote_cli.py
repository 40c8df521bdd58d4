"""The CLI against a real server (`PLUE_SERVER`/`PLUE_TOKEN`): `plue run list|view|logs|cancel|rerun` and
`plue workflow run --server`, run as subprocesses, with the server's own workers executing the runs.

Outputs are compared with the same commands run locally on the server's database: remote mode must
look exactly like local mode."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ingest_support import Upstream
from server_support import make_config, serve

from plue.server.app import create_app
from plue.store import Store

WORKFLOWS = {
    "ok.plue.py": """\
from plue import Plan, Step, Trigger


def workflow(ctx):
    greeting = ctx.inputs["greeting"] if ctx.inputs else "hello"
    build = Step.bash("build", "echo " + greeting + "; echo note >&2; echo version=1.2 >> $PLUE_OUTPUT")
    return Plan(
        "Ok",
        steps=[build, Step.bash("test", "echo tested", depends_on=[build])],
        triggers=[Trigger.manual(inputs={"greeting": {"type": "string", "default": "hello"}})],
    )
""",
    "bad.plue.py": """\
from plue import Plan, Step, Trigger


def workflow():
    first = Step.bash("first", "echo fine")
    broken = Step.bash("broken", "echo about to fail; exit 3", depends_on=[first])
    return Plan(
        "Bad",
        steps=[first, broken, Step.bash("after", "echo never", depends_on=[broken])],
        triggers=[Trigger.manual()],
    )
""",
}

# `gated` waits on a FIFO the test writes to only once it has seen the run's first line.
GATED = """\
from plue import Plan, Step, Trigger


def workflow():
    return Plan("Gated", steps=[Step.bash("wait", "echo waiting; read line < {gate}; echo released")],
                triggers=[Trigger.manual()])
"""


@dataclass
class Site:
    url: str
    store: Store
    token: str
    cwd: Path
    gate: Path

    def env(self, **changes: str | None) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PLUE_")}
        env.update({"PLUE_SERVER": self.url, "PLUE_TOKEN": self.token, "NO_COLOR": "1"})
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def plue(self, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "plue", *args],
            cwd=self.cwd,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def local(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The same command on the server's database, without the server."""
        return self.plue(*args, PLUE_SERVER=None, PLUE_TOKEN=None, PLUE_DATABASE_URL=self.store.url)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "plue", *args],
            cwd=self.cwd,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    upstream = Upstream(tmp_path / "remote")
    upstream.push({**WORKFLOWS, "gated.plue.py": GATED.format(gate=gate)})
    app = create_app(make_config(tmp_path / "data", {upstream.name: upstream.url}, workers=2))
    store: Store = app.state.plue.store
    cwd = tmp_path / "elsewhere"  # not a repository: nothing local to fall back on
    cwd.mkdir()
    with serve(app) as running:
        yield Site(running.url, store, store.create_token("cli", "write"), cwd, gate)


def dispatch(site: Site, workflow: str, *args: str) -> int:
    result = site.plue("workflow", "run", workflow, "--repository", "octo/app", "--no-follow", *args)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("queued run ")
    return int(first.split()[2])


def test_workflow_run_on_a_server_shows_the_run_as_a_local_run_does_and_exits_with_its_status(site: Site) -> None:
    ok = site.plue("workflow", "run", "ok", "--repository", "octo/app", "--input", "greeting=bonjour")
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    run_id = int(lines[0].split()[2])
    assert lines[1] == f"==> Ok · run {run_id} · octo/app"
    assert "==> build started" in lines
    assert "[build] bonjour" in lines
    assert "[build:stderr] note" in lines
    assert lines.index("==> build started") < lines.index("[build] bonjour") < lines.index("==> test started")
    assert any(line.startswith(f"run {run_id} success in ") and "2 steps (2 success)" in line for line in lines)
    assert lines[-1] == f"details: plue run view {run_id}"

    bad = site.plue("workflow", "run", "bad.plue.py", "--repository", "octo/app", "--server", site.url)
    assert bad.returncode == 1, bad.stderr
    assert "  broken failed (exit code 3)" in bad.stdout.splitlines()
    assert any(line.startswith("==> after skipped (") for line in bad.stdout.splitlines())


def test_list_view_and_logs_print_exactly_what_the_local_store_prints(site: Site) -> None:
    ok = dispatch(site, "ok")
    bad = dispatch(site, "bad")
    for run_id in (ok, bad):
        assert site.plue("run", "logs", str(run_id), "--follow").returncode in (0, 1)

    for command in (
        ("run", "list"),
        ("run", "list", "--json"),
        ("run", "list", "--status", "failed", "-L", "1"),
        ("run", "view", str(ok)),
        ("run", "view", str(bad), "--json"),
        ("run", "logs", str(ok)),
        ("run", "logs", str(ok), "--step", "build"),
        ("run", "logs", str(bad), "--attempt", "1"),
    ):
        remote, local = site.plue(*command), site.local(*command)
        assert (remote.returncode, remote.stdout) == (local.returncode, local.stdout), command
        assert remote.stderr == "", remote.stderr
    view = site.plue("run", "view", str(ok)).stdout
    assert "version=1.2" in view
    assert site.plue("run", "logs", str(ok)).stdout.splitlines() == [
        "[build] hello",
        "[build:stderr] note",
        "[test] tested",
    ]
    followed = site.plue("run", "logs", str(bad), "-f")
    assert followed.returncode == 1
    assert "[broken] about to fail" in followed.stdout.splitlines()


def test_logs_follow_streams_a_running_run_until_it_ends(site: Site) -> None:
    run_id = dispatch(site, "gated")
    follower = site.popen("run", "logs", str(run_id), "--follow")
    assert follower.stdout is not None
    assert follower.stdout.readline() == "[wait] waiting\n"  # the run is still going: it waits on the gate
    with open(site.gate, "w") as gate:
        gate.write("go\n")
    rest, errors = follower.communicate(timeout=120)
    assert rest.splitlines() == ["[wait] released"]
    assert (follower.returncode, errors) == (0, "")


def test_cancel_stops_a_running_run_and_refuses_a_finished_one(site: Site) -> None:
    run_id = dispatch(site, "gated")
    follower = site.popen("run", "logs", str(run_id), "-f")
    assert follower.stdout is not None
    assert follower.stdout.readline() == "[wait] waiting\n"
    cancelled = site.plue("run", "cancel", str(run_id))
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout == f"requested cancellation of run {run_id} (Gated); follow it: plue run logs {run_id} -f\n"
    follower.communicate(timeout=120)
    assert follower.returncode == 1  # the run ended cancelled
    run = site.store.get_run(run_id)
    assert run is not None and run.status == "cancelled"
    again = site.plue("run", "cancel", str(run_id))
    assert again.returncode == 1
    assert again.stderr.startswith("plue: error: server answered 409: ")
    assert "Traceback" not in again.stderr


def test_rerun_failed_runs_only_the_failed_steps_on_the_server(site: Site) -> None:
    first = dispatch(site, "bad")
    assert site.plue("run", "logs", str(first), "-f").returncode == 1
    rerun = site.plue("run", "rerun", str(first), "--failed")
    assert rerun.returncode == 1, rerun.stderr  # broken fails again
    lines = rerun.stdout.splitlines()
    new_id = int(lines[0].split()[2].rstrip(","))
    assert lines[0] == f"queued run {new_id}, a rerun of {first} (failed steps)"
    assert "==> first reused (succeeded in the earlier run)" in lines
    assert "==> broken started" in lines
    child = site.store.get_run(new_id)
    assert child is not None and child.parent_run_id == first and child.status == "failed"

    queued = site.plue("run", "rerun", str(new_id), "--no-follow")
    assert queued.returncode == 0, queued.stderr
    assert queued.stdout.splitlines()[-1].startswith("follow it: plue run logs ")
    refused = site.plue("run", "rerun", str(first), "--secret", "X")
    assert refused.returncode == 2
    assert "--secret cannot be used with a server" in refused.stderr


def test_http_errors_are_one_line_with_the_right_exit_code(site: Site) -> None:
    unknown = site.plue("run", "view", "999")
    assert (unknown.returncode, unknown.stderr) == (2, "plue: error: server answered 404: no run 999\n")

    wrong_token = site.plue("run", "list", PLUE_TOKEN="not-a-token")
    assert wrong_token.returncode == 2
    assert wrong_token.stderr.startswith("plue: error: server answered 401: ")
    assert len(wrong_token.stderr.splitlines()) == 1

    reader = site.store.create_token("reader", "read")
    forbidden = site.plue("run", "rerun", "999", "--no-follow", PLUE_TOKEN=reader)  # scope checked first
    assert forbidden.returncode == 2
    assert forbidden.stderr.startswith("plue: error: server answered 403: ")

    bad_input = site.plue("workflow", "run", "ok", "--repository", "octo/app", "--input", "nope=1")
    assert bad_input.returncode == 2
    assert bad_input.stderr.startswith("plue: error: server answered 422: unknown input 'nope'")

    no_token = site.plue("run", "list", PLUE_TOKEN=None)
    assert no_token.returncode == 2
    assert "needs an API token: set PLUE_TOKEN or pass --token" in no_token.stderr

    with_repo = site.plue("run", "list", "--repo", str(site.cwd))
    assert with_repo.returncode == 2
    assert "--repo names a local store" in with_repo.stderr


def test_a_server_that_cannot_be_reached_is_one_clear_line(site: Site) -> None:
    with socket.socket() as sock:  # a port nothing listens on (bound, never listening)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        result = site.plue("run", "list", "--server", url)
    assert result.returncode == 1
    assert result.stderr.startswith(f"plue: error: cannot reach the Plue server at {url}: ")
    assert len(result.stderr.splitlines()) == 1
    not_a_url = site.plue("run", "list", PLUE_SERVER="localhost:8080")
    assert not_a_url.returncode == 2
    assert "is not an http:// or https:// URL" in not_a_url.stderr
