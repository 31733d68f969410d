"""PLACEHOLDER (issue 6 replaces this): does this message answer an existing ticket?"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from parsers.model import Email

if TYPE_CHECKING:
    from ingest.ledger import Ledger
    from ingest.settings import Settings
    from ingest.sink import Sink


@dataclass(frozen=True)
class Thread:
    """`comment` on ticket_id, or create a `followup` of a closed ticket_id."""

    action: Literal["comment", "followup"]
    ticket_id: int
    reason: str


def find_thread(email: Email, ledger: "Ledger", sink: "Sink", settings: "Settings") -> Thread | None:
    return None
