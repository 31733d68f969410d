"""PLACEHOLDER (issue 3 fills this in): where tickets go.

The pipeline talks to a Sink only; ZendeskSink (real HTTP) and DryRunSink
(prints the exact requests, no network) both implement it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ingest.outcomes import Commented, Created
from parsers.model import Email
from routing.model import Route


@dataclass(frozen=True)
class TicketInfo:
    """What threading needs to know about an existing ticket."""

    id: int
    status: str  # new | open | pending | hold | solved | closed
    requester_email: str
    cc_emails: list[str] = field(default_factory=list)


class Sink(Protocol):
    def create(self, email: Email, route: Route, *, lookup_first: bool = False, followup_of: int | None = None) -> Created:
        """Creates the ticket for `email` (idempotent on email.key).

        `lookup_first`: search by external_id before creating (an old claim
        whose Idempotency-Key may have expired).  `followup_of`: a closed
        ticket this one follows up (via_followup_source_id).
        Raises ZendeskRejected (quarantine), ZendeskUnavailable (defer) or
        ZendeskAuthError (stop the service).
        """
        ...

    def comment(self, email: Email, ticket_id: int) -> Commented:
        """Adds `email` as a public comment authored by its sender."""
        ...

    def ticket(self, ticket_id: int) -> TicketInfo | None:
        """The ticket's status, requester and CCs; None when it does not exist."""
        ...
