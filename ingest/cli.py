"""`bso-ingest` command line.  Each subcommand lives in ingest/commands/<name>.py
and exposes `add_parser(subparsers)` and `run(args) -> int`; `args.settings`
holds the validated Settings."""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ingest import memory
from ingest.logs import configure_logging
from ingest.redact import redact_url
from ingest.settings import SettingsError, load_settings

COMMANDS = ("parse", "route", "send", "run", "quarantine", "migrate", "check", "prune")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bso-ingest")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bso-ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="settings file (default: $BSO_INGEST_CONFIG, else ./settings.toml)")
    parser.add_argument("--version", action="version", version=f"bso-ingest {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"ingest.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Before any thread exists: big messages' memory goes back to the system (ingest/memory.py).
    memory.tune()
    try:
        # Settings are loaded once, here, so every command fails the same way
        # (exit 2, every bad key listed) on a bad config.
        args.settings = load_settings(args.config)
        configure_logging(args.settings)
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"bso-ingest: {redact_url(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
