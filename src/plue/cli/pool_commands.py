"""``plue pool status``: the server's warm pool — its pools, their runners, the controller's recent decisions.

    plue pool status [--server URL] [--token TOKEN] [--decisions N] [--json]

It reads `GET /api/pool` (a read token is enough). `--json` prints the server's answer as it is.
A server without `[[pool.pools]]` answers `{"enabled": false}`: that is said, and is not an error.
(The runners themselves, pool or not: ``plue runner list``.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import click
from rich.table import Table

from plue.cli.output import Output, new_table, plain, plural

DEFAULT_DECISIONS: Final = 20
STATE_STYLES: Final = {
    "idle": "green",
    "busy": "yellow",
    "pending": "cyan",
    "draining": "cyan",
    "exited": "dim",
    "lost": "red",
    "offline": "dim",
}
ACTION_STYLES: Final = {"create": "green", "drain": "cyan", "delete": "yellow"}

When = Callable[..., str]  # plue.cli.run_render.when, imported only when needed (it brings the store)


@click.group("pool")
def pool() -> None:
    """The server's warm pool of runners (``[[pool.pools]]`` in the server's configuration)."""


@pool.command("status")
@click.option("--server", metavar="URL", envvar="PLUE_SERVER", help="The Plue server (default: $PLUE_SERVER).")
@click.option("--token", metavar="TOKEN", envvar="PLUE_TOKEN", help="An API token (default: $PLUE_TOKEN).")
@click.option(
    "--decisions",
    "decision_count",
    type=click.IntRange(0, 200),
    default=DEFAULT_DECISIONS,
    show_default=True,
    help="How many of the controller's recent decisions to show.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
def status(server: str | None, token: str | None, decision_count: int, as_json: bool) -> None:
    """Each pool's bounds and counts, its runners, and why the controller created, drained or deleted runners."""
    from plue.cli.remote import Remote

    if not server:
        raise click.UsageError("plue pool status needs the server: pass --server URL or set PLUE_SERVER")
    with Remote.connect(server, token) as remote:
        data = remote.get("/api/pool")
    if not isinstance(data, Mapping):
        from plue.cli.remote import RemoteError

        raise RemoteError(f"{server} answered /api/pool with something else than an object: is it a Plue server?")
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    show_status(Output(), data, decision_count)


def show_status(out: Output, data: Mapping[str, Any], decision_count: int = DEFAULT_DECISIONS) -> None:
    """The human view of a `GET /api/pool` answer."""
    if not data.get("enabled"):
        out.line("no pool controller runs on this server: add [[pool.pools]] to its configuration (docs/runners.md)")
        return
    from plue.cli.run_render import when

    out.line(
        f"pool controller: {data.get('backend', '?')} backend, runners dial {data.get('server_url', '?')}, "
        f"looks every {_number(data.get('interval_seconds'))} s; last look "
        f"{when(_float(data.get('last_tick_at')), relative=out.is_terminal)}"
    )
    if data.get("leader") is False:
        out.line("standby: another server sharing this database runs the pool; this one takes over if it stops")
    if data.get("last_error"):
        out.line(f"last look failed: {data['last_error']}")
    out.line()
    out.show(_pools_table(out, _items(data.get("pools")), when))
    unserved = _items(data.get("unserved"))
    for item in unserved:
        labels = ",".join(str(label) for label in item.get("labels") or []) or "(none)"
        out.line(f"no pool offers labels {labels} ({plural(_int(item.get('queued')), 'queued run')} waiting)")

    runners = _items(data.get("runners"))
    out.line()
    if runners:
        out.show(_runners_table(out, runners, when))
    else:
        out.line("no pool runners")

    decisions = _items(data.get("decisions"))[-decision_count:] if decision_count else []
    if decisions:
        out.line()
        out.line(f"recent decisions (the last {len(decisions)}, oldest first):")
        out.show(_decisions_table(out, decisions, when))


def _pools_table(out: Output, pools: Sequence[Mapping[str, Any]], when: When) -> Table:
    table = new_table(out, "pool", "labels", "idle", "busy", "pending", "draining", "runners", "min idle", "queued")
    for item in pools:
        held = _float(item.get("held_until"))
        name = str(item.get("name", "?")) + (" (held: a runner failed to start)" if held is not None else "")
        table.add_row(
            plain(name),
            plain(",".join(str(label) for label in item.get("labels") or []) or "-"),
            str(_int(item.get("idle"))),
            str(_int(item.get("busy"))),
            str(_int(item.get("pending"))),
            str(_int(item.get("draining"))),
            f"{_int(item.get('total'))}/{_int(item.get('max_runners'))}",
            str(_int(item.get("min_idle"))),
            str(_int(item.get("queued"))),
        )
    return table


def _runners_table(out: Output, runners: Sequence[Mapping[str, Any]], when: When) -> Table:
    table = new_table(out, "runner", "pool", "state", "id", "runs", "idle since", "detail")
    for item in runners:
        state = str(item.get("state", "?"))
        runs = item.get("current_runs") or []
        table.add_row(
            plain(item.get("name", "?")),
            plain(item.get("pool", "?")),
            plain(state, STATE_STYLES.get(state, "")),
            plain(str(item.get("runner_id") or "-")[:12]),
            plain(",".join(f"#{run}" for run in runs) if isinstance(runs, list) and runs else "-"),
            when(_float(item.get("idle_since")), relative=out.is_terminal),
            plain(item.get("detail") or "-"),
        )
    return table


def _decisions_table(out: Output, decisions: Sequence[Mapping[str, Any]], when: When) -> Table:
    table = new_table(out, "when", "pool", "action", "runner", "reason")
    for item in decisions:
        action = str(item.get("action", "?"))
        reason = str(item.get("reason", ""))
        if item.get("error"):
            reason += f" — FAILED: {item['error']}"
        table.add_row(
            when(_float(item.get("at")), relative=out.is_terminal),
            plain(item.get("pool", "?")),
            plain(action, "red" if item.get("error") else ACTION_STYLES.get(action, "")),
            plain(item.get("runner") or "-"),
            plain(reason),
        )
    return table


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _number(value: Any) -> str:
    number = _float(value)
    return "?" if number is None else f"{number:g}"
