"""One evaluation, inside its own forked, confined process.

`run` never returns: it writes one JSON result to the result pipe and exits.
Every exception is caught as `BaseException` and turned into a bounded message
at the workflow file's ``line:col``; engine frames never reach the author.
"""

from __future__ import annotations

import json
import os
import re
import signal
import types
from typing import Any, NoReturn

from plue.plan import Plan, PlanError, canonical_json
from plue.sandbox.confine import RESULT_FD, confine
from plue.sandbox.context import make_ctx
from plue.sandbox.convert import NotPlainData, PlanTooLarge, plan_to_data
from plue.sandbox.guards import PrintCollector, SandboxViolation, make_globals
from plue.sandbox.policy import PolicyError, compile_workflow
from plue.sandbox.results import Limits, bounded

_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")


class _Raw(bytes):
    """Already-serialised JSON, spliced into the result as is (it is the canonical plan)."""


class WallClockExpired(BaseException):
    """Raised into workflow code shortly before the parent's hard kill, to report a line."""


class CpuLimitExpired(BaseException):
    """Raised into workflow code on SIGXCPU (the soft CPU limit), to report a line."""


class WorkflowProblem(Exception):
    def __init__(self, message: str, kind: str, line: int | None = None, col: int | None = None):
        super().__init__(message)
        self.message, self.kind, self.line, self.col = message, kind, line, col


def _raise(exc: type[BaseException]) -> Any:
    def handler(signum: int, frame: object) -> None:
        raise exc()

    return handler


def _position(exc: BaseException, path: str) -> tuple[int | None, int | None]:
    """The innermost frame of the workflow file itself (never an engine frame)."""
    line = col = None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == path:
            line, col = tb.tb_lineno, None
            for index, (start, _, start_col, _) in enumerate(code.co_positions()):
                if index == tb.tb_lasti // 2:
                    if start == line and start_col is not None:
                        col = start_col + 1
                    break
        tb = tb.tb_next
    return line, col


def _describe(exc: BaseException, limits: Limits) -> tuple[str, str]:
    """(kind, message) for an exception raised while running workflow code."""
    if isinstance(exc, PlanError):
        return "plan", str(exc)
    if isinstance(exc, SandboxViolation):
        return "forbidden", str(exc)
    if isinstance(exc, WallClockExpired):
        return (
            "timeout",
            f"evaluation took longer than {limits.wall_seconds:g} s (an endless loop?)",
        )
    if isinstance(exc, CpuLimitExpired):
        return (
            "cpu",
            f"evaluation used more than {limits.cpu_seconds} s of CPU time (an endless loop?)",
        )
    if isinstance(exc, MemoryError):
        return "memory", f"evaluation ran out of memory (limit {limits.memory_bytes // 2**20} MiB)"
    if isinstance(exc, RecursionError):
        return (
            "runtime",
            "RecursionError: maximum recursion depth exceeded (a function calling itself forever?)",
        )
    try:
        text = str(exc)
    except BaseException:
        text = ""
    name = type(exc).__name__
    return "runtime", _ADDRESS_RE.sub("", f"{name}: {text}" if text else name)


def _call_workflow(namespace: dict[str, Any], ctx: Any, path: str) -> Plan:
    workflow = namespace.get("workflow")
    if type(workflow) is not types.FunctionType:
        raise WorkflowProblem(
            "no workflow() function; define `def workflow():` (or `def workflow(ctx):`) returning a Plan",
            "plan",
            1,
        )
    code = workflow.__code__
    line = code.co_firstlineno
    required = code.co_argcount - len(workflow.__defaults__ or ())
    if code.co_kwonlyargcount or code.co_posonlyargcount > 1 or required > 1:
        raise WorkflowProblem("workflow() must take no arguments or one (ctx)", "plan", line)
    result = workflow(ctx) if code.co_argcount >= 1 else workflow()
    if type(result) is not Plan:
        raise WorkflowProblem(f"workflow() returned a {type(result).__name__}, expected a Plan(...)", "plan", line)
    return result


def evaluate(source: bytes, path: str, ctx_data: Any, limits: Limits) -> dict[str, Any]:
    """Compile, run and convert; returns the result message (ok or error)."""
    printer = PrintCollector()
    try:
        code = compile_workflow(source, path, limits)
        namespace = make_globals(printer, None)
        ctx = make_ctx(ctx_data)
        exec(code, namespace)
        plan = _call_workflow(namespace, ctx, path)
        plan_json = canonical_json(plan_to_data(plan, limits))
        if len(plan_json) > limits.max_plan_bytes:
            raise PlanTooLarge(f"the plan is {len(plan_json)} bytes, over the {limits.max_plan_bytes}-byte limit")
        return {"ok": True, "plan": _Raw(plan_json), "printed": printer()}
    except PolicyError as exc:
        error = {"kind": exc.kind, "message": exc.message, "line": exc.line, "col": exc.col}
    except WorkflowProblem as exc:
        error = {"kind": exc.kind, "message": exc.message, "line": exc.line, "col": exc.col}
    except (PlanTooLarge, NotPlainData) as exc:
        error = {"kind": "limit", "message": str(exc), "line": None, "col": None}
    except BaseException as exc:
        kind, message = _describe(exc, limits)
        line, col = _position(exc, path)
        error = {"kind": kind, "message": message, "line": line, "col": col}
    error["message"] = bounded(str(error["message"]))
    return {"ok": False, "error": error, "printed": printer()}


def _serialise(result: dict[str, Any]) -> bytes:
    plan = result.pop("plan", None)
    head = json.dumps(result, ensure_ascii=True, allow_nan=False).encode("ascii")
    if plan is None:
        return head
    return head[:-1] + b',"plan":' + bytes(plan) + b"}"


def run(result_fd: int, path: str, source: bytes, ctx_data: Any, limits: Limits, workdir: str) -> NoReturn:
    """The child's whole life: confine, evaluate, report, exit."""
    status = 0
    try:
        try:
            confine(result_fd, limits, workdir)
        except BaseException as exc:
            result: dict[str, Any] = {
                "ok": False,
                "error": {
                    "kind": "crash",
                    "message": bounded(f"could not confine the evaluator: {exc}"),
                },
            }
        else:
            signal.signal(signal.SIGALRM, _raise(WallClockExpired))
            signal.signal(signal.SIGXCPU, _raise(CpuLimitExpired))
            signal.setitimer(signal.ITIMER_REAL, max(0.05, limits.wall_seconds - 0.25))
            result = evaluate(source, path, ctx_data, limits)
            signal.setitimer(signal.ITIMER_REAL, 0)
        payload = _serialise(result)
        view = memoryview(payload)
        while view:
            written = os.write(RESULT_FD, view)
            view = view[written:]
    except BaseException:
        status = 70
    os._exit(status)
