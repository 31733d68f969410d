"""A throwaway PostgreSQL server on loopback for ledger tests (one per test session).

Skips, saying what is missing, when psycopg or the server binaries are absent
(scripts/test installs `postgresql` on a fresh Debian machine).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback, or a skip saying what is missing."""
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install -e .[postgres])")
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if initdb is None:
        pytest.skip("PostgreSQL server binaries (initdb, postgres) not found")
    bindir = Path(initdb).parent
    # PostgreSQL refuses to run as root: run it as the `postgres` user then.
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="bso-pg-"))
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        try:
            shutil.chown(root, "postgres")
        except (LookupError, OSError):
            pytest.skip("running as root and no `postgres` user to run PostgreSQL as")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    proc = None
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "bso",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        proc = subprocess.Popen(
            [*as_user, str(bindir / "postgres"), "-D", str(root / "data"), "-p", str(port), "-k", str(root),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        # An open port is not a ready server: until recovery ends it answers
        # "the database system is starting up".  Wait for a real query.
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=port, user="bso", dbname="postgres",
                                     connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.skip("PostgreSQL did not start")
                time.sleep(0.1)
        yield f"postgresql+psycopg://bso@127.0.0.1:{port}/postgres"
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def drop_schema(engine: Any) -> None:
    """Empties a shared PostgreSQL database for the next test: tables and the schema revision."""
    from ingest.ledger import metadata

    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
