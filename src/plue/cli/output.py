"""Terminal output: consoles, sanitised text, and the shared pieces of tables and trees.

Everything shown may come from an untrusted workflow file or payload, so text is
passed through `clean` (no terminal escapes, no bidi tricks) and given to rich as
`Text`, never as markup.
"""

from __future__ import annotations

import sys

import click
from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

# When stdout is not a terminal, lines are never wrapped or cut: scripts read them.
PIPE_WIDTH = 100_000
MAX_FIELD_CHARS = 2000


def clean(text: object, limit: int = MAX_FIELD_CHARS) -> str:
    """`text` made safe to print: control and format characters escaped, length bounded."""
    value = str(text)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    if value.isprintable():
        return value
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in value)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def one_line(text: str, limit: int = 100) -> str:
    """The first line of `text`, cut to `limit` characters; '…' marks what was left out."""
    lines = text.strip().splitlines() or [""]
    first = lines[0].strip()
    if len(first) > limit:
        return first[: limit - 1] + "…"
    return first + (" …" if len(lines) > 1 else "")


def plain(text: object, style: str = "") -> Text:
    """User data as rich `Text` (never parsed as markup)."""
    return Text(clean(text), style=style)


class Output:
    """Where a command prints: rich rendering on stdout, plain lines on stderr."""

    def __init__(self) -> None:
        stream = sys.stdout
        self.is_terminal = stream.isatty()
        # rich honours NO_COLOR (and FORCE_COLOR) by itself, and uses no colour off a terminal.
        self.console = Console(
            file=stream,
            highlight=False,
            emoji=False,
            markup=False,
            soft_wrap=not self.is_terminal,
            width=None if self.is_terminal else PIPE_WIDTH,
        )

    def show(self, renderable: RenderableType) -> None:
        if self.is_terminal:
            self.console.print(renderable)
            return
        # Off a terminal, tables would pad lines to the (huge) width: strip that padding.
        with self.console.capture() as captured:
            self.console.print(renderable)
        for line in captured.get().splitlines():
            click.echo(line.rstrip())

    def line(self, text: str = "") -> None:
        """A line of plain text on stdout."""
        click.echo(clean(text))

    def error(self, text: str) -> None:
        click.echo(clean(text), err=True)


def new_table(out: Output, *columns: str) -> Table:
    """A table of plain rows: off a terminal, no box drawing, so each row is one line."""
    table = Table(box=box.SIMPLE_HEAD if out.is_terminal else None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
