"""Per-sender rate guard: the last line against mail loops and auto-reply storms.

A loop the classifiers miss (a responder without any of the usual headers,
a misconfigured forward) still shows as one address writing too fast.  The
count comes from the ledger, so it survives restarts and is shared by
replicas on one database.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from ingest.outcomes import Skipped
from ingest.trust import judge
from parsers.model import Email

if TYPE_CHECKING:
    from ingest.settings import Settings

log = logging.getLogger(__name__)


class SenderCounter(Protocol):
    """The part of the Ledger the guard reads."""

    def count_from_sender(self, sender: str, since: datetime) -> int: ...


def check_rate(email: Email, ledger: SenderCounter, settings: "Settings", now: datetime) -> Skipped | None:
    """Skipped("loop: ...") when the sender is over its limit in the window, else None.

    The ledger's count includes the message being processed (it was claimed
    before parsing), so the first `sender_limit` messages pass and the rest of
    the window is skipped.  Mail that failed sender authentication is counted
    in a bucket of its own (the claim recorded it so, `ingest.trust`): forged
    mail cannot silence the real sender.
    """
    limit = settings.classify.sender_limit
    window = settings.classify.sender_window_seconds
    sender = judge(email, settings.security).budget_sender(email)
    count = ledger.count_from_sender(sender, now - timedelta(seconds=window))
    if count <= limit:
        return None
    reason = f"loop: {count} messages from {sender} in {window:g}s (limit {limit})"
    # Loud on purpose: either a mail loop is running or a customer is being
    # silenced, and a person must look at it.
    log.warning("rate guard skipped %s (key %s): %s", email.message_id or "<no Message-ID>", email.key, reason)
    return Skipped(reason)
