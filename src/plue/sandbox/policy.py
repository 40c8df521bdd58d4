"""Restricted compilation of workflow source: decode, size caps, AST policy, code object.

RestrictedPython does the heavy lifting (guarded attribute/item/iteration access,
no ``_`` names, no exec/eval); `WorkflowPolicy` adds what Plue needs on top:
imports only from ``plue``, no classes, guarded formatting (f-strings, ``%``),
item augmented assignment, type hints dropped, and errors with line and column.

Everything here runs inside the evaluation child: parsing untrusted source can
crash CPython, and only that process may die of it.
"""

from __future__ import annotations

import ast
import codecs
import re
from typing import Any

from RestrictedPython.transformer import RestrictingNodeTransformer

from plue.sandbox.results import Limits, bounded

# Names of the runtime helpers the rewritten code calls (see namespace.py).
FORMAT_VALUE = "_plue_format_value_"
SAFE_MOD = "_plue_mod_"
AUG_ITEM = "_plue_aug_item_"
CAUGHT = "_plue_caught_"
CAUGHT_NAME = "_plue_exc_"  # binds the exception of a handler written without `as name`
CHECK_SET = "_plue_check_set_"
SET_OPERATOR = "_plue_set_operator_"

FACADE_NAMES = frozenset({"Plan", "Step", "Trigger", "PlanError"})

# Builtins that do not exist in workflow files, with the reason shown to authors.
FORBIDDEN_NAMES = {
    "open": "workflow files cannot read or write files",
    "exec": "workflow files cannot run dynamic code",
    "eval": "workflow files cannot run dynamic code",
    "compile": "workflow files cannot compile code",
    "globals": "workflow files cannot inspect the interpreter",
    "locals": "workflow files cannot inspect the interpreter",
    "vars": "workflow files cannot inspect the interpreter",
    "dir": "workflow files cannot inspect the interpreter",
    "id": "object ids differ between runs and would make plans nondeterministic",
    "hash": "hash values differ between runs and would make plans nondeterministic",
    "input": "workflow files cannot read input",
    "breakpoint": "workflow files cannot start a debugger",
    "help": "workflow files cannot inspect the interpreter",
    "setattr": "plan objects are read-only",
    "delattr": "plan objects are read-only",
    "object": "workflow files cannot use the object base class",
    "super": "workflow files cannot define classes",
    "memoryview": "workflow files cannot use raw memory",
}

_CODING_RE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


class PolicyError(Exception):
    """Source rejected before it ran; carries a position for ``path:line:col``."""

    def __init__(self, message: str, kind: str, line: int | None = None, col: int | None = None):
        super().__init__(message)
        self.message = bounded(message)
        self.kind = kind
        self.line = line
        self.col = col


def decode_source(source: bytes, limits: Limits) -> str:
    """Decode workflow bytes as UTF-8 ourselves (a BOM allowed).

    Compiling bytes would honour a ``coding:`` cookie, which can turn a comment into
    code (e.g. ``utf-7``); so any declaration other than UTF-8 is refused.
    """
    if len(source) > limits.max_source_bytes:
        raise PolicyError(
            f"file is {len(source)} bytes, over the {limits.max_source_bytes}-byte limit for workflow files",
            "limit",
        )
    if b"\x00" in source:
        raise PolicyError("file contains a NUL byte; workflow files must be UTF-8 text", "input")
    if source.startswith(codecs.BOM_UTF8):
        source = source[len(codecs.BOM_UTF8) :]
    for number, line in enumerate(source.split(b"\n", 2)[:2], start=1):
        match = _CODING_RE.match(line)
        if match and match.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
            raise PolicyError(
                f"encoding declaration '{match.group(1).decode('ascii', 'replace')}' is not allowed;"
                " workflow files are UTF-8",
                "input",
                number,
                1,
            )
    try:
        return source.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = source[: exc.start].count(b"\n") + 1
        raise PolicyError("file is not valid UTF-8; save it as UTF-8", "input", bad_line) from None


