"""Resource limits and confinement of the evaluator sandbox.

Bombs must end with the right kind and a clear message (durations are never
asserted: limits are kept small so each bomb ends within a second or two). The
confinement layer is tested directly in forked children, and a crashing child
is shown to harm nothing but itself.
"""

from __future__ import annotations

import errno
import faulthandler
import json
import os
import resource
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from plue.sandbox import Evaluation, EvaluationRequest, Evaluator, Limits, child, zygote
from plue.sandbox.confine import NOBODY, RESULT_FD, SECCOMP_AVAILABLE, confine, libc
from plue.sandbox.pool import _interpret

TIGHT = Limits(wall_seconds=1, cpu_seconds=1)
CPU_BOUND = Limits(wall_seconds=30, cpu_seconds=1)  # the CPU limit comes first, even on a loaded machine
SMALL_MEMORY = Limits(wall_seconds=6, cpu_seconds=6, memory_bytes=128 * 2**20)
# For bombs that end by themselves (memory, caps, parser): room enough that a busy
# machine cannot turn them into timeouts.
ROOMY = Limits(wall_seconds=6, cpu_seconds=6)
HEADER = "from plue import Plan, Step\n\n\ndef workflow():\n"  # workflow bodies below start on line 5


@dataclass(frozen=True)
class Bomb:
    id: str
    source: str
    limits: Limits
    kind: str
    message: str  # a part of the expected message
    lines: frozenset[int] = frozenset()  # where it may be reported (empty: not checked)


def _body(*lines: str) -> str:
    return HEADER + "".join(f"    {line}\n" for line in lines)


BOMBS = [
    Bomb("endless-loop", _body("while True:", "    pass"), TIGHT, "timeout", "took longer than 1 s", frozenset({5, 6})),
    Bomb(
        "endless-loop-catching-everything",
        _body("while True:", "    try:", "        while True:", "            pass", "    except:", "        pass"),
        TIGHT,
        "timeout",
        "took longer than 1 s",
    ),
    Bomb(
        "cpu-loop", _body("while True:", "    pass"), CPU_BOUND, "cpu", "more than 1 s of CPU time", frozenset({5, 6})
    ),
    Bomb(
        "cpu-loop-catching-everything",
        _body("while True:", "    try:", "        while True:", "            pass", "    except:", "        pass"),
        CPU_BOUND,
        "cpu",
        "more than 1 s of CPU time",
    ),
    Bomb(
        "deadline-caught-then-plan-returned",
        _body("n = 0", "try:", "    while True:", "        n += 1", "except:", "    pass", "return Plan(str(n))"),
        TIGHT,
        "timeout",
        "took longer than 1 s",
        frozenset({7, 8}),
    ),
    Bomb(
        "string-multiply",
        _body("return Plan('a' * 10**10)"),
        TIGHT,
        "memory",
        "out of memory (limit 512 MiB)",
        frozenset({5}),
    ),
    Bomb(
        "list-growth",
        _body("chunks = []", "while True:", "    chunks.append('x' * 10**6)"),
        SMALL_MEMORY,
        "memory",
        "out of memory (limit 128 MiB)",
        frozenset({7}),
    ),
    Bomb(
        "memory-error-caught-and-retried",
        _body("while True:", "    try:", "        'a' * 10**10", "    except Exception:", "        pass"),
        TIGHT,
        "memory",
        "out of memory (limit 512 MiB)",
        frozenset({7}),
    ),
    Bomb(
        "recursion",
        _body("def down(n):", "    return down(n + 1)", "return down(0)"),
        TIGHT,
        "runtime",
        "RecursionError: maximum recursion depth exceeded",
        frozenset({6}),
    ),
    Bomb(
        "recursion-retried",
        "def down(n):\n    return down(n + 1)\n\n\ndef workflow():\n    while True:\n        try:\n"
        "            down(0)\n        except RecursionError:\n            pass\n",
        TIGHT,
        "timeout",
        "took longer than 1 s",
    ),
    Bomb(
        # A real CPython 3.11 crasher that passes every cap: next() on 300k nested map
        # iterators recurses in C without a depth check and overflows the C stack.
        "c-stack-overflow",
        _body("it = iter([])", "for _ in range(300000):", "    it = map(abs, it)", "next(it)"),
        TIGHT,
        "crash",
        "killed by SIGSEGV",
    ),
    Bomb("source-over-1-mib", "# " + "x" * 2**20 + "\n", TIGHT, "limit", "over the 1048576-byte limit"),
    Bomb(
        "huge-ast",
        _body("return Plan(str([" + "1, " * 5000 + "]))"),
        Limits(wall_seconds=6, cpu_seconds=6, max_ast_nodes=2000),
        "limit",
        "over 2000 syntax nodes",
    ),
    Bomb(
        "deep-ast",
        _body("return " + "[" * 150 + "]" * 150),
        TIGHT,
        "limit",
        "nested too deeply (over 100 levels)",
        frozenset({5}),
    ),
    Bomb(
        "ast-depth-cap",
        HEADER + "".join("    " * i + "if 1:\n" for i in range(1, 99)) + "    " * 99 + "pass\n",
        TIGHT,
        "limit",
        "nested too deeply (over 100 levels)",
    ),
    Bomb(
        "unary-minus-100k",
        _body("return " + "-" * 100_000 + "1"),
        TIGHT,
        "limit",
        "too deeply nested or too large to parse",
    ),
    Bomb(
        "attribute-chain-100k",
        _body("return a" + ".b" * 100_000),
        TIGHT,
        "limit",
        "too deeply nested or too large to parse",
    ),
    Bomb(
        "parentheses-100k",
        _body("return " + "(" * 100_000 + ")" * 100_000),
        TIGHT,
        "syntax",
        "too many nested parentheses",
    ),
    Bomb(
        "too-many-steps",
        _body("return Plan('x', steps=[Step.bash('a', 'echo')] * 100000)"),
        TIGHT,
        "limit",
        "the plan has 100000 steps, over the limit of 1000",
    ),
    Bomb(
        "plan-too-large",
        _body("return Plan('x', steps=[Step.bash('a', 'a' * 100_000_000)])"),
        TIGHT,
        "limit",
        "the plan is larger than 4194304 bytes",
    ),
    Bomb(
        "plan-too-many-values",
        _body("return Plan('x', steps=[Step.llm('a', 'p', inputs={'k': list(range(300000))})])"),
        TIGHT,
        "limit",
        "more than 200000 values",
    ),
    Bomb(
        "plan-nested-too-deeply",
        _body(
            "d = {}",
            "for _ in range(50):",
            "    d = {'k': d}",
            "return Plan('x', steps=[Step.llm('a', 'p', inputs=d)])",
        ),
        TIGHT,
        "plan",
        "nested too deeply",
        frozenset({8}),
    ),
    Bomb(
        "plan-not-unicode",
        _body("return Plan('x', steps=[Step.bash('a', 'echo \\ud800')])"),
        TIGHT,
        "limit",
        "not valid Unicode (a lone surrogate)",
    ),
    Bomb(
        "plan-non-finite",
        _body("return Plan('x', steps=[Step.llm('a', 'p', inputs={'x': float('nan')})])"),
        TIGHT,
        "plan",
        "non-finite",
    ),
]


