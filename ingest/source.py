"""The one small protocol every mailbox source (IMAP, Maildir, test fakes) shares."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ingest.outcomes import Outcome


@dataclass(frozen=True)
class RawMessage:
    """Bytes as they came from the mailbox, plus where they came from.

    `ref` identifies the message inside its source (an IMAP "UIDVALIDITY:UID",
    a Maildir file name) and is what `ack` needs; it is not the dedupe key.
    """

    ref: str
    raw: bytes
    # Human-readable origin for logs and errors: "imap INBOX uid 42", a path.
    origin: str = ""
    # When the mailbox received it (IMAP INTERNALDATE), for the pickup-latency metric.
    received_at: datetime | None = None
    # Set when the source did not read the whole message (over
    # imap.max_message_bytes): why.  `raw` then holds only its header block,
    # and the message is quarantined with this reason, never parsed.
    unread: str = ""


class Source(Protocol):
    def fetch(self) -> Iterable[RawMessage]:
        """Messages still waiting, oldest first, regardless of \\Seen."""
        ...

    def ack(self, msg: RawMessage, outcome: Outcome) -> None:
        """Files the message by outcome (processed, skipped, quarantine).

        Called only after the outcome is recorded in the ledger.
        """
        ...
