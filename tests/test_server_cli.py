"""`plue token create|list|revoke` and `plue server` as real processes: the token made by the CLI opens the
API of the server started by the CLI, which stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx


def plue_env(data_dir: Path) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PLUE_")}
    return environment | {"PLUE_DATA_DIR": str(data_dir), "PLUE_WEBHOOK_SECRET": "s", "PLUE_WORKERS": "1"}


def plue(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plue", *args],
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        env=plue_env(data_dir),
        timeout=120,
    )


def test_tokens_are_created_listed_and_revoked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = plue(["token", "create", "deploy-bot", "--scope", "write"], data)
    assert made.returncode == 0, made.stderr
    assert re.fullmatch(r"plue_[A-Za-z0-9_-]{40}\n", made.stdout)
    assert "shown only this once" in made.stderr

    again = plue(["token", "create", "deploy-bot"], data)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr

    listed = plue(["token", "list", "--json"], data)
    tokens = json.loads(listed.stdout)
    assert [(item["name"], item["scope"], item["revoked"]) for item in tokens] == [("deploy-bot", "write", False)]
    assert made.stdout.strip() not in listed.stdout
    assert "deploy-bot" in plue(["token", "list"], data).stdout

    assert plue(["token", "revoke", "deploy-bot"], data).returncode == 0
    assert json.loads(plue(["token", "list", "--json"], data).stdout)[0]["revoked"] is True
    missing = plue(["token", "revoke", "deploy-bot"], data)
    assert missing.returncode == 2
    assert missing.stderr == "plue: error: no active token named 'deploy-bot'; see plue token list\n"

    bad_scope = plue(["token", "create", "x", "--scope", "root"], data)
    assert bad_scope.returncode == 2


def test_a_bad_configuration_is_one_message_listing_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "plue.toml"
    config.write_text('workers = "many"\ncatch_up = "sometimes"\n')
    result = plue(["server", "--config", str(config)], tmp_path / "data")
    assert result.returncode == 2
    assert "workers" in result.stderr and "catch_up" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_server_serves_the_api_with_a_cli_token_and_stops_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = plue(["token", "create", "reader"], data).stdout.strip()
    server = subprocess.Popen(
        [sys.executable, "-m", "plue", "server", "--host", "127.0.0.1", "--port", "0"],
        cwd=tmp_path,
        env=plue_env(data),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        url = None
        seen = []
        for line in server.stderr:  # uvicorn says where it listens once it does
            seen.append(line)
            found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if found:
                url = found.group(1)
                break
        assert url is not None, "".join(seen)
        with httpx.Client(base_url=url, timeout=60) as client:
            assert client.get("/healthz").json()["status"] == "ok"
            assert client.get("/api/runs").status_code == 401
            runs = client.get("/api/runs", headers={"Authorization": f"Bearer {token}"})
            assert runs.status_code == 200
            assert runs.json() == {"runs": [], "next": None}
        server.send_signal(signal.SIGTERM)
        rest = server.stderr.read()
        # uvicorn shuts down (the lifespan stops workers and scheduler), then ends by the signal it
        # caught, as a service manager expects.
        assert server.wait(60) == -signal.SIGTERM, rest
        assert "Traceback" not in rest
        assert "Application shutdown complete" in rest
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
