"""Does this message answer an existing ticket, and may its sender write into it?

- In-Reply-To / References naming a Message-ID the ledger knows point at that
  message's ticket.  Several ledger rows may share a Message-ID (a broken
  mailer, or a stranger reusing a customer's id): the FIRST ticket made for it
  counts, and a row recorded as a collision never points anywhere.
- A ticket number in the subject (`threading.subject_patterns`, after any
  Re:/RES:/ENC:... prefixes) points at that ticket.
- Either way the reply threads only when its sender belongs to the
  conversation (`may_reply`): the ticket's requester, one of its CCs, or (when
  configured) someone in the requester's organization or mail domain, or one
  of our Zendesk agents.  A
  Message-ID is not a secret (it travels in every copy of the mail), so
  knowing one proves nothing.  Anyone else gets a new ticket, tagged with the
  ticket they named (`MENTION_TAG`).
- A closed ticket cannot take comments: a follow-up ticket.  A merged one: the
  ticket it was merged into, when Zendesk says which.  A ticket our agent may
  not see, or one deleted meanwhile: a new ticket, tagged so.
- `refusal_fallback` turns a comment Zendesk refused (TicketRefused) into
  the same kinds of answer, so one ticket's refusal never stops the service.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from ingest import metrics
from ingest.errors import TicketRefused, ZendeskForbidden
from parsers.model import Email

if TYPE_CHECKING:
    from ingest.settings import Settings
    from ingest.sink import TicketInfo, UserFacts

log = logging.getLogger(__name__)

# Zendesk refuses updates to closed tickets; solved ones reopen on a comment,
# as they do for real e-mail.
CLOSED = "closed"
MENTION_TAG = "mentions_ticket_{number}"
# Why a reply became a new ticket instead of a comment, as a tag agents can search.
REFUSED_TAG = "bso_reply_{why}"


@dataclass(frozen=True)
class Thread:
    """`comment` on ticket_id, create a `followup` of a closed ticket_id, or a
    `new` ticket (tagged `tags`) for a reply that may not go into ticket_id."""

    action: Literal["comment", "followup", "new"]
    ticket_id: int
    reason: str
    tags: tuple[str, ...] = field(default_factory=tuple)


class MessageIndex(Protocol):
    """The part of the Ledger threading reads."""

    def ticket_for_message_ids(self, ids: list[str]) -> int | None: ...


class TicketLookup(Protocol):
    """The part of the Sink threading reads."""

    def ticket(self, ticket_id: int) -> "TicketInfo | None": ...

    def merge_target(self, ticket_id: int) -> int | None: ...

    def user_facts(self, address: str) -> "UserFacts | None": ...


def find_thread(email: Email, ledger: MessageIndex, sink: TicketLookup, settings: "Settings") -> Thread | None:
    """The ticket this message answers and what to do with it; None for a plain new ticket."""
    # The direct parent first, then the References from the newest ancestor back.
    ids = [i for i in (email.in_reply_to, *reversed(email.references)) if i]
    ticket_id = ledger.ticket_for_message_ids(ids) if ids else None
    if ticket_id is not None:
        return _decide(email, ticket_id, sink, settings, "In-Reply-To/References")
    number = mentioned_ticket(email, settings)
    if number is None:
        return None
    return _decide(email, number, sink, settings, f"subject names ticket {number}")


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


def may_reply(sender: str, info: "TicketInfo", sink: TicketLookup, settings: "Settings") -> str | None:
    """Why `sender` may write into the ticket (requester, CC, domain, organization, agent), or None."""
    sender = sender.strip().lower()
    requester = info.requester_email.strip().lower()
    if sender == requester:
        return "the requester"
    if sender in {cc.strip().lower() for cc in info.cc_emails}:
        return "a CC"
    cfg = settings.threading
    domain = sender.rpartition("@")[2]
    public = {d.strip().lower() for d in cfg.public_domains}
    if cfg.allow_same_domain and domain and domain == requester.rpartition("@")[2] and domain not in public:
        return f"in the requester's domain {domain}"
    if not (cfg.allow_agents or (cfg.allow_same_organization and info.organization_id is not None)):
        return None
    facts = sink.user_facts(sender)  # one lookup, only for someone not on the ticket
    if facts is None:
        return None
    if cfg.allow_same_organization and info.organization_id is not None and facts.organization_id == info.organization_id:
        return f"in the requester's organization {info.organization_id}"
    if cfg.allow_agents and facts.role in ("agent", "admin"):
        # Agents answer tickets by mail too (Zendesk's email channel takes it).
        return f"an agent ({facts.role})"
    return None


def refusal_fallback(refused: TicketRefused, email: Email) -> Thread:
    """What to do with a reply whose comment Zendesk refused (see the module docstring)."""
    n = refused.ticket_id
    if refused.why == "merged" and refused.merged_into is not None:
        return Thread("comment", refused.merged_into, f"ticket {n} was merged into {refused.merged_into}")
    if refused.why in ("closed", "merged"):
        return Thread("followup", n, f"ticket {n} is closed: follow-up ({refused})")
    tags = (MENTION_TAG.format(number=n), REFUSED_TAG.format(why=refused.why))
    return Thread("new", n, f"reply to ticket {n} refused ({refused}): new ticket", tags)


def _decide(email: Email, ticket_id: int, sink: TicketLookup, settings: "Settings", how: str,
            hops: int = 0) -> Thread:
    try:
        info = sink.ticket(ticket_id)
    except ZendeskForbidden as exc:
        metrics.REPLY_FALLBACKS.labels(why="forbidden").inc()
        log.warning("%s answers ticket %d, which our agent may not see (%s): new ticket",
                    email.message_id, ticket_id, exc)
        return Thread("new", ticket_id, f"{how}; ticket {ticket_id} is not visible to us",
                      (MENTION_TAG.format(number=ticket_id), REFUSED_TAG.format(why="forbidden")))
    if info is None:
        # Deleted in Zendesk since: a new ticket, not a comment into nothing.
        metrics.REPLY_FALLBACKS.labels(why="gone").inc()
        log.info("%s answers ticket %d, which no longer exists: new ticket", email.message_id, ticket_id)
        return Thread("new", ticket_id, f"{how}; ticket {ticket_id} no longer exists",
                      (MENTION_TAG.format(number=ticket_id), REFUSED_TAG.format(why="gone")))
    why = may_reply(email.requester.email, info, sink, settings)
    if why is None:
        # Not an error, but worth seeing: someone answers a ticket that is not theirs.
        metrics.REPLY_FALLBACKS.labels(why="stranger").inc()
        log.warning("%s from %s answers ticket %d (%s) but is neither its requester, a CC nor a colleague:"
                    " new ticket", email.message_id, email.requester.email.lower(), ticket_id, how)
        return Thread("new", ticket_id, f"{how}; the sender is not on ticket {ticket_id}",
                      (MENTION_TAG.format(number=ticket_id),))
    if info.merged and hops < 3:
        target = sink.merge_target(ticket_id)
        if target is not None and target != ticket_id:
            # The agents made it one conversation: the sender belongs to it.
            found = _decide_merged(email, target, sink, settings, f"{how}; ticket {ticket_id} merged into {target}",
                                   hops + 1)
            if found is not None:
                return found
    if info.status == CLOSED:
        return Thread("followup", info.id, f"{how}; ticket {info.id} is closed; sender is {why}")
    return Thread("comment", info.id, f"{how}; ticket {info.id} is {info.status}; sender is {why}")


def _decide_merged(email: Email, target: int, sink: TicketLookup, settings: "Settings", how: str,
                   hops: int) -> Thread | None:
    try:
        info = sink.ticket(target)
    except ZendeskForbidden:
        return None
    if info is None:
        return None
    if info.merged and hops < 3:
        onward = sink.merge_target(target)
        if onward is not None and onward != target:
            return _decide_merged(email, onward, sink, settings, f"{how}, then into {onward}", hops + 1)
    if info.status == CLOSED:
        return Thread("followup", info.id, f"{how}; ticket {info.id} is closed")
    return Thread("comment", info.id, f"{how}; ticket {info.id} is {info.status}")


__all__ = ["Thread", "find_thread", "may_reply", "mention_tags", "mentioned_ticket", "refusal_fallback"]
