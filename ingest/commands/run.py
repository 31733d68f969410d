"""PLACEHOLDER: `bso-ingest run` is being built (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="(not built yet)")
    p.add_argument("rest", nargs="*")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("bso-ingest run: not built yet", file=sys.stderr)
    return 1
