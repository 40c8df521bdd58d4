"""`TemplateError`: the one exception the renderer lets out, placed at `source:line:column`."""

from __future__ import annotations


class TemplateError(Exception):
    """A template that cannot be compiled or rendered; ``str()`` is ``source:line:column: message``.

    ``source`` is the name given to `compile_template`, or the partial's name when the
    problem is inside a partial; ``line`` and ``column`` are 1-based.
    """

    def __init__(self, message: str, line: int = 1, column: int = 1, source: str = "<template>") -> None:
        super().__init__(message, line, column, source)
        self.message = message
        self.line = line
        self.column = column
        self.source = source

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.message}"


class HelperFailure(Exception):
    """Raised inside the runtime where handlebars.js would throw; the evaluator places it at the tag being run."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
