"""PLACEHOLDER (issue 6 replaces this): per-sender rate guard against mail loops."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ingest.outcomes import Skipped
from parsers.model import Email

if TYPE_CHECKING:
    from ingest.ledger import Ledger
    from ingest.settings import Settings


def check_rate(email: Email, ledger: "Ledger", settings: "Settings", now: datetime) -> Skipped | None:
    """Skipped("loop: ...") when the sender is over its limit in the window, else None."""
    return None
