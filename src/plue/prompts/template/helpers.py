"""The helpers: handlebars.js's built-ins (``each``, ``if``, ``unless``, ``with``, ``lookup``, ``log``) and Plue's.

Each helper receives ``this`` and its JavaScript ``arguments``: the parameters
then the `HelperOptions`, exactly as in handlebars.js, so that calls with the
wrong number of parameters fail (or not) as they do there. Plue's helpers are
specified by ``tests/prompts/handlebars_js/reference.mjs``, which registers the
same four functions in handlebars.js:

- ``{{json value}}``: ``JSON.stringify(value)``; ``indent=2`` indents;
- ``{{join list ", "}}``: ``list.join(separator)`` (``","`` by default), a non-list as its text;
- ``(eq a b)``: ``a === b``;
- ``{{default value "fallback"}}``: the fallback when the value is undefined, null or ``""``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from plue.prompts.template.errors import HelperFailure
from plue.prompts.template.json_text import CircularStructure, json_stringify
from plue.prompts.template.options import HelperOptions, call_block
from plue.prompts.template.values import (
    MAX_TEXT,
    UNDEFINED,
    JSFunction,
    TextTooLarge,
    create_frame,
    is_array,
    is_empty,
    join_array,
    lookup_property,
    normalize,
    own_entries,
    strict_equals,
    to_string,
    truthy,
)

Helper = Callable[[Any, list[Any]], Any]  # (this, arguments) -> value


def _argument(arguments: list[Any], index: int) -> Any:
    return arguments[index] if index < len(arguments) else UNDEFINED


def _each(this: Any, arguments: list[Any]) -> Any:
    context, options = _argument(arguments, 0), _argument(arguments, 1)
    if not truthy(options):
        raise HelperFailure("{{#each}} needs a list or an object to iterate over: write {{#each items}}")
    if not isinstance(options, HelperOptions):
        raise HelperFailure("{{#each}} takes exactly one argument, the list or object to iterate over")
    if isinstance(context, JSFunction):
        context = context.call(this, [])
    data = create_frame(options.data) if truthy(options.data) else None
    parts: list[str] = []
    size = 0

    def iteration(key: Any, value: Any, index: int, last: bool) -> None:
        nonlocal size
        if data is not None:
            data["key"] = key
            data["index"] = index
            data["first"] = index == 0
            data["last"] = last
        text = to_string(call_block(options.fn, value, data, [value, key], helper="each"))
        size += len(text)
        if size > MAX_TEXT:
            raise TextTooLarge
        parts.append(text)

    count = 0
    if is_array(context):
        count = len(context)
        for index, item in enumerate(context):
            iteration(index, normalize(item), index, index == count - 1)
    elif isinstance(context, dict):
        entries = own_entries(context)
        count = len(entries)
        for index, (key, item) in enumerate(entries):
            iteration(key, item, index, index == count - 1)
    if count == 0:
        return call_block(options.inverse, this, helper="each")
    return "".join(parts)


def _if(this: Any, arguments: list[Any]) -> Any:
    if len(arguments) != 2:
        raise HelperFailure("#if requires exactly one argument: write {{#if value}}")
    conditional, options = arguments
    return _choose(this, conditional, options.hash, options.fn, options.inverse, "if")


def _unless(this: Any, arguments: list[Any]) -> Any:
    if len(arguments) != 2:
        raise HelperFailure("#unless requires exactly one argument: write {{#unless value}}")
    conditional, options = arguments
    return _choose(this, conditional, options.hash, options.inverse, options.fn, "unless")


def _choose(this: Any, conditional: Any, hash_: dict[str, Any], then: Any, otherwise: Any, helper: str) -> Any:
    if isinstance(conditional, JSFunction):
        conditional = conditional.call(this, [])
    include_zero = truthy(hash_.get("includeZero", UNDEFINED))
    if (not include_zero and not truthy(conditional)) or is_empty(conditional):
        return call_block(otherwise, this, helper=helper)
    return call_block(then, this, helper=helper)


def _with(this: Any, arguments: list[Any]) -> Any:
    if len(arguments) != 2:
        raise HelperFailure("#with requires exactly one argument: write {{#with value}}")
    context, options = arguments
    if isinstance(context, JSFunction):
        context = context.call(this, [])
    if not is_empty(context):
        return call_block(options.fn, context, options.data if truthy(options.data) else None, [context], helper="with")
    return call_block(options.inverse, this, helper="with")


def _lookup(this: Any, arguments: list[Any]) -> Any:
    target, key, options = _argument(arguments, 0), _argument(arguments, 1), _argument(arguments, 2)
    if not truthy(target):
        return target
    if not isinstance(options, HelperOptions):
        raise HelperFailure("lookup takes exactly two arguments: write {{lookup object key}}")
    return lookup_property(target, to_string(key))


def _log(this: Any, arguments: list[Any]) -> Any:
    return UNDEFINED  # handlebars.js logs to the console; a prompt has no console, and the output is unchanged


def _json(this: Any, arguments: list[Any]) -> Any:
    options = arguments[-1]
    assert isinstance(options, HelperOptions)
    try:
        text = json_stringify(_argument(arguments[:-1], 0), options.hash.get("indent", UNDEFINED))
    except CircularStructure:
        raise HelperFailure("json: the value contains itself, so it has no JSON form") from None
    return UNDEFINED if text is None else text


def _join(this: Any, arguments: list[Any]) -> Any:
    params = arguments[:-1]
    value = _argument(params, 0)
    if is_array(value):
        separator = _argument(params, 1)
        return join_array(value, "," if separator is UNDEFINED else to_string(separator))
    return "" if value is None or value is UNDEFINED else to_string(value)


def _eq(this: Any, arguments: list[Any]) -> Any:
    params = arguments[:-1]
    return strict_equals(_argument(params, 0), _argument(params, 1))


def _default(this: Any, arguments: list[Any]) -> Any:
    params = arguments[:-1]
    value = _argument(params, 0)
    if value is None or value is UNDEFINED or (isinstance(value, str) and value == ""):
        return _argument(params, 1)
    return value


HELPERS: Final[dict[str, Helper]] = {
    "each": _each,
    "if": _if,
    "unless": _unless,
    "with": _with,
    "lookup": _lookup,
    "log": _log,
    "json": _json,
    "join": _join,
    "eq": _eq,
    "default": _default,
}


def block_helper_missing(this: Any, context: Any, options: HelperOptions) -> Any:
    """A block whose name is a value, not a helper (``{{#items}}``): Mustache sections."""
    if context is True:
        return call_block(options.fn, this)
    if context is False or context is None or context is UNDEFINED:
        return call_block(options.inverse, this)
    if is_array(context):
        if context:
            return _each(this, [context, options])
        return call_block(options.inverse, this)
    return call_block(options.fn, context, options.data if truthy(options.data) else None, options.block_params)


def missing_helper(name: str, params: list[Any]) -> Any:
    """``helperMissing``: a name that is neither a helper nor a value is empty, unless it was given arguments."""
    if params:
        helpers = ", ".join(sorted(HELPERS))
        raise HelperFailure(f'Missing helper: "{name}" is not a helper (the helpers are {helpers}): check the name')
    return UNDEFINED
