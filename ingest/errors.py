"""One exception class per failing operation, under one base.

Each names the message (key, Message-ID or UID) where one is involved and the
reason, so a log line is enough to act on.
"""
from __future__ import annotations

from typing import Any


class IngestError(Exception):
    """Base of every error this service raises on purpose."""


class ZendeskError(IngestError):
    """A Zendesk call failed."""

    def __init__(self, message: str, status: int | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


class ZendeskAuthError(ZendeskError):
    """401 anywhere, or 403 on users/me: our credentials are wrong; ingesting further is pointless, stop."""


class ZendeskRejected(ZendeskError):
    """400/422: Zendesk refused this request; retrying can't help, quarantine."""


class ZendeskForbidden(ZendeskRejected):
    """403 on one record (a ticket in a brand or group our agent may not see or
    update): about this message, not our credentials (those fail on users/me)."""


class TicketRefused(ZendeskError):
    """The ticket a reply threads into cannot take it: `why` is forbidden (403),
    gone (404, deleted), closed, or merged (`merged_into` when Zendesk says where)."""

    def __init__(self, ticket_id: int, why: str, message: str, *, merged_into: int | None = None,
                 status: int | None = None) -> None:
        super().__init__(message, status)
        self.ticket_id = ticket_id
        self.why = why
        self.merged_into = merged_into


class ZendeskUnavailable(ZendeskError):
    """429/5xx/timeouts outlasted the retry budget; try the message again later."""


class SourceError(IngestError):
    """The mailbox could not be read or changed."""


class FetchError(SourceError):
    pass


class AuthError(FetchError):
    """The mailbox or its identity provider refused our credentials.

    `who` names the account or app (user, tenant and client id: never a
    secret) and `code` the provider's own error code (an AADSTS number,
    `invalid_grant`, the IMAP server's status), so one log line says what to
    fix.  Waiting does not fix it; the service backs off and tries again, so a
    credential fixed at the provider is picked up without a restart.
    """

    def __init__(self, message: str, *, who: str = "", code: str = "") -> None:
        super().__init__(message)
        self.who = who
        self.code = code


class TokenUnavailable(FetchError):
    """The identity provider could not be reached or failed (5xx): an outage, not a refusal."""


class AckError(SourceError):
    """Moving a message to its outcome folder failed (it will be retried)."""


class LedgerError(IngestError):
    pass


class LeaseLost(IngestError):
    """Our claim's lease expired and another process took the message over.

    Not a database failure: the other owner finishes the message, so this
    caller records nothing and leaves it alone."""


class LockedError(IngestError):
    """Another run holds the lock for this mailbox and ledger."""


class ZendeskOutage(ZendeskUnavailable):
    """Zendesk itself is down (a probe confirmed it), not this message: trip the breaker, leave the inbox alone."""


class StopRequested(IngestError):
    """A stop (SIGTERM) came during a wait; the current message stays claimed in the inbox."""


class StateDirError(IngestError):
    """The state directory (var/: lock file, SQLite ledger) is not writable by this user."""
