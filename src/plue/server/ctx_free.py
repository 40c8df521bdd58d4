"""Whether a workflow file's plan cannot depend on the event: its `workflow()` takes no ctx.

The sandbox calls `workflow()` without arguments when it declares no parameter, and ctx
reaches a workflow through that parameter only, so such a file gives the same plan for
every event: the plan the registry already evaluated (and cached) with an empty ctx. The
ingestor reuses that plan instead of evaluating the file again for each delivery.

The check reads the source's syntax tree (nothing runs) and is conservative: it answers
True only when the module binds the name `workflow` exactly once, with a top-level
undecorated ``def workflow():`` without parameters. Anything else — a ``workflow(ctx)``,
a second definition, an assignment, an import or a ``global`` of that name — is False,
and the file is evaluated with the event as before.
"""

from __future__ import annotations

import ast
from typing import Final

WORKFLOW_NAME: Final = "workflow"


def takes_no_ctx(source: bytes) -> bool:
    """True when `source` surely defines ``def workflow():`` with no parameters, and nothing else by that name."""
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    bindings = 0
    for node in ast.walk(module):
        if isinstance(node, (ast.Global, ast.Nonlocal)) and WORKFLOW_NAME in node.names:
            return False
        bindings += _binds_workflow(node)
    if bindings != 1:
        return False
    definitions = [node for node in module.body if isinstance(node, ast.FunctionDef) and node.name == WORKFLOW_NAME]
    if len(definitions) != 1:
        return False
    [definition] = definitions
    arguments = definition.args
    return not definition.decorator_list and not (
        arguments.posonlyargs or arguments.args or arguments.vararg or arguments.kwonlyargs or arguments.kwarg
    )


def _binds_workflow(node: ast.AST) -> int:
    """1 if `node` binds the name `workflow` (in any scope: being conservative costs nothing here), else 0."""
    name: str | None = None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        name = node.name
    elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        name = node.id
    elif isinstance(node, ast.alias):
        name = node.asname or node.name.split(".")[0]
    elif isinstance(node, (ast.MatchAs, ast.MatchStar, ast.ExceptHandler)):
        name = node.name
    elif isinstance(node, ast.MatchMapping):
        name = node.rest
    elif isinstance(node, ast.arg):
        name = node.arg
    return int(name == WORKFLOW_NAME)
