"""Alembic migrations, shipped in the package and run by `Store.open` (see `plue.store.migrate`).

`versions/` holds hand-written revisions; `models.py` must always equal their result.
"""
