"""Ledger retention: `bso-ingest prune --older-than 90d` (and `[ledger] retention_days`).

What stays, and why:

- Rows with a ticket (created, commented; a skip or quarantine that names a
  ticket) are kept, because threading maps an old Message-ID to its ticket
  (`Ledger.ticket_for_message_ids`) and a re-delivered mail must find its
  key done.  Their personal data is trimmed: subject, sender and reason are
  cleared; key, Message-ID, state, ticket id and timestamps remain.
- Skipped rows without a ticket (auto-replies, bounces, loops) are deleted:
  the same mail coming back is classified and skipped again anyway.
- Quarantined rows without a ticket are kept: each waits for a person to
  replay or drop it (`quarantine list`); pruning must not hide a failure.
- Claimed (unfinished) rows are never touched.

Only rows finished before the cutoff count.  Nothing else in the database
(the Zendesk metadata cache, the schema revision) is touched.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update

from ingest.errors import LedgerError
from ingest.ledger import Ledger, messages

_AGE = re.compile(r"^\s*(\d+)\s*([dhw]?)\s*$")


def parse_age(text: str) -> timedelta:
    """'90d', '12w', '36h' or a bare number of days -> timedelta; ValueError otherwise."""
    match = _AGE.match(text or "")
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"not an age: {text!r} (use e.g. 90d, 12w or 48h)")
    n, unit = int(match.group(1)), match.group(2) or "d"
    return {"d": timedelta(days=n), "w": timedelta(weeks=n), "h": timedelta(hours=n)}[unit]


@dataclass(frozen=True)
class Pruned:
    deleted: int
    trimmed: int
    kept_quarantined: int

    def line(self) -> str:
        return (f"deleted={self.deleted} (skipped, no ticket) trimmed={self.trimmed} (ticket kept for threading"
                f" and dedupe; subject/sender/reason cleared) kept_quarantined={self.kept_quarantined}")


def prune(ledger: Ledger, older_than: timedelta, now: datetime, *, dry_run: bool = False) -> Pruned:
    """Applies the retention rules above to rows finished before `now - older_than`."""
    cutoff = now - older_than
    old = and_(messages.c.finished_at.is_not(None), messages.c.finished_at < cutoff)
    no_ticket = messages.c.ticket_id.is_(None)
    deletable = and_(old, messages.c.state == "skipped", no_ticket)
    trimmable = and_(old, messages.c.ticket_id.is_not(None),
                     or_(messages.c.subject != "", messages.c.sender != "", messages.c.reason.is_not(None)))
    quarantined = and_(old, messages.c.state == "quarantined", no_ticket)
    with ledger._begin("prune", f"older than {cutoff:%Y-%m-%d}") as conn:  # noqa: SLF001 - one transaction
        counts = [int(conn.execute(select(func.count()).select_from(messages).where(cond)).scalar_one())
                  for cond in (deletable, trimmable, quarantined)]
        if not dry_run:
            conn.execute(delete(messages).where(deletable))
            conn.execute(update(messages).where(trimmable).values(subject="", sender="", reason=None))
    return Pruned(*counts)


__all__ = ["LedgerError", "Pruned", "parse_age", "prune"]
