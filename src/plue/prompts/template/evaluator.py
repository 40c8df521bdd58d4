"""The evaluator: renders a compiled AST the way handlebars.js's generated code and runtime do.

The model follows the runtime closely because its details show in the output:

- a program (a template, a block body) runs with a *scope*: its context, the
  stack of enclosing contexts that ``../`` reads (``depths``; a context equal to
  the one above it, as with ``{{#if}}``, is not pushed again), the ``@data``
  frame, the block parameters of enclosing blocks, and the partials in reach;
- a block's body is a `BoundProgram`, created when the block is reached (which is
  when ``{{#*inline}}`` partials inside it are registered) and called by helpers;
- ``{{> name}}`` renders a partial with a fresh ``depths`` but the caller's
  ``@data``; ``{{#> name}}…{{/name}}`` hands its block to the partial as
  ``@partial-block``; a standalone partial indents every line it renders.

Limits keep hostile templates bounded: partial nesting, total work, output size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from plue.prompts.template.ast import (
    BlockStatement,
    Call,
    CommentStatement,
    ContentStatement,
    Expression,
    Hash,
    Literal,
    MustacheStatement,
    PartialStatement,
    PathExpression,
    Position,
    Program,
    Statement,
    SubExpression,
)
from plue.prompts.template.compiler import compile_program
from plue.prompts.template.errors import HelperFailure, TemplateError
from plue.prompts.template.helpers import HELPERS, block_helper_missing, missing_helper
from plue.prompts.template.options import NOOP, BlockFunction, HelperOptions
from plue.prompts.template.output import merge_output
from plue.prompts.template.parser import original_of
from plue.prompts.template.partials import PartialBlock, PartialTable, indent_lines
from plue.prompts.template.values import (
    MAX_TEXT,
    NULL_CONTEXT,
    UNDEFINED,
    JSFunction,
    TextTooLarge,
    assign,
    create_frame,
    lookup_property,
    loose_equals,
    normalize,
    to_string,
    truthy,
)

MAX_DEPTH: Final = 64  # blocks and partials inside each other while rendering (Python's own stack must hold them)
MAX_STEPS: Final = 1_000_000  # statements run and blocks entered in one render


class Container:
    """Per-invocation state of one template (handlebars' ``container``): the partials its programs see now."""

    __slots__ = ("partials", "source")

    def __init__(self, partials: PartialTable, source: str) -> None:
        self.partials = partials
        self.source = source


@dataclass(slots=True)
class Scope:
    """What a running program sees (the arguments of a compiled handlebars program function)."""

    context: Any
    depths: list[Any]
    data: Any
    block_params: list[Any]
    partials: PartialTable
    container: Container


class BoundProgram(BlockFunction):
    """A block body bound to where it was reached (handlebars' ``wrapProgram``): ``options.fn`` and friends."""

    def __init__(self, runtime: Runtime, program: Program, scope: Scope) -> None:
        self.runtime = runtime
        self.program = program
        self.container = scope.container
        self.data = scope.data
        self.block_params = scope.block_params
        self.depths = scope.depths
        self.inline_partials = runtime.run_decorators(
            program, scope.container, scope.depths, scope.data, scope.block_params
        )

    def __call__(self, context: Any, data: Any = None, frame: Any = UNDEFINED) -> Any:
        runtime = self.runtime
        runtime.count_step()
        if runtime.depth >= MAX_DEPTH:
            raise HelperFailure(f"blocks are nested more than {MAX_DEPTH} deep while rendering: flatten the template")
        depths = self.depths
        head = depths[0] if depths else UNDEFINED
        if not loose_equals(context, head) and not (context is NULL_CONTEXT and head is None):
            depths = [context, *depths]
        container = self.container
        saved = container.partials
        if self.inline_partials is not None:
            container.partials = PartialTable(self.inline_partials, saved)
        scope = Scope(
            context,
            depths,
            data if data is not None else self.data,
            [frame, *self.block_params],
            container.partials,
            container,
        )
        runtime.depth += 1
        try:
            return runtime.run(self.program, scope)
        finally:
            runtime.depth -= 1
            container.partials = saved


class Runtime:
    """One render: the caller's partials, compiled partials, and the counters behind the limits."""

    def __init__(self, partials: Mapping[str, str]) -> None:
        self.partials = PartialTable({}, None, partials)
        self.steps = 0
        self.depth = 0  # blocks and partials being rendered, one inside the other

    def count_step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise HelperFailure(
                f"rendering takes more than {MAX_STEPS:,} steps (loops inside loops, or partials calling each other): "
                "simplify the template"
            )

    # --- templates and programs ------------------------------------------------------

    def render_template(self, program: Program, source: str, context: Any, data: Any, partials: PartialTable) -> Any:
        """A whole template (the main one, or a partial when `data` is the caller's)."""
        container = Container(partials, source)
        if data is None:
            data = {"root": context}
        overlay = self.run_decorators(program, container, [], data, [])
        if overlay is not None:
            container.partials = PartialTable(overlay, partials)
        return self.run(program, Scope(context, [context], data, [], container.partials, container))

    def run(self, program: Program, scope: Scope) -> Any:
        """A program's result: the value handlebars' generated function returns (not always a string)."""
        body = program.body
        if len(body) == 1:  # a one-statement program returns its value as is
            self.count_step()
            _, value = self.statement(body[0], scope)
            return "" if value is None or value is UNDEFINED else value
        entries: list[tuple[bool, Any]] = []
        for statement in body:
            self.count_step()
            appended, value = self.statement(statement, scope)
            if appended is not None:
                entries.append((appended, value))
        return merge_output(entries)

    def statement(self, statement: Statement, scope: Scope) -> tuple[bool | None, Any]:
        """(True, value) for what the generated code appends with ``+``, (False, value) for what it appends
        with ``buffer +=`` after a statement, (None, "") for what appends nothing."""
        if isinstance(statement, ContentStatement):
            return (True, statement.value) if statement.value else (None, "")
        if isinstance(statement, CommentStatement) or (
            isinstance(statement, MustacheStatement | BlockStatement) and statement.decorator
        ):
            return None, ""
        try:
            if isinstance(statement, PartialStatement):
                value = self.partial(statement, scope)
            elif isinstance(statement, MustacheStatement):
                value = self.mustache(statement, scope)
            else:
                value = self.block(statement, scope)
                if statement.kind == "ambiguous":
                    return False, value
        except HelperFailure as failure:
            raise self.error(failure.message, statement.loc, scope) from None
        except TextTooLarge:
            raise self.error(_TOO_LARGE, statement.loc, scope) from None
        return True, "" if value is None or value is UNDEFINED else value

    def error(self, message: str, loc: Position, scope: Scope) -> TemplateError:
        return TemplateError(message, loc.line, loc.column, scope.container.source)

    def run_decorators(
        self, program: Program, container: Container, depths: list[Any], data: Any, block_params: list[Any]
    ) -> dict[str, Any] | None:
        """Register the ``{{#*inline}}`` partials of a program as it is bound; the only decorator there is."""
        if not program.decorators:
            return None
        scope = Scope(depths[0] if depths else UNDEFINED, depths, data, block_params, container.partials, container)
        overlay: dict[str, Any] = {}
        for decorator in program.decorators:
            try:
                name = to_string(original_of(decorator.path))
                if name != "inline":
                    raise HelperFailure(f'unknown decorator "{name}": the only decorator is {{{{#*inline "name"}}}}')
                args = [self.expression(param, scope) for param in decorator.params]
                self.hash(decorator.hash, scope)
                block = decorator.program if isinstance(decorator, BlockStatement) else None
                key = to_string(args[0] if args else UNDEFINED)
                overlay[key] = BoundProgram(self, block, scope) if block is not None else UNDEFINED
            except HelperFailure as failure:
                raise self.error(failure.message, decorator.loc, scope) from None
        return overlay

    # --- tags --------------------------------------------------------------------------

    def mustache(self, node: MustacheStatement, scope: Scope) -> Any:
        if node.kind == "simple":
            return self.lambda_value(self.path_value(node.callee, scope), scope)
        if node.kind == "helper":
            return self.call_helper(node, scope, None, None)
        path = node.path
        assert isinstance(path, PathExpression)
        name = path.parts[0]
        options = HelperOptions(name, {}, None, None, scope.data, scope.block_params)
        helper = HELPERS.get(name)
        if helper is not None:
            return helper(_this(scope), [options])
        value = self.path_value(path, scope)
        if value is None or value is UNDEFINED:
            return UNDEFINED
        if isinstance(value, JSFunction):
            return value.call(_this(scope), [options])
        return value

    def block(self, node: BlockStatement, scope: Scope) -> Any:
        fn, inverse = self.bind(node.program, node.inverse, scope)
        if node.kind == "helper":
            return self.call_helper(node, scope, fn, inverse)
        path = node.path
        assert isinstance(path, PathExpression)
        if node.kind == "simple":
            value = self.lambda_value(self.path_value(path, scope), scope)
            options = HelperOptions(path.original, {}, fn, inverse, scope.data, scope.block_params)
            return block_helper_missing(scope.context, value, options)
        name = path.parts[0]
        options = HelperOptions(name, {}, fn, inverse, scope.data, scope.block_params)
        helper = HELPERS.get(name)
        if helper is not None:
            return helper(_this(scope), [options])
        value = self.path_value(path, scope)
        if value is None or value is UNDEFINED:
            value = UNDEFINED
        elif isinstance(value, JSFunction):
            value = value.call(_this(scope), [options])
        return block_helper_missing(scope.context, value, options)

    def bind(
        self, program: Program | None, inverse: Program | None, scope: Scope
    ) -> tuple[BlockFunction | None, BlockFunction | None]:
        if program is None and inverse is None:
            return None, None
        fn = BoundProgram(self, program, scope) if program is not None else NOOP
        otherwise = BoundProgram(self, inverse, scope) if inverse is not None else NOOP
        return fn, otherwise

    def call_helper(self, node: Call, scope: Scope, fn: BlockFunction | None, inverse: BlockFunction | None) -> Any:
        path = node.path
        assert isinstance(path, PathExpression)
        params = [self.expression(param, scope) for param in node.params]
        hash_ = self.hash(node.hash, scope)
        name = node.known_helper or path.original
        options = HelperOptions(name, hash_, fn, inverse, scope.data, scope.block_params)
        this = _this(scope)
        if node.known_helper is not None:
            helper = HELPERS.get(node.known_helper)
            if helper is None:
                raise HelperFailure(f'"{node.known_helper}" is internal to handlebars and cannot be called: remove it')
            return helper(this, [*params, options])
        helper = HELPERS.get(path.original) if node.simple_id else None
        if helper is not None:
            return helper(this, [*params, options])
        value = self.path_value(path, scope, falsy=True)
        if truthy(value):
            if isinstance(value, JSFunction):
                return value.call(this, [*params, options])
            raise HelperFailure(f'"{path.original}" is a value, not a helper, so it cannot take arguments: remove them')
        return missing_helper(path.original, params)

    def partial(self, node: PartialStatement, scope: Scope) -> Any:
        """``{{> name}}`` and ``{{#> name}}…{{/name}}`` (handlebars' ``invokePartialWrapper``)."""
        context = self.expression(node.params[0], scope) if node.params else scope.context
        name: str | None = None  # a dynamic name is only known once its value is
        if isinstance(node.name, SubExpression):
            found = self.call_value(node.name, scope)
        else:
            name = to_string(original_of(node.name))
            found = scope.partials.get(name)
        hash_ = self.hash(node.hash, scope) if node.hash is not None else None
        block = BoundProgram(self, node.program, scope) if node.program is not None else None
        if hash_ is not None:
            context = assign(assign({}, context), hash_)
        name, found = self.resolve_partial(name, found, scope)
        result = self.invoke_partial(name, found, context, hash_, block, scope)
        if node.indent and result is not None and result is not UNDEFINED:
            if not isinstance(result, str):
                raise HelperFailure(f"the partial {name} rendered a {type(result).__name__}, which cannot be indented")
            result = indent_lines(result, node.indent)
        return result

    def resolve_partial(self, name: str | None, found: Any, scope: Scope) -> tuple[str, Any]:
        """(name, partial) as handlebars' ``resolvePartial`` settles them; a dynamic name's value is a name."""
        if not truthy(found):
            if name == "@partial-block":
                return name, _frame_entry(scope.data, "partial-block")
            name = "undefined" if name is None else name  # handlebars.js looks up partials[undefined]
            return name, scope.partials.get(name)
        if name is None:
            if isinstance(found, JSFunction):
                return "undefined", found
            name = to_string(found)
            return name, scope.partials.get(name)
        return name, found

    def invoke_partial(
        self,
        name: str,
        partial: Any,
        context: Any,
        hash_: dict[str, Any] | None,
        block: BoundProgram | None,
        scope: Scope,
    ) -> Any:
        """Render the partial (handlebars' ``invokePartial``): a partial block becomes ``@partial-block``."""
        data = scope.data
        partials = scope.partials
        if block is not None:
            outer = _frame_entry(data, "partial-block") if truthy(data) else data
            data = create_frame(data)
            data["partial-block"] = partial_block = PartialBlock(block, outer)
            if block.inline_partials is not None:
                partials = PartialTable(block.inline_partials, partials)
            if partial is UNDEFINED:
                partial = partial_block
        if partial is UNDEFINED or partial is None:
            raise HelperFailure(f"The partial {name} could not be found: check its name, or add the partial")
        if self.depth >= MAX_DEPTH:
            raise HelperFailure(
                f"partials are nested more than {MAX_DEPTH} deep (does the partial {name} include itself?): "
                "stop the recursion"
            )
        options = HelperOptions(name, hash_ or {}, block, NOOP if block else None, data, scope.block_params, partials)
        self.depth += 1
        try:
            if isinstance(partial, JSFunction):
                return partial.call(UNDEFINED, [context, options])
            if isinstance(partial, str):
                program = compile_program(partial, name)
                return to_string(self.render_template(program, name, context, data, partials))
            raise HelperFailure(f"the partial {name} is not a template (a string): check the partials given")
        finally:
            self.depth -= 1

    # --- expressions ---------------------------------------------------------------------

    def expression(self, expression: Expression, scope: Scope) -> Any:
        if isinstance(expression, PathExpression):
            return self.path_value(expression, scope)
        if isinstance(expression, Literal):
            return expression.value
        return self.call_value(expression, scope)

    def call_value(self, node: SubExpression, scope: Scope) -> Any:
        if node.kind == "helper":
            return self.call_helper(node, scope, None, None)
        return self.lambda_value(self.path_value(node.callee, scope), scope)

    def hash(self, hash_: Hash | None, scope: Scope) -> dict[str, Any]:
        if hash_ is None:
            return {}
        values = [(pair.key, self.expression(pair.value, scope)) for pair in hash_.pairs]
        result: dict[str, Any] = {}
        for key, value in reversed(values):  # handlebars assigns the pairs last to first: the first one wins
            result[key] = value
        return result

    def lambda_value(self, value: Any, scope: Scope) -> Any:
        if isinstance(value, JSFunction):
            return value.call(scope.context, [])
        return value

    def path_value(self, path: PathExpression, scope: Scope, falsy: bool = False) -> Any:
        """The value of a path; with `falsy`, a falsy value stops the walk (``a && a.b``) instead of a null one."""
        if path.block_param is not None:
            depth, index = path.block_param
            frame = scope.block_params[depth] if depth < len(scope.block_params) else UNDEFINED
            if frame is None or frame is UNDEFINED:
                raise HelperFailure(
                    f'the block parameter "{path.parts[0]}" has no value here: '
                    "only helpers such as #each and #with give their blocks parameters"
                )
            value = lookup_property(frame, str(index))
            return _walk(value, path.parts[1:], False)
        if not path.parts or not path.parts[0]:
            return self.context_at(scope, path.depth)
        if path.data:
            data = scope.data
            for _ in range(path.depth):
                if not truthy(data):
                    break
                data = _frame_entry(data, "_parent")
            return _walk(data, path.parts, True)
        return _walk(self.context_at(scope, path.depth), path.parts, falsy)

    def context_at(self, scope: Scope, depth: int) -> Any:
        if depth == 0:
            return scope.context
        return scope.depths[depth] if depth < len(scope.depths) else UNDEFINED


_TOO_LARGE: Final = f"the output would be larger than {MAX_TEXT // (1024 * 1024)} MiB: render less (or smaller data)"


def _this(scope: Scope) -> Any:
    context = scope.context
    return NULL_CONTEXT if context is None or context is UNDEFINED else context


def _walk(current: Any, parts: list[str], falsy: bool) -> Any:
    for part in parts:
        if falsy:
            if not truthy(current):
                return current
        elif current is None or current is UNDEFINED:
            return current
        current = lookup_property(current, part)
    return current


def _frame_entry(data: Any, key: str) -> Any:
    if isinstance(data, dict):
        return normalize(data.get(key, UNDEFINED))
    return lookup_property(data, key)


def render(program: Program, source: str, context: Any, partials: Mapping[str, str]) -> str:
    """Render a compiled template; every failure is a `TemplateError`."""
    runtime = Runtime(partials)
    try:
        return to_string(runtime.render_template(program, source, normalize(context), None, runtime.partials))
    except HelperFailure as failure:  # raised outside any statement (never expected; kept as a guard)
        raise TemplateError(failure.message, 1, 1, source) from None
    except TextTooLarge:
        raise TemplateError(_TOO_LARGE, 1, 1, source) from None
    except RecursionError:
        raise TemplateError(
            "the template or its data is nested too deeply to render: flatten it", 1, 1, source
        ) from None