def parse(text: str, path: str, limits: Limits) -> ast.Module:
    """Parse; the size and depth caps are checked while the policy walks the tree."""
    try:
        tree = ast.parse(text, filename=path, mode="exec")
    except SyntaxError as exc:
        raise PolicyError(
            f"syntax error: {exc.msg}", "syntax", exc.lineno, exc.offset if exc.lineno else None
        ) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        kind = "limit" if not isinstance(exc, ValueError) else "syntax"
        raise PolicyError(f"the file is too deeply nested or too large to parse ({type(exc).__name__})", kind) from None
    return tree


def _located(node: ast.AST, like: ast.AST) -> Any:
    for field in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
        setattr(node, field, getattr(like, field, 1 if "lineno" in field else 0))
    return node


def _call(name: str, args: list[ast.expr], like: ast.AST) -> ast.Call:
    func = _located(ast.Name(name, ast.Load()), like)
    located_args = [arg if hasattr(arg, "lineno") else _located(arg, like) for arg in args]
    return _located(ast.Call(func=func, args=located_args, keywords=[]), like)  # type: ignore[no-any-return]


class WorkflowPolicy(RestrictingNodeTransformer):
    """RestrictedPython's transformer plus Plue's rules (see module docstring)."""

    def __init__(self, limits: Limits) -> None:
        super().__init__([], [], {})
        self.problems: list[tuple[str, int | None, int | None]] = []
        self.limits = limits
        self.nodes = 0
        self.depth = 0
        self._membership_sets: set[int] = set()

    def visit(self, node: ast.AST) -> Any:
        # The caps are checked on the way down, before anything deep is recursed into.
        self.nodes += 1
        if self.nodes > self.limits.max_ast_nodes:
            raise PolicyError(f"the file is too large (over {self.limits.max_ast_nodes} syntax nodes)", "limit")
        if self.depth >= self.limits.max_ast_depth:
            line = getattr(node, "lineno", None)
            raise PolicyError(
                f"code is nested too deeply (over {self.limits.max_ast_depth} levels); split it into functions",
                "limit",
                line,
                getattr(node, "col_offset", -1) + 1 if line else None,
            )
        self.depth += 1
        try:
            return super().visit(node)
        finally:
            self.depth -= 1

    # RestrictedPython reports "Line N: msg" strings; keep positions instead.
    def error(self, node: ast.AST, info: str) -> None:
        # Authors do not know RestrictedPython; say what it means for them.
        info = info.replace(
            ", that is forbidden to access in RestrictedPython", "; workflow files cannot inspect frames"
        )
        line = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        self.problems.append((info, line, None if col is None else col + 1))
        self.errors.append(info)

    def visit_Name(self, node: ast.Name) -> Any:
        if isinstance(node.ctx, ast.Load) and node.id in FORBIDDEN_NAMES:
            self.error(node, f"'{node.id}' is not available: {FORBIDDEN_NAMES[node.id]}")
        return super().visit_Name(node)

    def visit_Import(self, node: ast.Import) -> Any:
        for alias in node.names:
            if alias.name != "plue":
                self.error(
                    node,
                    f"import of '{alias.name}' is not allowed; workflow files can only import plue",
                )
        return super().visit_Import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        if node.module == "__future__" and not node.level and all(a.name == "annotations" for a in node.names):
            # Type hints are dropped anyway; the directive commonly written with them is too.
            return _located(ast.Pass(), node)
        if node.level or node.module != "plue":
            module = "." * node.level + (node.module or "")
            self.error(
                node,
                f"import from '{module}' is not allowed; workflow files can only import from plue",
            )
        else:
            for alias in node.names:
                if alias.name not in FACADE_NAMES and alias.name != "*":
                    self.error(
                        node,
                        f"plue has no '{alias.name}' for workflow files (available: {', '.join(sorted(FACADE_NAMES))})",
                    )
        return super().visit_ImportFrom(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.error(node, "class definitions are not allowed in workflow files; use functions and dicts")
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Any:
        # Type hints have no meaning in a plan: drop them, keep the assignment.
        if node.value is None:
            return _located(ast.Pass(), node)
        return self.visit(_located(ast.Assign(targets=[node.target], value=node.value), node))

    def _drop_annotations(self, args: ast.arguments) -> None:
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None:
                arg.annotation = None

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        self._drop_annotations(node.args)
        node.returns = None
        return super().visit_FunctionDef(node)

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        self._drop_annotations(node.args)
        return super().visit_Lambda(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        # f"{x!r}" would call repr() on anything (a memory address, nondeterminism):
        # route the value through the guard, which refuses what is not plain data.
        node = self.node_contents_visit(node)
        node.value = _call(FORMAT_VALUE, [node.value, ast.Constant(node.conversion)], node.value)
        node.conversion = -1
        return node

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        if isinstance(node.op, ast.Mod):
            # "%s" % obj formats like str(): guarded the same way.
            return _call(SAFE_MOD, [node.left, node.right], node)
        if type(node.op) in _SET_OPERATORS:
            # dict_view | x makes a set of dict keys: checked like other sets (see sets.py).
            return _call(SET_OPERATOR, [node.left, ast.Constant(_SET_OPERATORS[type(node.op)]), node.right], node)
        return node

    def visit_Set(self, node: ast.Set) -> Any:
        # The order of a set of functions, types, None… differs between processes:
        # every set display is checked (see sets.check_set), except the operand of an
        # `in` test, where order cannot be observed (`x in {None, ""}`).
        node = self.node_contents_visit(node)
        if id(node) in self._membership_sets:
            return node
        return _call(CHECK_SET, [node], node)

    def visit_SetComp(self, node: ast.SetComp) -> Any:
        visited: ast.expr = super().visit_SetComp(node)  # type: ignore[assignment]
        return _call(CHECK_SET, [visited], node)

    def visit_Compare(self, node: ast.Compare) -> Any:
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)) and isinstance(comparator, ast.Set):
                self._membership_sets.add(id(comparator))
        return super().visit_Compare(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> Any:
        node = self.node_contents_visit(node)
        self.check_name(node, node.name)  # as RestrictedPython's visit_ExceptHandler
        # `except E as e:` -> first statement `_plue_caught_(e)` (a bare `except:` binds a
        # hidden name for it): addresses are cut out of the exception's message before
        # workflow code can read it, and a MemoryError goes on (see guards.scrub_caught).
        node.name = node.name or CAUGHT_NAME
        caught = _call(CAUGHT, [_located(ast.Name(node.name, ast.Load()), node)], node)
        node.body.insert(0, _located(ast.Expr(value=caught), node))
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        if isinstance(node.target, ast.Subscript):
            # counts[key] += 1 -> _plue_aug_item_(counts, key, "+=", 1)
            target = node.target
            container = self.visit(target.value)
            key = self.visit(target.slice)
            value = self.visit(node.value)
            operator = _AUG_OPERATORS[type(node.op)]
            call = _call(AUG_ITEM, [container, key, ast.Constant(operator), value], node)
            return _located(ast.Expr(value=call), node)
        return super().visit_AugAssign(node)

    def visit_Match(self, node: ast.AST) -> Any:
        self.error(node, "match statements are not allowed in workflow files; use if/elif")
        return node


_SET_OPERATORS = {ast.BitOr: "|", ast.BitAnd: "&", ast.Sub: "-", ast.BitXor: "^"}

_AUG_OPERATORS = {
    ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.Div: "/=", ast.Mod: "%=",
    ast.Pow: "**=", ast.LShift: "<<=", ast.RShift: ">>=", ast.BitOr: "|=",
    ast.BitXor: "^=", ast.BitAnd: "&=", ast.FloorDiv: "//=", ast.MatMult: "@=",
}  # fmt: skip


def compile_workflow(source: bytes, path: str, limits: Limits) -> Any:
    """Source bytes -> a restricted code object, or `PolicyError` with the first problem's position."""
    text = decode_source(source, limits)
    tree = parse(text, path, limits)
    policy = WorkflowPolicy(limits)
    try:
        policy.visit(tree)
    except RecursionError:
        raise PolicyError("code is nested too deeply; split it into functions", "limit") from None
    if policy.problems:
        message, line, col = min(policy.problems, key=lambda p: (p[1] or 0, p[2] or 0))
        more = len(policy.problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise PolicyError(message.rstrip(".") + suffix, "forbidden", line, col)
    try:
        return compile(tree, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        raise PolicyError(f"syntax error: {exc}", "syntax", getattr(exc, "lineno", None)) from None
    except RecursionError:
        raise PolicyError("code is nested too deeply to compile; split it into functions", "limit") from None
