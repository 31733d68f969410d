"""`bso-ingest prune --older-than 90d [--dry-run]`: ledger retention (see ingest/retention.py).

Deletes skipped rows without a ticket and clears the personal data (subject,
sender, reason) of rows with a ticket, for rows finished before the cutoff;
keeps what threading and dedupe need (key, Message-ID, ticket id) and every
quarantined or unfinished row.  The service applies `[ledger] retention_days`
itself once a day when it is set.  Exit status: 0 done, 1 the ledger failed,
2 a bad --older-than.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from ingest.errors import LedgerError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prune", help="ledger retention: drop or trim rows finished before --older-than")
    p.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 90d, 12w, 48h")
    p.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ingest.ledger import Ledger
    from ingest.retention import parse_age, prune

    try:
        age = parse_age(args.older_than)
    except ValueError as exc:
        print(f"bso-ingest prune: {exc}", file=sys.stderr)
        return 2
    try:
        ledger = Ledger.from_url(args.settings.ledger.url)
        try:
            done = prune(ledger, age, datetime.now(timezone.utc), dry_run=args.dry_run)
        finally:
            ledger.close()
    except LedgerError as exc:
        print(f"bso-ingest prune: {exc}", file=sys.stderr)
        return 1
    print(f"bso-ingest prune{' --dry-run' if args.dry_run else ''}: {done.line()}")
    return 0
