"""The warm evaluator parent: imports everything once, then forks a child per request.

Started by the host as ``python -s -m plue.sandbox.zygote`` with an empty
environment (but a fixed ``PYTHONHASHSEED``, so set iteration order — and hence
every plan — is the same whatever the host's seed). It reads requests on stdin
and answers on stdout, one at a time; it never runs workflow code itself.

Request: frame(header JSON: path, ctx, limits) + frame(source bytes).
Answer: frame(status JSON: exit code / signal / timed_out / too_large) + frame(child output).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import select
import signal
import sys
import tempfile
import time
from typing import Any

from plue.sandbox import child
from plue.sandbox.confine import SECCOMP_AVAILABLE, libc
from plue.sandbox.protocol import ProtocolError, read_frame, write_frames
from plue.sandbox.results import Limits

STDIN, STDOUT = 0, 1
_WARMUP = b"""
from plue import Plan, Step, Trigger
def helper(n: int) -> list:
    return [f"x{i}" for i in range(n)]
def workflow(ctx):
    d = {}
    d["a"] = 1
    d["a"] += 1
    steps = [Step.bash(n, "echo {}".format(n), env={"A": "%s" % n}) for n in sorted(helper(3))]
    return Plan("warm", steps=steps, triggers=[Trigger.on_push(branch="main"), Trigger.on_schedule("0 3 * * *")])
"""


def _warm_up() -> None:
    """Import and exercise the whole evaluation path once, so children start hot."""
    import unicodedata

    unicodedata.normalize("NFKC", "x")
    child.evaluate(_WARMUP, "<warmup>", {"event": None}, Limits())
    # Children share our memory copy-on-write; keep the collector from touching (and so
    # copying) every object we already have.
    gc.collect()
    gc.freeze()


def _collect(fd: int, deadline: float, cap: int) -> tuple[bytes, bool, bool]:
    """Read the child's output until EOF, the deadline, or the size cap."""
    chunks: list[bytes] = []
    size = 0
    while True:
        timeout = deadline - time.monotonic()
        if timeout <= 0 or not select.select([fd], [], [], timeout)[0]:
            return b"".join(chunks), True, False
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks), False, False
        size += len(chunk)
        if size > cap:
            return b"", False, True
        chunks.append(chunk)


def evaluate_one(header: dict[str, Any], source: bytes, workdir: str) -> tuple[dict[str, Any], bytes]:
    limits = Limits.from_data(header.get("limits") or {})
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        child.run(write_fd, header["path"], source, header.get("ctx"), limits, workdir)
    os.close(write_fd)
    started = time.monotonic()
    output, timed_out, too_large = _collect(read_fd, started + limits.wall_seconds, limits.max_plan_bytes * 2 + 65536)
    if timed_out or too_large:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(read_fd)
    outcome = {
        "exit": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out,
        "too_large": too_large,
        "seconds": round(time.monotonic() - started, 6),
    }
    return outcome, output


def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    parent = os.getppid()
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # die with the host
    if os.getppid() != parent:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host decides when we stop
    sys.stdout = sys.stderr  # stray prints must never corrupt the protocol
    # The children's working directory: given (and removed) by the host; else our own.
    owned = len(sys.argv) < 2
    workdir = tempfile.mkdtemp(prefix="plue-eval-") if owned else sys.argv[1]
    try:
        _warm_up()
        write_frames(STDOUT, json.dumps({"ready": True, "seccomp": SECCOMP_AVAILABLE}).encode())
        while True:
            try:
                header = json.loads(read_frame(STDIN))
                source = read_frame(STDIN)
            except ProtocolError:
                return  # the host closed the pipe: we are done
            outcome, output = evaluate_one(header, source, workdir)
            write_frames(STDOUT, json.dumps(outcome).encode(), output)
    finally:
        if owned:
            os.rmdir(workdir)


if __name__ == "__main__":
    main()
