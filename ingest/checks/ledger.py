"""Checks of the state directory and the ledger: writable, reachable, schema revision."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from ingest.checks import Context, Result, fail, ok
from ingest.errors import LedgerError


def _writable_dir(path: Path) -> tuple[bool, Path]:
    """Whether `path` (or, while it does not exist, its nearest existing parent) is writable."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        return False, probe
    if probe == path:
        try:
            # A real write: root passes access() on an immutable or read-only mount.
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError:
            return False, probe
    return True, probe


def _uid() -> str:
    return f"uid {os.getuid()} gid {os.getgid()}"


def check_state_dir(ctx: Context) -> Result:
    """The lock file's directory (var/ in the image) must be writable by the running user."""
    directory = Path(ctx.settings.service.lock_path).expanduser().parent
    writable, probe = _writable_dir(directory)
    if writable:
        return ok("service.state_dir", f"{directory} is writable ({_uid()})")
    return fail(
        "service.state_dir",
        f"{directory} is not writable by {_uid()} ({probe} is the nearest existing directory)",
        f"mount a writable volume on {directory.resolve()} (or chown it to this uid), or set"
        " service.lock_path to a writable place",
    )


def check_ledger(ctx: Context) -> Iterator[Result]:
    """Opens the ledger without changing it: reachable, writable, at which schema revision."""
    from ingest import migrate
    from ingest.ledger import Ledger, redacted_url

    settings = ctx.settings
    url = settings.ledger.url
    where = redacted_url(url)
    note = " (service.dry_run is on: a dry run uses a ledger in memory, this one from dry_run = false on)" if (
        settings.service.dry_run) else ""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - ArgumentError, ValueError: a bad setting either way
        yield fail("ledger.open", f"ledger.url is not a SQLAlchemy URL: {where!r}",
                   "set ledger.url to sqlite:///var/bso-ingest.sqlite3 or postgresql+psycopg://user@host/db")
        return
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        database = Path(parsed.database).expanduser()
        if not database.exists():
            writable, probe = _writable_dir(database.parent)
            if writable:
                yield ok("ledger.open", f"{database} does not exist yet; it is created at the first start{note}")
            else:
                yield fail("ledger.open", f"{database} cannot be created: {probe} is not writable by {_uid()}",
                           f"mount a writable volume on {database.parent.resolve()}")
            return
        if not os.access(database, os.R_OK | os.W_OK) or not os.access(database.parent, os.W_OK | os.X_OK):
            yield fail("ledger.open", f"{database} or its directory is not writable by {_uid()} (SQLite writes"
                       " its -wal and -shm files beside it)", f"chown the volume on {database.parent} to this uid")
            return
    try:
        engine = Ledger.engine_for(url)
    except LedgerError as exc:
        yield fail("ledger.open", str(exc), "fix ledger.url (for PostgreSQL install the postgres extra: psycopg)")
        return
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = migrate.current(engine)
    except LedgerError as exc:
        yield fail("ledger.open", str(exc), "check that the database is reachable and the credentials are right")
        return
    except Exception as exc:  # noqa: BLE001 - the driver's own errors: report, don't crash
        yield fail("ledger.open", f"cannot connect to the ledger at {where}: {type(exc).__name__}",
                   "check that the database is reachable and the credentials are right")
        return
    finally:
        engine.dispose()
    head = migrate.head()
    if revision == head:
        yield ok("ledger.open", f"{where}: schema at revision {revision}{note}")
    elif revision is None:
        yield ok("ledger.open", f"{where}: no schema revision yet; the first start migrates it to {head}{note}")
    elif revision in migrate.known_revisions():
        yield ok("ledger.open", f"{where}: schema at revision {revision}; the next start (or `bso-ingest migrate`)"
                 f" migrates it to {head}{note}")
    else:
        yield fail("ledger.open", f"{where}: schema at revision {revision}, newer than this version knows ({head})",
                   "run the newer bso-ingest image that migrated it, or restore a backup")


CHECKS = [check_state_dir, check_ledger]