@pytest.fixture(scope="module")
def bomb_results(tight_evaluator: Evaluator) -> dict[str, Evaluation]:
    requests = [
        EvaluationRequest(bomb.source.encode("utf-8"), f"{bomb.id}.plue.py", None, _limits_for(bomb)) for bomb in BOMBS
    ]
    return dict(zip([bomb.id for bomb in BOMBS], tight_evaluator.evaluate_many(requests), strict=True))


def _limits_for(bomb: Bomb) -> Limits:
    if bomb.kind in ("timeout", "cpu") or bomb.limits is not TIGHT:
        return bomb.limits
    return ROOMY  # it ends by itself: room enough that a busy machine cannot make it a timeout


@pytest.mark.parametrize("bomb", BOMBS, ids=[bomb.id for bomb in BOMBS])
def test_bomb_ends_with_the_right_kind(
    bomb: Bomb,
    bomb_results: dict[str, Evaluation],
    tight_evaluator: Evaluator,
    assert_sandbox_healthy: Callable[[Evaluator], None],
) -> None:
    result = bomb_results[bomb.id]
    assert result.error is not None, f"{bomb.id} was accepted"
    assert result.error.kind == bomb.kind, str(result.error)
    assert bomb.message in result.error.message
    assert len(str(result.error)) < 400
    if bomb.lines:
        assert result.error.line in bomb.lines, str(result.error)
    assert_sandbox_healthy(tight_evaluator)


def test_print_output_is_bounded(tight_evaluator: Evaluator) -> None:
    source = _body("for i in range(2000):", "    print('x' * 1000)", "return Plan('printed')")
    result = tight_evaluator.evaluate(source.encode(), "print.plue.py")
    assert result.ok
    assert 0 < len(result.printed) <= 64 * 1024
    assert set(result.printed) == {"x", "\n"}


# --- the confinement layer, tested directly --------------------------------------


