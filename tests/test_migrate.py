"""Ledger schema migrations (Alembic) on SQLite and PostgreSQL.

The baseline must equal the schema the code declares (ingest/ledger.py), a
database created before migrations must be stamped with its rows kept, and a
database from a newer version must be refused, not touched.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, DateTime, Engine, Index, MetaData, String, Table, Text, create_engine, inspect
from sqlalchemy.types import BigInteger, Integer
from test_ledger import drop_schema, postgres_url  # noqa: F401 - the throwaway PostgreSQL fixture

from ingest import migrate
from ingest.errors import LedgerError
from ingest.ledger import Ledger, metadata
from ingest.outcomes import Created

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    pg = request.getfixturevalue("postgres_url")
    yield pg
    engine = create_engine(pg)
    drop_schema(engine)
    engine.dispose()


def _pre_alembic_table(engine: Engine) -> None:
    """The `messages` table exactly as ingest/ledger.py created it before migrations (create_all)."""
    old = MetaData()
    Table(
        "messages", old,
        Column("key", String(128), primary_key=True),
        Column("message_id", Text, nullable=True, index=True),
        Column("sender", String(320), nullable=False),
        Column("subject", Text, nullable=False),
        Column("source_ref", Text, nullable=False),
        Column("state", String(16), nullable=False),
        Column("ticket_id", BigInteger, nullable=True),
        Column("reason", Text, nullable=True),
        Column("attempts", Integer, nullable=False),
        Column("claimed_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        Column("finished_at", DateTime, nullable=True),
        Index("ix_messages_sender_claimed_at", "sender", "claimed_at"),
        Index("ix_messages_state_updated_at", "state", "updated_at"),
    )
    old.create_all(engine)


def test_migrated_schema_equals_the_declared_one(url: str) -> None:
    ledger = Ledger.from_url(url)
    try:
        assert ledger.migration.after == migrate.head()
        with ledger.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], f"migrations and ingest/ledger.py disagree: {diff}"
    finally:
        ledger.close()


def test_reopening_is_a_no_op(url: str) -> None:
    Ledger.from_url(url).close()
    again = Ledger.from_url(url)
    try:
        assert (again.migration.before, again.migration.changed) == (migrate.head(), False)
    finally:
        again.close()


def test_pre_alembic_database_is_stamped_and_keeps_its_rows(url: str) -> None:
    engine = create_engine(url)
    _pre_alembic_table(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO messages (key, message_id, sender, subject, source_ref, state, ticket_id, attempts,"
            " claimed_at, updated_at) VALUES ('k-old', '<old@x>', 'a@x', 's', '1:1', 'created', 41, 0,"
            " '2026-03-01 09:00:00', '2026-03-01 09:00:00')"
        )
    engine.dispose()

    ledger = Ledger.from_url(url)
    try:
        assert ledger.migration.stamped and ledger.migration.before is None
        assert ledger.migration.after == migrate.head()
        row = ledger.get("k-old")
        assert row is not None and (row.state, row.ticket_id) == ("created", 41)
        # A reply to the old ticket still threads: the history survived.
        assert ledger.ticket_for_message_ids(["<old@x>"]) == 41
    finally:
        ledger.close()


def test_unknown_pre_alembic_table_is_refused_untouched(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE messages (key VARCHAR(128) PRIMARY KEY, legacy TEXT)")
        conn.exec_driver_sql("INSERT INTO messages VALUES ('k', 'kept')")
    try:
        with pytest.raises(LedgerError, match=r"missing: attempts.*unexpected: legacy"):
            Ledger.from_url(url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT legacy FROM messages").scalar_one() == "kept"
            assert "alembic_version" not in inspect(conn).get_table_names()
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE messages")
        engine.dispose()


def test_a_newer_revision_is_refused(url: str) -> None:
    Ledger.from_url(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    engine.dispose()
    with pytest.raises(LedgerError, match="9999_from_the_future.*newer version"):
        Ledger.from_url(url)


def test_in_memory_ledger_is_migrated_too() -> None:
    ledger = Ledger.in_memory()
    lease = ledger.claim("k", message_id="<a@b>", sender="a@b", subject="s", ref="1", now=T0).lease
    ledger.record(lease, Created(ticket_id=1), T0)
    assert ledger.get("k").ticket_id == 1  # type: ignore[union-attr]
    assert ledger.migration.after == migrate.head()


def test_migrate_command(tmp_path: Path) -> None:
    db = tmp_path / "var" / "ledger.sqlite3"
    env = {"PATH": "/usr/bin:/bin", "BSO_INGEST_LEDGER__URL": f"sqlite:///{db}"}
    cmd = [sys.executable, "-m", "ingest.cli", "migrate"]
    first = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert f"at revision {migrate.head()}" in first.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == migrate.head()
    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and "already at" in second.stdout, second.stdout + second.stderr
