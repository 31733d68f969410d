"""PLACEHOLDER: `bso-ingest quarantine` is being built (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quarantine", help="(not built yet)")
    p.add_argument("rest", nargs="*")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("bso-ingest quarantine: not built yet", file=sys.stderr)
    return 1
