"""`bso-ingest parse FILE...`: one JSON object per file (JSON Lines)."""
from __future__ import annotations

import argparse
import json

from parsers import ParseError, parse
from parsers.classify import classify


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("parse", help="parse .eml files and print the model as JSON Lines")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    status = 0
    for source in args.files:
        try:
            with open(source, "rb") as fh:
                # Ops ask "why was this skipped?" of a single file: show automated + reason.
                email = classify(parse(fh.read()), args.settings)
            line = {"source": source, **email.model_dump(mode="json")}
        except OSError as exc:
            line, status = {"source": source, "error": f"cannot read file: {exc.strerror}"}, 1
        except ParseError as exc:
            line, status = {"source": source, "error": str(exc)}, 1
        except Exception as exc:  # never a traceback: name the file and the reason
            line, status = {"source": source, "error": f"unexpected {type(exc).__name__}: {exc}"}, 1
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return status
