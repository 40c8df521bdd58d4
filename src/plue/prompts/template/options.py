"""What a helper receives besides its arguments: handlebars' ``options`` object, and the block functions in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plue.prompts.template.errors import HelperFailure
from plue.prompts.template.values import UNDEFINED, JSFunction, truthy


class BlockFunction(JSFunction):
    """``options.fn`` / ``options.inverse``: renders a block for a context (optionally new data, block params)."""

    def __call__(self, context: Any, data: Any = None, frame: Any = UNDEFINED) -> Any:
        raise NotImplementedError

    def call(self, this: Any, args: list[Any]) -> Any:
        """The function called from JavaScript as ``fn(context, options)``."""
        context = args[0] if args else UNDEFINED
        options = args[1] if len(args) > 1 else None
        if isinstance(options, HelperOptions):
            return self(context, options.data if truthy(options.data) else None, options.block_params)
        return self(context)


class _Noop(BlockFunction):
    def __call__(self, context: Any, data: Any = None, frame: Any = UNDEFINED) -> str:
        return ""


NOOP = _Noop()  # handlebars' `container.noop`: the missing half of a block that has only one


@dataclass(eq=False)
class HelperOptions:
    """The last argument of every helper call (and of a partial call)."""

    name: Any
    hash: dict[str, Any]
    fn: BlockFunction | None
    inverse: BlockFunction | None
    data: Any
    block_params: Any  # the caller's block parameters, handed on to blocks called with these options
    partials: Any = None  # partial calls only: the partials the called template sees

    def as_object(self) -> dict[str, Any]:
        """The options as the JavaScript object a template sees when they end up as a context."""
        value: dict[str, Any] = {"name": self.name, "hash": self.hash}
        if self.fn is not None:
            value["fn"] = self.fn
            value["inverse"] = self.inverse
        value["data"] = self.data
        return value


def call_block(
    function: BlockFunction | None, context: Any, data: Any = None, frame: Any = UNDEFINED, *, helper: Any = "name"
) -> Any:
    """``options.fn(context)``: a helper called without a block has none, which JavaScript reports as a TypeError."""
    if function is None:
        raise HelperFailure(f"{helper} needs a block: write {{{{#{helper} …}}}}…{{{{/{helper}}}}}")
    return function(context, data, frame)
