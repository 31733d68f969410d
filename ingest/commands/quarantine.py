"""`bso-ingest quarantine list|replay`: what was quarantined, and running it again.

    bso-ingest quarantine list [--json]
    bso-ingest quarantine replay KEY... | --all

`list` reads the ledger (`[ledger] url`): key, Message-ID, sender, subject,
reason and when, as a table or JSON Lines.

`replay` finds each message's raw bytes in the source's quarantine folder (by
recomputing its key, as the pipeline does), releases the key in the ledger,
then moves the message back to the inbox, so the next poll runs it again.
That order is safe beside a running service: while the message still sits in
the quarantine folder the service cannot see it, and once it is in the inbox
its ledger row is already claimable.  A replay interrupted between the two
steps leaves the row `claimed` and the message in quarantine; replaying it
again finishes the job.

Exit status: 0 done; 1 some KEY was not found or not quarantined; 2 bad
settings; 69 the ledger or the mailbox could not be reached.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from ingest.errors import IngestError
from ingest.ledger import Ledger, Row, raw_key
from ingest.logs import escape_controls
from ingest.settings import Settings
from ingest.sources import build_source
from parsers import parse

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_UNAVAILABLE = 69


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quarantine", help="list quarantined messages, or run them again")
    actions = p.add_subparsers(dest="action", required=True)
    show = actions.add_parser("list", help="key, Message-ID, sender, subject, reason and when")
    show.add_argument("--json", action="store_true", help="JSON Lines instead of a table")
    replay = actions.add_parser("replay", help="move quarantined messages back to the inbox for the next poll")
    replay.add_argument("keys", nargs="*", metavar="KEY", help="a key, or the 16-character prefix `list` shows")
    replay.add_argument("--all", action="store_true", help="every quarantined message")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    try:
        ledger = Ledger.from_url(settings.ledger.url)
    except IngestError as exc:
        print(f"bso-ingest quarantine: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        if args.action == "list":
            return list_rows(ledger.quarantined(), as_json=args.json)
        if bool(args.keys) == bool(args.all):
            print("bso-ingest quarantine replay: give KEY... or --all (not both)", file=sys.stderr)
            return 2
        return replay(settings, ledger, set(args.keys), everything=args.all)
    except IngestError as exc:
        print(f"bso-ingest quarantine: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        ledger.close()


def list_rows(rows: list[Row], *, as_json: bool) -> int:
    if as_json:
        for row in rows:
            # ensure_ascii: JSON escapes C0 controls either way; this escapes DEL and C1 (CSI) too.
            print(json.dumps(_as_dict(row), ensure_ascii=True), flush=True)
        return EXIT_OK
    if not rows:
        print("no quarantined messages")
        return EXIT_OK
    print(f"{'KEY':<16} {'WHEN (UTC)':<19} {'SENDER':<30} {'SUBJECT':<40} REASON")
    for row in rows:
        when = (row.finished_at or row.updated_at).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        # Sender, subject and reason come from mail: escaped, so an ESC sequence
        # or a CR/LF in a subject cannot drive the terminal or forge a row.
        sender, subject = _cut(escape_controls(row.sender), 30), _cut(escape_controls(row.subject), 40)
        print(f"{row.key[:16]:<16} {when:<19} {sender:<30} {subject:<40} {escape_controls(row.reason or '')}")
    print(f"{len(rows)} quarantined; full keys and Message-IDs with --json")
    return EXIT_OK


def _as_dict(row: Row) -> dict[str, object]:
    return {
        "key": row.key,
        "message_id": row.message_id,
        "sender": row.sender,
        "subject": row.subject,
        "reason": row.reason,
        "attempts": row.attempts,
        "when": (row.finished_at or row.updated_at).isoformat(),
    }


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def message_key(raw: bytes) -> str:
    """The ledger key the pipeline gives these bytes (Email.key, else raw:<sha256>)."""
    try:
        return parse(raw).key
    except Exception:  # the pipeline quarantines unparseable bytes under raw_key
        return raw_key(raw)


def replay(settings: Settings, ledger: Ledger, keys: set[str], *, everything: bool) -> int:
    source = build_source(settings)
    now = datetime.now(timezone.utc)
    found: set[str] = set()
    try:
        for msg in list(source.quarantined()):
            key = message_key(msg.raw)
            if not everything and not _wanted(key, keys):
                continue
            row = ledger.get(key)
            # `claimed`: an earlier replay released it but did not get to move it.
            if row is None or row.state not in ("quarantined", "claimed"):
                continue
            if row.state == "quarantined":
                ledger.release(key, now)
            source.requeue(msg)
            found.add(key)
            print(json.dumps({"replayed": key, "message_id": row.message_id, "subject": row.subject},
                             ensure_ascii=False), flush=True)
    finally:
        source.close()
    missing = sorted(k for k in keys if not any(f == k or f.startswith(k) for f in found))
    for key in missing:
        print(f"bso-ingest quarantine: {key}: not a quarantined message in the quarantine folder", file=sys.stderr)
    if everything and not found:
        print("no quarantined messages to replay")
    return EXIT_NOT_FOUND if missing else EXIT_OK


def _wanted(key: str, keys: set[str]) -> bool:
    # The table shows 16-character key prefixes; accept those too.
    return any(key == k or (len(k) >= 8 and key.startswith(k)) for k in keys)
