"""Does this message answer an existing ticket?  Headers first, then the subject.

- In-Reply-To / References naming a Message-ID the ledger knows: the reply
  threads into that message's ticket.  Message-IDs are not guessable, so no
  sender check.
- A ticket number in the subject (`threading.subject_patterns`, after any
  Re:/RES:/ENC:... prefixes): threads only when the sender is the ticket's
  requester or one of its CCs, so a stranger who copies "[Chamado 123]" into a
  subject cannot write into someone else's ticket.  Otherwise the mail becomes
  a new ticket; `mention_tags` gives the tag that records the number it named.
- A closed ticket cannot take comments: the answer is a follow-up ticket.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from parsers.model import Email

if TYPE_CHECKING:
    from ingest.settings import Settings
    from ingest.sink import TicketInfo

log = logging.getLogger(__name__)

# Zendesk refuses updates to closed tickets; solved ones reopen on a comment,
# as they do for real e-mail.
CLOSED = "closed"
MENTION_TAG = "mentions_ticket_{number}"


@dataclass(frozen=True)
class Thread:
    """`comment` on ticket_id, or create a `followup` of a closed ticket_id."""

    action: Literal["comment", "followup"]
    ticket_id: int
    reason: str


class MessageIndex(Protocol):
    """The part of the Ledger threading reads."""

    def ticket_for_message_ids(self, ids: list[str]) -> int | None: ...


class TicketLookup(Protocol):
    """The part of the Sink threading reads."""

    def ticket(self, ticket_id: int) -> "TicketInfo | None": ...


def find_thread(email: Email, ledger: MessageIndex, sink: TicketLookup, settings: "Settings") -> Thread | None:
    """The ticket this message answers and what to do with it; None for a new ticket."""
    return _by_headers(email, ledger, sink) or _by_subject(email, sink, settings)


def mentioned_ticket(email: Email, settings: "Settings") -> int | None:
    """The first ticket number the subject names per `threading.subject_patterns`, else None."""
    for pattern in settings.threading.subject_patterns:
        match = re.search(pattern, email.subject, re.IGNORECASE)
        if match:
            return int(match.group(1))
    return None


def mention_tags(email: Email, settings: "Settings") -> list[str]:
    """Tags for a new ticket whose subject names a ticket it was not threaded into."""
    number = mentioned_ticket(email, settings)
    return [MENTION_TAG.format(number=number)] if number is not None else []


def _by_headers(email: Email, ledger: MessageIndex, sink: TicketLookup) -> Thread | None:
    ids = [i for i in (email.in_reply_to, *email.references) if i]
    if not ids:
        return None
    ticket_id = ledger.ticket_for_message_ids(ids)
    if ticket_id is None:
        return None
    info = sink.ticket(ticket_id)
    if info is None:
        # Deleted in Zendesk since: a new ticket, not a comment into nothing.
        log.info("%s answers ticket %d, which no longer exists", email.message_id, ticket_id)
        return None
    return _thread(info, "In-Reply-To/References")


def _by_subject(email: Email, sink: TicketLookup, settings: "Settings") -> Thread | None:
    number = mentioned_ticket(email, settings)
    if number is None:
        return None
    info = sink.ticket(number)
    if info is None:
        return None
    sender = email.requester.email.strip().lower()
    allowed = {info.requester_email.lower(), *(cc.lower() for cc in info.cc_emails)}
    if sender not in allowed:
        # Not an error, but worth seeing: someone names a ticket that is not theirs.
        log.warning(
            "%s from %s names ticket %d but is neither its requester nor a CC: new ticket",
            email.message_id, sender, number,
        )
        return None
    return _thread(info, f"subject names ticket {number}")


def _thread(info: "TicketInfo", how: str) -> Thread:
    if info.status == CLOSED:
        return Thread("followup", info.id, f"{how}; ticket {info.id} is closed")
    return Thread("comment", info.id, f"{how}; ticket {info.id} is {info.status}")


__all__ = ["Thread", "find_thread", "mention_tags", "mentioned_ticket"]
