"""The local pool backend with real processes: its environment, its process group, list and delete."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from process_support import process_gone, wait_until

from plue.runners.backends import BackendError, LocalBackend, RunnerSpec, runner_environment

# A stand-in for `plue runner`: it reports what it got, starts a grandchild in its own process
# group, then waits for signals. MODE=ignore-term makes it ignore SIGTERM; MODE=exit:N exits N.
FAKE_RUNNER = r"""
import json, os, signal, subprocess, sys
mode = os.environ.get("MODE", "")
if mode.startswith("exit:"):
    sys.exit(int(mode[5:]))
if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
stubborn = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); signal.pause()"
grandchild = subprocess.Popen([sys.executable, "-c", stubborn])
report = {
    "argv": sys.argv[1:],
    "env": dict(os.environ),
    "pid": os.getpid(),
    "pgid": os.getpgid(0),
    "sid": os.getsid(0),
    "cwd": os.getcwd(),
    "grandchild": grandchild.pid,
}
path = os.environ["REPORT"]
with open(path + ".tmp", "w") as handle:
    json.dump(report, handle)
os.rename(path + ".tmp", path)
print("runner up", flush=True)
while True:
    signal.pause()
"""


@pytest.fixture
def fake_runner(tmp_path: Path) -> Path:
    path = tmp_path / "fake_runner.py"
    path.write_text(FAKE_RUNNER)
    return path


@pytest.fixture
def local(tmp_path: Path, fake_runner: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(tmp_path / "runners", [sys.executable, str(fake_runner)], kill_grace=2.0)
    try:
        yield backend
    finally:
        backend.close()


def spec(name: str, tmp_path: Path, mode: str = "", labels: tuple[str, ...] = ("linux", "gpu")) -> RunnerSpec:
    return RunnerSpec(
        name=name,
        pool="gpu",
        labels=labels,
        server_url="http://127.0.0.1:9",
        token="plue_secret-token-value",
        env={"REPORT": str(tmp_path / f"{name}.json"), "MODE": mode},
    )


def report_of(tmp_path: Path, name: str) -> dict[str, Any]:
    path = tmp_path / f"{name}.json"
    wait_until(path.exists, f"runner {name} to report")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_a_runner_gets_its_token_in_the_environment_never_on_the_command_line(
    local: LocalBackend, tmp_path: Path
) -> None:
    local.create(spec("gpu-one", tmp_path))
    report = report_of(tmp_path, "gpu-one")
    assert report["env"]["PLUE_TOKEN"] == "plue_secret-token-value"
    assert not any("plue_secret-token-value" in arg for arg in report["argv"])
    cmdline = Path(f"/proc/{report['pid']}/cmdline").read_bytes()
    assert b"plue_secret-token-value" not in cmdline
    workspace = tmp_path / "runners" / "gpu-one"
    assert report["argv"] == [
        "runner",
        "--server",
        "http://127.0.0.1:9",
        "--name",
        "gpu-one",
        "--pool",
        "gpu",
        "--labels",
        "linux,gpu",
        "--work-dir",
        str(workspace),
    ]
    assert report["cwd"] == str(workspace)
    # Its own session and process group: signals to the group reach nothing of the server's.
    assert report["pgid"] == report["pid"] == report["sid"]
    assert os.getpgid(0) != report["pgid"]


def test_the_server_settings_and_secrets_stay_out_of_the_runners_environment(
    tmp_path: Path, fake_runner: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUE_DATABASE_URL", "postgresql://plue:hunter2@db/plue")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-run-secret")
    monkeypatch.setenv("HARMLESS", "kept")
    environ = runner_environment(os.environ, hidden_values=["sk-run-secret"])
    assert "PLUE_DATABASE_URL" not in environ and "ANTHROPIC_API_KEY" not in environ
    assert environ["HARMLESS"] == "kept"

    default = LocalBackend(tmp_path / "runners", [sys.executable, str(fake_runner)], kill_grace=2.0)
    try:
        default.create(spec("gpu-env", tmp_path, labels=()))
        report = report_of(tmp_path, "gpu-env")
    finally:
        default.close()
    assert "PLUE_DATABASE_URL" not in report["env"]
    assert report["env"]["HARMLESS"] == "kept"
    assert "--labels" not in report["argv"]  # no labels: no empty --labels


def test_list_reports_live_runners_and_exited_ones_until_deleted(local: LocalBackend, tmp_path: Path) -> None:
    assert local.list() == []
    local.create(spec("gpu-live", tmp_path))
    local.create(spec("gpu-quits", tmp_path, mode="exit:3"))
    report_of(tmp_path, "gpu-live")

    def phases() -> dict[str, str]:
        return {runner.name: runner.phase for runner in local.list()}

    wait_until(lambda: phases() == {"gpu-live": "running", "gpu-quits": "exited"}, "gpu-quits to exit")
    by_name = {runner.name: runner for runner in local.list()}
    assert by_name["gpu-quits"].pool == "gpu"
    assert by_name["gpu-quits"].detail is not None and by_name["gpu-quits"].detail.startswith("exit code 3, log ")
    assert by_name["gpu-live"].created_at is not None
    local.delete("gpu-quits")
    assert phases() == {"gpu-live": "running"}
    # Its output is kept in its log after delete (to see why it died).
    assert local.log_path("gpu-live").read_text().strip() == "runner up"
    assert local.log_path("gpu-quits").exists()


def test_delete_stops_the_whole_process_group_and_is_idempotent(local: LocalBackend, tmp_path: Path) -> None:
    local.create(spec("gpu-del", tmp_path))
    report = report_of(tmp_path, "gpu-del")
    workspace = Path(report["cwd"])
    (workspace / "left-over").mkdir()
    (workspace / "left-over" / "file").write_text("x")
    os.chmod(workspace / "left-over", 0o500)  # read-only: still wiped
    local.delete("gpu-del")
    assert process_gone(report["pid"])
    # The grandchild ignores SIGTERM: it is killed with the group.
    wait_until(lambda: process_gone(report["grandchild"]), "the grandchild to be killed")
    assert local.list() == []
    assert not workspace.exists()
    local.delete("gpu-del")  # again: nothing to do
    local.delete("never-was")


def test_a_runner_that_ignores_sigterm_is_killed_after_the_grace(local: LocalBackend, tmp_path: Path) -> None:
    local.create(spec("gpu-stubborn", tmp_path, mode="ignore-term"))
    report = report_of(tmp_path, "gpu-stubborn")
    local.delete("gpu-stubborn")
    assert process_gone(report["pid"])
    wait_until(lambda: process_gone(report["grandchild"]), "the grandchild to be killed")


def test_close_stops_every_runner(local: LocalBackend, tmp_path: Path) -> None:
    reports = []
    for name in ("gpu-x", "gpu-y"):
        local.create(spec(name, tmp_path))
        reports.append(report_of(tmp_path, name))
    local.close()
    assert local.list() == []
    assert all(process_gone(report["pid"]) for report in reports)
    wait_until(lambda: all(process_gone(report["grandchild"]) for report in reports), "grandchildren to be killed")


def test_bad_requests_are_one_sentence_errors(local: LocalBackend, tmp_path: Path) -> None:
    local.create(spec("gpu-dup", tmp_path))
    with pytest.raises(BackendError, match="a local runner named 'gpu-dup' exists already"):
        local.create(spec("gpu-dup", tmp_path))
    with pytest.raises(BackendError, match="cannot name a local runner"):
        local.create(spec("../escape", tmp_path))
    missing = LocalBackend(tmp_path / "other", [str(tmp_path / "no-such-plue")])
    with pytest.raises(BackendError, match=r"cannot start runner gpu-none \(.*no-such-plue\): No such file"):
        missing.create(spec("gpu-none", tmp_path))
    assert missing.list() == []


def test_the_default_command_is_this_python_running_plue(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    assert backend.command == (sys.executable, "-m", "plue")
    assert backend.argv(spec("gpu-a", tmp_path), tmp_path / "w")[:4] == [sys.executable, "-m", "plue", "runner"]
