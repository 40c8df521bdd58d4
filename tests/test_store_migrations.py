"""The Alembic migrations shipped in the package: from empty, re-opening, matching the models, versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError
from test_store_support import db_url, new_run, store

from plue.store import Store, StoreError, migrate
from plue.store.models import metadata

__all__ = ["db_url", "store"]  # fixtures

TABLES = {
    "alembic_version",
    "workflows",
    "runs",
    "steps",
    "log_lines",
    "llm_usage",
    "deliveries",
    "schedule_ticks",
    "api_tokens",
    "runners",
    "run_attempts",
}
# The CHECK constraints of each table (the others have none).
CHECKS = {
    "runs": {"ck_runs_status"},
    "steps": {"ck_steps_status"},
    "deliveries": {"ck_deliveries_outcome"},
    "api_tokens": {"ck_api_tokens_scope"},
    "runners": {"ck_runners_status"},
    "run_attempts": {"ck_run_attempts_status"},
}


def test_head_is_the_newest_script() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    assert scripts.get_current_head() == migrate.HEAD
    revisions = [script.revision for script in scripts.walk_revisions()]  # newest first
    assert revisions[0] == migrate.HEAD
    assert revisions == [f"{number:04d}" for number in range(len(revisions), 0, -1)]  # one line, no branches


def test_a_0001_database_keeps_its_usage_rows_when_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(text("INSERT INTO workflows VALUES (1, 'a.plue.py', 'A', 'h', '{}', 1.0)"))
        connection.execute(
            text(
                "INSERT INTO runs (id, workflow_id, workflow_path, workflow_name, plan, inputs, status, attempt,"
                " created_at, cancel_requested) VALUES (1, 1, 'a.plue.py', 'A', '{}', '{}', 'success', 1, 1.0, 0)"
            )
        )
        connection.execute(text("INSERT INTO llm_usage VALUES (1, 1, 'review', 1, 'claude', 10, 20, 0, 0, 0.5, 3.0)"))
    engine.dispose()
    with Store.open(url=url) as store:
        (usage,) = store.llm_usage(1)
    assert (usage.step_id, usage.input_tokens, usage.output_tokens, usage.cost_usd) == ("review", 10, 20, 0.5)
    assert usage.turn is None and usage.latency_ms is None


def test_an_empty_database_is_migrated_to_head(store: Store) -> None:
    with store._engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == TABLES
    assert migrate.current_revision(store._engine) == migrate.HEAD


def test_the_migrated_schema_matches_the_models(store: Store) -> None:
    with store._engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_reopening_keeps_data_and_does_not_migrate(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store.open(url=db_url) as first:
        run_id = new_run(first)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("migrated an up-to-date database")

    monkeypatch.setattr(command, "upgrade", refuse)
    with Store.open(url=db_url) as again:
        run = again.get_run(run_id)
        assert run is not None and run.status == "running"


def test_downgrade_to_empty_and_up_again(db_url: str) -> None:
    with Store.open(url=db_url) as opened, opened._writer.connect() as connection:
        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        assert set(inspect(connection).get_table_names()) == {"alembic_version"}
    assert migrate.current_revision(opened._engine) is None
    with Store.open(url=db_url) as reopened:
        assert reopened.list_runs() == []
        assert migrate.current_revision(reopened._engine) == migrate.HEAD


def test_a_database_from_a_newer_plue_is_refused(db_url: str) -> None:
    with Store.open(url=db_url) as opened, opened._writer.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="newer plue"):
        Store.open(url=db_url)


@pytest.mark.parametrize(
    ("table", "status"), [("runs", "finished"), ("steps", "done")], ids=["run-status", "step-status"]
)
def test_the_database_checks_statuses(store: Store, table: str, status: str) -> None:
    run_id = new_run(store)
    key = "id" if table == "runs" else "run_id"
    with pytest.raises(IntegrityError), store._writer.begin() as connection:
        connection.execute(
            text(f"UPDATE {table} SET status = :status WHERE {key} = :id"), {"status": status, "id": run_id}
        )


def test_foreign_keys_and_checks_match_the_models(store: Store) -> None:
    # compare_metadata does not look at ON DELETE (on SQLite) nor at CHECK constraints.
    with store._engine.connect() as connection:
        inspector = inspect(connection)
        for table in metadata.sorted_tables:
            reflected = {
                (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"], fk["options"].get("ondelete"))
                for fk in inspector.get_foreign_keys(table.name)
            }
            expected = {
                (fk.name, tuple(fk.column_keys), fk.referred_table.name, fk.ondelete)
                for fk in table.foreign_key_constraints
            }
            assert reflected == expected, table.name
            checks = {check["name"] for check in inspector.get_check_constraints(table.name)}
            assert checks == CHECKS.get(table.name, set()), table.name
