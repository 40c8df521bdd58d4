"""One evaluation, inside its own forked, confined process.

`run` never returns: it writes one JSON result to the result pipe and exits.
Every exception is caught as `BaseException` and turned into a bounded message
at the workflow file's ``line:col``; engine frames never reach the author.
"""

from __future__ import annotations

import codecs
import encodings
import json
import os
import re
import signal
import types
from typing import Any, NoReturn

from plue.plan import Plan, PlanError, canonical_json
from plue.sandbox.confine import RESULT_FD, confine
from plue.sandbox.context import Reads, make_ctx
from plue.sandbox.convert import NotPlainData, PlanTooLarge, plan_to_data
from plue.sandbox.facade import SandboxViolation
from plue.sandbox.namespace import PrintCollector, make_globals
from plue.sandbox.policy import PolicyError, compile_workflow
from plue.sandbox.results import Limits, bounded

_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")

# Text encodings workflow code may use. Codec modules are imported on first use, and
# a confined child cannot open files (RLIMIT_NOFILE): so these are loaded here, in the
# warm parent, and any other encoding is unknown (a LookupError) instead of an OSError
# naming a directory of the host.
_PRELOADED_ENCODINGS = (
    "ascii", "latin-1", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
    "utf-32-le", "utf-32-be", "utf-7", "cp1252", "iso8859-15", "idna", "punycode",
    "unicode-escape", "raw-unicode-escape",
)  # fmt: skip


def _confined_codec_search(name: str) -> codecs.CodecInfo | None:
    try:
        return encodings.search_function(name)
    except OSError:  # its module could not be loaded: no such encoding here
        return None


def _prepare_codecs() -> None:
    for name in _PRELOADED_ENCODINGS:
        codecs.lookup(name)
    codecs.unregister(encodings.search_function)
    codecs.unregister(_confined_codec_search)
    codecs.register(_confined_codec_search)


_prepare_codecs()


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


class _LimitState:
    """Which limit signal interrupted workflow code, and where.

    Workflow code can catch the exception a limit raises (a bare ``except:``) and go
    on, e.g. to return a plan built from how far a loop got before the deadline: a
    plan that depends on the machine's speed. So once a limit has interrupted the
    evaluation, its result is that limit's error, whatever the code did next.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.running = False
        self.fired: type[BaseException] | None = None
        self.line: int | None = None


def _raise(exc: type[BaseException], state: _LimitState) -> Any:
    def handler(signum: int, frame: types.FrameType | None) -> None:
        if not state.running:
            return  # the evaluation is over: report what it gave
        if state.fired is None:
            state.fired = exc
            while frame is not None and frame.f_code.co_filename != state.path:
                frame = frame.f_back
            state.line = frame.f_lineno if frame is not None else None
        raise exc()

    return handler


def _limit_error(state: _LimitState, limits: Limits, result: dict[str, Any]) -> dict[str, Any]:
    error = result.get("error")
    kind = "timeout" if state.fired is WallClockExpired else "cpu"
    if type(error) is dict and error.get("kind") == kind:
        return result  # the limit's own exception ended the evaluation: it has the position
    message = _describe(state.fired() if state.fired else WallClockExpired(), limits)[1]
    error = {"kind": kind, "message": message, "line": state.line, "col": None}
    return {"ok": False, "error": error, "printed": result.get("printed", "")}


# C0/C1 control characters (terminal escapes), but tab and newline.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean_text(text: str) -> str:
    """Text for the host: lone surrogates (not encodable, so a UTF-8 write in the host would
    fail) and control characters (terminal escapes) become visible escapes."""
    if text.isascii() and text.isprintable():
        return text
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL_RE.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


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
        # An OSError here comes from the confinement; its file name is a path of the host.
        text = str(exc.strerror) if isinstance(exc, OSError) and exc.strerror else str(exc)
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
    reads = Reads()
    try:
        code = compile_workflow(source, path, limits)
        namespace = make_globals(printer)
        ctx = make_ctx(ctx_data, reads)
        exec(code, namespace)
        plan = _call_workflow(namespace, ctx, path)
        plan_json = canonical_json(plan_to_data(plan, limits))
        if len(plan_json) > limits.max_plan_bytes:
            raise PlanTooLarge(f"the plan is {len(plan_json)} bytes, over the {limits.max_plan_bytes}-byte limit")
        return {"ok": True, "plan": _Raw(plan_json), "printed": printer(), "reads": reads.export()}
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
    error["message"] = bounded(_clean_text(str(error["message"])))
    return {"ok": False, "error": error, "printed": printer(), "reads": reads.export()}


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
            state = _LimitState(path)
            signal.signal(signal.SIGALRM, _raise(WallClockExpired, state))
            signal.signal(signal.SIGXCPU, _raise(CpuLimitExpired, state))
            state.running = True
            signal.setitimer(signal.ITIMER_REAL, max(0.05, limits.wall_seconds - 0.25))
            try:
                result = evaluate(source, path, ctx_data, limits)
            except (WallClockExpired, CpuLimitExpired):
                result = {"ok": False}  # the signal came just as evaluate() returned
            finally:
                state.running = False
                signal.setitimer(signal.ITIMER_REAL, 0)
            if state.fired is not None:
                result = _limit_error(state, limits, result)
            result["printed"] = _clean_text(str(result.get("printed") or ""))
        payload = _serialise(result)
        view = memoryview(payload)
        while view:
            written = os.write(RESULT_FD, view)
            view = view[written:]
    except BaseException:
        status = 70
    os._exit(status)
