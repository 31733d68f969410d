"""`bso-ingest check`: validate the settings, then try every dependency without side effects.

One line per check: `ok`, `FAIL` (followed by `fix: ...`) or `skip`.  The
checks themselves live in ingest/checks/ (ledger, IMAP, Zendesk).  Nothing is
written: no IMAP folder is created or selected for writing, no Zendesk object
is created, the ledger is not migrated.

Exit status: 0 every check passed, 1 a check failed, 2 bad settings (as for
every command).  The Dockerfile's HEALTHCHECK uses /healthz, not this: a
check logs in to IMAP and Zendesk, which is too much every 30 seconds.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ingest.settings import Settings

if TYPE_CHECKING:
    from ingest.checks import Result


def escape(text: str) -> str:
    """Control characters shown as escapes: a server's answer must not drive the terminal."""
    from ingest.logs import escape_controls
    from ingest.redact import redact_url

    return redact_url(escape_controls(text))

MARK = {"ok": "ok  ", "fail": "FAIL", "skip": "skip"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate settings, log in to IMAP and Zendesk, open the ledger; no side effects")
    p.add_argument("--json", action="store_true", help="one JSON object per check instead of text lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ingest.checks import Result, ok, run_checks

    settings: Settings = args.settings
    failed = 0
    # The settings were validated before this runs (a bad one exits 2 with every problem listed).
    results: list[Result] = [ok("settings", "valid")]
    for result in _chain(results, run_checks(settings)):
        failed += result.failed
        if args.json:
            print(json.dumps({"check": result.name, "status": result.status, "detail": escape(result.detail),
                              "fix": escape(result.fix)}, ensure_ascii=False), flush=True)
            continue
        print(f"{MARK[result.status]} {result.name}: {escape(result.detail)}", flush=True)
        if result.failed and result.fix:
            print(f"     fix: {escape(result.fix)}", flush=True)
    print("all checks passed" if not failed else f"{failed} check(s) failed", file=sys.stderr)
    return 1 if failed else 0


def _chain(*parts: Iterable[Result]) -> Iterator[Result]:
    for part in parts:
        yield from part
