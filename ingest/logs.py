"""Logging for every command: stderr (stdout carries JSON lines and summaries),
text or one JSON object per line, level from `[service]`."""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from ingest.settings import Settings


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the pipeline's `extra` fields kept."""

    FIELDS = ("key", "message_id", "origin", "outcome", "ticket_id", "reason")

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({name: getattr(record, name) for name in self.FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
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
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(settings.service.log_level)
    # APScheduler logs every job run at INFO; our job only raises a flag.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Alembic announces its plugins and DDL mode at INFO on every ledger open;
    # ingest.migrate logs the migrations that actually ran.
    logging.getLogger("alembic").setLevel(logging.WARNING)
