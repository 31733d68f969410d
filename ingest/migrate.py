"""The ledger's schema migrations (Alembic), run on the ledger's own engine.

`upgrade(engine)` brings a database to the newest revision in
ingest/migrations/versions/ and is what every ledger open does
(`Ledger.from_url`), so `run` migrates at start; `bso-ingest migrate` does
only that.  The schema is never created any other way and never recreated:

- an empty database gets every revision from the baseline (0001) on;
- a database from before migrations existed (a `messages` table but no
  `alembic_version`) is checked column by column against the baseline and
  *stamped* 0001, then upgraded; its rows are untouched.  A table that does
  not match is refused with the difference named;
- a database at a revision this code does not know (written by a newer
  version) is refused: running old code on it could lose what the new
  columns mean.

Replicas starting together must not migrate twice: on PostgreSQL the whole
migration runs in one transaction under an advisory lock (DDL is
transactional there); on SQLite the ledger's engine begins every write with
BEGIN IMMEDIATE, which serializes the same way.

Writing a new revision: see ingest/migrations/env.py.  A revision that changes
`messages` must change the Table in ingest/ledger.py the same way; a test
compares the migrated schema with it on SQLite and PostgreSQL.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from ingest.errors import LedgerError

log = logging.getLogger(__name__)

BASELINE = "0001"
# pg_advisory_xact_lock key: any constant shared by every replica ("bso-" in ASCII).
ADVISORY_LOCK = 0x62736F2D


@dataclass(frozen=True)
class Migration:
    """What `upgrade` did: the revision before (None: an empty or pre-Alembic database) and after."""

    before: str | None
    after: str
    stamped: bool = False

    @property
    def changed(self) -> bool:
        return self.stamped or self.before != self.after


@functools.cache
def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "ingest:migrations")
    return config


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this code knows."""
    revision = _script().get_current_head()
    assert revision is not None, "ingest/migrations has no revision"
    return revision


def known_revisions() -> set[str]:
    """Every revision this code can migrate from."""
    return {rev.revision for rev in _script().walk_revisions()}


def current(engine: Engine) -> str | None:
    """The database's revision, or None when it has none (empty or pre-Alembic)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise LedgerError(f"cannot read the ledger's schema revision at {_where(engine)}: {_brief(exc)}") from exc


def upgrade(engine: Engine) -> Migration:
    """Migrates the ledger at `engine` to the newest revision; raises LedgerError when it can't."""
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
            return _upgrade(conn)
    except SQLAlchemyError as exc:
        raise LedgerError(f"cannot migrate the ledger at {_where(engine)}: {_brief(exc)}") from exc
    except CommandError as exc:
        raise LedgerError(f"cannot migrate the ledger at {_where(engine)}: {exc}") from exc


def _upgrade(conn: Connection) -> Migration:
    script = _script()
    target = head()
    before = MigrationContext.configure(conn).get_current_revision()
    if before == target:
        return Migration(before, target)
    stamped = False
    if before is None:
        stamped = _stamp_pre_alembic(conn)
    elif before not in known_revisions():
        raise LedgerError(
            f"the ledger at {_where(conn.engine)} is at schema revision {before}, which this version of"
            f" bso-ingest (newest revision {target}) does not know: it was migrated by a newer version."
            " Run that version, or restore the backup taken before the upgrade"
        )

    def steps(rev: Any, _context: Any) -> Any:
        return script._upgrade_revs(target, rev)

    with EnvironmentContext(_config(), script, fn=steps, destination_rev=target) as env:
        env.configure(connection=conn, render_as_batch=conn.dialect.name == "sqlite")
        with env.begin_transaction():
            env.run_migrations()
    after = MigrationContext.configure(conn).get_current_revision() or target
    if before is not None or stamped:
        log.info("ledger schema migrated from revision %s to %s", before or BASELINE, after)
    return Migration(before, after, stamped)


def _stamp_pre_alembic(conn: Connection) -> bool:
    """Stamps a database created before migrations as the baseline; False when it is empty."""
    if "messages" not in inspect(conn).get_table_names():
        return False
    baseline = _baseline_columns()
    found = {col["name"] for col in inspect(conn).get_columns("messages")}
    if found != baseline:
        missing = ", ".join(sorted(baseline - found)) or "none"
        extra = ", ".join(sorted(found - baseline)) or "none"
        raise LedgerError(
            f"the ledger at {_where(conn.engine)} has a `messages` table but no schema revision, and its columns"
            f" do not match the baseline (missing: {missing}; unexpected: {extra}); it was not changed."
            " Restore a ledger written by bso-ingest, or move this file away to start a new one"
        )
    context = MigrationContext.configure(conn)
    context.stamp(_script(), BASELINE)
    log.info("ledger created before schema migrations: stamped as the baseline revision %s", BASELINE)
    return True


def _baseline_columns() -> set[str]:
    module = _script().get_revision(BASELINE).module
    return set(module.COLUMNS)


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _brief(exc: SQLAlchemyError) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"
