"""`bso-ingest migrate`: bring the ledger's schema to the newest revision (Alembic).

Every start does the same (opening the ledger migrates it); this command does
only that, for an init container or a maintenance window before the new
image takes traffic.  `--status` only reports.  Exit status: 0 done (or
already current), 1 the ledger cannot be opened or migrated.
"""
from __future__ import annotations

import argparse
import sys

from ingest.errors import LedgerError
from ingest.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="migrate the ledger's schema to the newest revision (run does it at start)")
    p.add_argument("--status", action="store_true", help="only print the current and the newest revision")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ingest import migrate
    from ingest.ledger import Ledger, redacted_url

    settings: Settings = args.settings
    where = redacted_url(settings.ledger.url)
    try:
        if args.status:
            ledger_engine = Ledger.engine_for(settings.ledger.url)
            try:
                now = migrate.current(ledger_engine)
            finally:
                ledger_engine.dispose()
            state = "current" if now == migrate.head() else "needs `bso-ingest migrate`"
            print(f"ledger {where}: revision {now or 'none'}, newest {migrate.head()} ({state})")
            return 0
        ledger = Ledger.from_url(settings.ledger.url)
    except LedgerError as exc:
        print(f"bso-ingest migrate: {exc}", file=sys.stderr)
        return 1
    done = ledger.migration
    ledger.close()
    if not done.changed:
        print(f"ledger {where}: already at revision {done.after}")
    elif done.stamped:
        print(f"ledger {where}: pre-migration schema stamped as {migrate.BASELINE}, now at revision {done.after}")
    else:
        print(f"ledger {where}: migrated from revision {done.before or 'none'}; now at revision {done.after}")
    return 0
