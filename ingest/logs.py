"""Logging for every command: stderr (stdout carries JSON lines and summaries),
text or one JSON object per line, level from `[service]`."""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

from ingest.redact import redact_url
from ingest.settings import Settings


# C0/C1 controls, DEL, and the Unicode line/paragraph separators: each could end a
# log line early (a forged entry) or drive the operator's terminal (ESC sequences).
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """`text` with every control character shown as an escape (\\r, \\n, \\x1b, \\u2028); tabs kept.

    Every value from mail (Message-ID, Subject, sender, reasons quoting
    them) goes through this on its way to a text log line or a terminal.
    """
    return _CONTROL.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    char = match.group(0)
    named = {"\n": "\\n", "\r": "\\r"}
    if char in named:
        return named[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class TextFormatter(logging.Formatter):
    """The text format, one line per record: the message's control characters escaped.

    A traceback (exc_info) is appended below as usual; it comes from our code.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - the stdlib's name
        # URL passwords masked too: a ledger or Zendesk URL may carry one.
        record.message = redact_url(escape_controls(record.message))
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - the stdlib's name
        return redact_url(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the pipeline's `extra` fields kept."""

    FIELDS = ("key", "message_id", "origin", "outcome", "ticket_id", "reason")

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_url(record.getMessage()),
        }
        line.update({name: getattr(record, name) for name in self.FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["traceback"] = redact_url(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(settings: Settings) -> None:
    """Log lines go to stderr (stdout carries the dry-run tickets and the summary)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    if settings.service.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(settings.service.log_level)
    # APScheduler logs every job run at INFO; our job only raises a flag.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Alembic announces its plugins and DDL mode at INFO on every ledger open;
    # ingest.migrate logs the migrations that actually ran.
    logging.getLogger("alembic").setLevel(logging.WARNING)
