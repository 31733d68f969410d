"""Alembic environment for the `alembic` command line (writing a new revision).

The service does not go through this file: ingest/migrate.py runs the
revisions itself on the ledger's own engine.  For a new revision:

    alembic -c ingest/migrations/alembic.ini -x url=sqlite:///var/dev.sqlite3 revision --autogenerate -m "what"

then read the generated file: autogenerate is a draft, not a migration.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from ingest.ledger import metadata

url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
if not url:
    raise SystemExit("give the ledger URL: alembic -x url=sqlite:///path ...")

if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=metadata, render_as_batch=engine.dialect.name == "sqlite"
        )
        with context.begin_transaction():
            context.run_migrations()
