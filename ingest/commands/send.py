"""`bso-ingest send [--dry-run] FILE...`: each .eml through the pipeline, as the service would.

Parse, classify, route, then create (or comment) in Zendesk, recorded in the
same ledger as the service (`[ledger] url`), so sending a file twice gives one
ticket.  One JSON line per file on stdout:

    {"source": "a.eml", "outcome": "created", "ticket_id": 42, "reason": ""}

`outcome` is created | commented | skipped | quarantined | deferred, or
`error` when the file cannot be read (or the ledger failed on it).
`--dry-run` (or `service.dry_run`) uses the dry-run sink and an in-memory
ledger: no network, no state written.  The dry-run sink prints each request
it would make as a JSON line too (they have `method` and `url`, never
`source`), before the outcome line of their file.

Exit status: 0 when every file reached a final outcome; 1 otherwise (a
deferral, an unreadable file, a ledger failure); 3 when Zendesk refused our
credentials (the remaining files are not tried).  Never a traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ingest.errors import IngestError, LedgerError, ZendeskAuthError
from ingest.outcomes import Outcome
from ingest.pipeline import Pipeline, build_pipeline
from ingest.source import RawMessage

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_NOT_FINAL = 1
EXIT_AUTH = 3
FINAL_KINDS = frozenset({"created", "commented", "skipped", "quarantined"})


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "send",
        help="create (or comment) Zendesk tickets from .eml files, exactly once",
        description="Parse, route and send each FILE to Zendesk through the service's pipeline and ledger.",
    )
    p.add_argument("--dry-run", action="store_true",
                   help="print the requests instead of sending them; writes no ledger state")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = args.settings
    try:
        pipeline = build_pipeline(settings, dry_run=True if args.dry_run else None)
    except IngestError as exc:
        print(f"bso-ingest send: {exc}", file=sys.stderr)
        return EXIT_NOT_FINAL
    except Exception as exc:  # a sink that cannot be built: say why, no traceback
        log.debug("cannot build the pipeline", exc_info=True)
        print(f"bso-ingest send: cannot set up the Zendesk sink: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_NOT_FINAL
    if settings.service.dry_run and not args.dry_run:
        # Not silent: the operator asked to send and nothing will reach Zendesk.
        print("bso-ingest send: service.dry_run is on (it is, unless a settings file or"
              " BSO_INGEST_SERVICE__DRY_RUN=false turns it off), so this is a DRY RUN: nothing is sent to"
              " Zendesk and no ledger is written. To send for real set [service] dry_run = false or"
              " BSO_INGEST_SERVICE__DRY_RUN=false; pass --dry-run to ask for a dry run explicitly.",
              file=sys.stderr)
    try:
        return send_files(pipeline, args.files)
    finally:
        pipeline.close()


def send_files(pipeline: Pipeline, files: list[str]) -> int:
    """Sends each file in order, printing one JSON line per file; returns the exit status."""
    status = EXIT_OK
    for source in files:
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            _emit(source, "error", None, f"cannot read file: {exc.strerror or exc}")
            status = EXIT_NOT_FINAL
            continue
        try:
            outcome: Outcome = pipeline.process(RawMessage(ref=source, raw=raw, origin=source))
        except ZendeskAuthError as exc:
            # Every other file would fail the same way: stop here.
            print(f"bso-ingest send: Zendesk refused our credentials ({exc}); "
                  "check [zendesk] email and BSO_INGEST_ZENDESK__API_TOKEN / __OAUTH_TOKEN", file=sys.stderr)
            return EXIT_AUTH
        except LedgerError as exc:
            _emit(source, "error", None, str(exc))
            status = EXIT_NOT_FINAL
            continue
        except Exception as exc:  # never a traceback: name the file and the reason
            log.debug("send crashed on %s", source, exc_info=True)
            _emit(source, "error", None, f"unexpected {type(exc).__name__}: {exc}")
            status = EXIT_NOT_FINAL
            continue
        _emit(source, outcome.kind, outcome.ticket_id, outcome.reason)
        if outcome.kind not in FINAL_KINDS:
            status = EXIT_NOT_FINAL
    return status


def _emit(source: str, outcome: str, ticket_id: int | None, reason: str) -> None:
    line: dict[str, Any] = {"source": source, "outcome": outcome, "ticket_id": ticket_id, "reason": reason}
    print(json.dumps(line, ensure_ascii=False), flush=True)