def _in_fork(probe: Callable[[int], tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Run `probe(pipe_fd)` in a forked child, as child.py runs an evaluation.

    The probe returns the descriptor to report on (RESULT_FD once it has confined
    itself, which moves the pipe there) and its report, sent back as JSON.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns to pytest
        status = 1
        try:
            faulthandler.disable()
            os.close(read_fd)
            report_fd, report = probe(write_fd)
            os.write(report_fd, json.dumps(report).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the probe child failed"
    return json.loads(b"".join(chunks))  # type: ignore[no-any-return]


def _attempt(action: Callable[[], object]) -> str:
    """'ok', or the errno name of the OSError the action raised."""
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return "ok"


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A world-writable directory with a world-writable file: only the sandbox can stop a write."""
    path = Path(tempfile.mkdtemp(prefix="plue-confine-", dir="/tmp"))
    path.chmod(0o777)
    (path / "existing").write_text("untouched")
    (path / "existing").chmod(0o666)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def workdir(tmp_path: Path) -> str:
    path = tmp_path / "work"
    path.mkdir()
    return str(path)


def _confined_probe(pipe_fd: int, workdir: str, open_dir: Path) -> tuple[int, dict[str, Any]]:
    confine(pipe_fd, Limits(), workdir)

    def fork_once() -> None:
        if os.fork() == 0:
            os._exit(0)

    return RESULT_FD, {
        "create": _attempt(lambda: open(open_dir / "new", "w")),
        "append": _attempt(lambda: open(open_dir / "existing", "a")),
        "os_open_creat": _attempt(lambda: os.open(open_dir / "new2", os.O_CREAT | os.O_WRONLY)),
        "truncate": _attempt(lambda: os.truncate(open_dir / "existing", 0)),
        "unlink": _attempt(lambda: os.unlink(open_dir / "existing")),
        "rename": _attempt(lambda: os.rename(open_dir / "existing", open_dir / "moved")),
        "mkdir": _attempt(lambda: os.mkdir(open_dir / "sub")),
        "socket_inet": _attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
        "socket_unix": _attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)),
        "fork": _attempt(fork_once),
        "exec": _attempt(lambda: os.execv("/bin/true", ["true"])),
        "kill_parent": _attempt(lambda: os.kill(os.getppid(), 0)),
        "new_fd": _attempt(lambda: os.open("/dev/null", os.O_RDONLY)),
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "gid": os.getgid(),
        "groups": os.getgroups(),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "open_fds": [fd for fd in range(64) if _is_open(fd)],
        "stdin_is_devnull": os.fstat(0).st_rdev == os.stat("/dev/null").st_rdev,
        "dumpable": libc.prctl(3, 0, 0, 0, 0),  # PR_GET_DUMPABLE
        "seccomp_mode": libc.prctl(21, 0, 0, 0, 0),  # PR_GET_SECCOMP
        "no_new_privs": libc.prctl(39, 0, 0, 0, 0),  # PR_GET_NO_NEW_PRIVS
        "rlimits": {
            name: resource.getrlimit(getattr(resource, name))[1]
            for name in ("RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_NOFILE", "RLIMIT_AS", "RLIMIT_CPU")
        },
    }


def test_confined_child_cannot_write_connect_fork_or_signal(workdir: str, open_dir: Path) -> None:
    assert SECCOMP_AVAILABLE, "libseccomp is missing: confined children could write world-writable files"
    report = _in_fork(lambda pipe_fd: _confined_probe(pipe_fd, workdir, open_dir))
    denied = {"EPERM", "EACCES"}
    for action in ("create", "append", "os_open_creat", "truncate", "unlink", "rename", "mkdir"):
        assert report[action] in denied, (action, report[action])
    assert report["socket_inet"] == report["socket_unix"] == "EPERM"
    assert report["fork"] in {"EPERM", "EAGAIN"}
    assert report["exec"] == "EPERM"
    assert report["kill_parent"] == "EPERM"
    assert report["new_fd"] == "EMFILE"
    assert report["open_fds"] == [0, 1, 2, RESULT_FD]
    assert report["stdin_is_devnull"]
    assert report["env"] == {}
    assert report["cwd"] == workdir
    assert report["dumpable"] == 0
    assert report["seccomp_mode"] == 2 and report["no_new_privs"] == 1
    limits = Limits()
    assert report["rlimits"] == {
        "RLIMIT_FSIZE": 0,
        "RLIMIT_NPROC": 0,
        "RLIMIT_CORE": 0,
        "RLIMIT_NOFILE": RESULT_FD + 1,
        "RLIMIT_AS": limits.memory_bytes,
        "RLIMIT_CPU": limits.cpu_seconds + 1,
    }
    # Nothing changed on disk.
    assert sorted(p.name for p in open_dir.iterdir()) == ["existing"]
    assert (open_dir / "existing").read_text() == "untouched"


@pytest.mark.skipif(os.getuid() != 0, reason="privileges are only dropped when the evaluator runs as root")
def test_confined_child_runs_as_nobody(workdir: str, open_dir: Path) -> None:
    report = _in_fork(lambda pipe_fd: _confined_probe(pipe_fd, workdir, open_dir))
    assert (report["uid"], report["euid"], report["gid"], report["groups"]) == (NOBODY, NOBODY, NOBODY, [])


@pytest.mark.skipif(os.getuid() != 0, reason="the control drops to nobody, which needs root")
def test_control_nobody_without_confinement_can_write_there(open_dir: Path) -> None:
    """The control for the test above: the directory really is writable by nobody."""

    def probe(pipe_fd: int) -> tuple[int, dict[str, Any]]:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        return pipe_fd, {"create": _attempt(lambda: open(open_dir / "new", "w").close())}

    report = _in_fork(probe)
    assert report["create"] == "ok"
    assert (open_dir / "new").exists()


# --- a crash kills only the child ---------------------------------------------


def test_real_crasher_kills_only_the_child(
    tight_evaluator: Evaluator, assert_sandbox_healthy: Callable[[Evaluator], None]
) -> None:
    """A real CPython 3.11 crash (C stack overflow) in sandboxed code: reported, and nothing else dies."""
    source = _body("it = iter([])", "for _ in range(300000):", "    it = map(abs, it)", "next(it)")
    result = tight_evaluator.evaluate(source.encode(), "crash.plue.py")
    assert result.error is not None
    assert result.error.kind == "crash"
    assert result.error.message.startswith("the evaluator process was killed by SIGSEGV")
    assert_sandbox_healthy(tight_evaluator)


def test_segfaulting_child_is_reported_as_crash(monkeypatch: pytest.MonkeyPatch, workdir: str) -> None:
    """The zygote and host plumbing alone: a child that dies of SIGSEGV, whatever the cause."""

    def segfault(*args: object) -> None:
        faulthandler.disable()
        signal.signal(signal.SIGSEGV, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGSEGV)
        os._exit(99)  # not reached

    monkeypatch.setattr(child, "run", segfault)
    limits = Limits()
    outcome, output = zygote.evaluate_one({"path": "x.plue.py", "limits": limits.to_data()}, b"", workdir)
    assert outcome["exit"] == -signal.SIGSEGV and not outcome["timed_out"] and output == b""
    result = _interpret("x.plue.py", outcome, output, limits)
    assert result.error is not None and result.error.kind == "crash"
    assert "SIGSEGV" in result.error.message


def test_hung_child_is_killed_at_the_wall_limit(monkeypatch: pytest.MonkeyPatch, workdir: str) -> None:
    def hang(*args: object) -> None:
        faulthandler.disable()
        read_fd, _ = os.pipe()
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        os.read(read_fd, 1)  # nothing ever comes
        os._exit(99)

    monkeypatch.setattr(child, "run", hang)
    limits = Limits(wall_seconds=0.2)
    outcome, output = zygote.evaluate_one({"path": "x.plue.py", "limits": limits.to_data()}, b"", workdir)
    assert outcome["timed_out"] and outcome["exit"] == -signal.SIGKILL
    result = _interpret("x.plue.py", outcome, output, limits)
    assert result.error is not None and result.error.kind == "timeout"


def test_garbage_from_a_child_is_not_trusted() -> None:
    limits = Limits()
    for output in (b"", b"not json", b"[1, 2]", b'{"ok": true, "plan": [1]}', b'{"ok": true}'):
        result = _interpret("x.plue.py", {"exit": 0, "timed_out": False}, output, limits)
        assert result.error is not None and result.error.kind == "crash", output


def test_a_dead_evaluator_parent_is_replaced() -> None:
    with Evaluator(workers=1, limits=TIGHT) as evaluator:
        source = b"def workflow():\n    return Plan('x')\n"
        assert evaluator.evaluate(source, "a.plue.py").ok
        parent = evaluator._all[0].process
        parent.kill()
        parent.wait()
        result = evaluator.evaluate(source, "a.plue.py")
        assert result.ok, result.error


def test_host_resources_are_untouched_by_bombs(bomb_results: dict[str, Evaluation]) -> None:
    """Whatever the bombs did, this process kept its own limits and is still well."""
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] != 0
    assert resource.getrlimit(resource.RLIMIT_NPROC)[0] != 0
    assert libc.prctl(21, 0, 0, 0, 0) == 0  # no seccomp filter on the host
    assert os.environ  # the host keeps its environment
