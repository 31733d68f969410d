"""`bso-ingest parse FILE...`: one JSON object per file (JSON Lines)."""
from __future__ import annotations

import argparse
from typing import Any

from ingest.commands.jsonl import print_each
from parsers import parse
from parsers.classify import classify
from parsers.fields import extract_fields


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("parse", help="parse .eml files and print the model as JSON Lines")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    def describe(source: str, raw: bytes) -> dict[str, Any]:
        # Ops ask "why was this skipped?" of a single file: show automated + reason.
        email = classify(parse(raw), args.settings.classify_config())
        # The portal fields as `route` reads them; parse() itself leaves them
        # to the routing stage, and a key of nulls would mislead the reader.
        email = email.model_copy(update={"fields": extract_fields(email)})
        return {"source": source, **email.model_dump(mode="json")}

    return print_each(args.files, describe)
