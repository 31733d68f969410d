"""What a mail may do, given who we know it is from.

`judge` turns the MX's verdict (`parsers.classify.authentication`) into the
actions of `[security]`; the pipeline asks the `Trust` it returns:

- `budget_sender`: the loop-guard counts unauthenticated mail apart, so
  forged mail "from" a customer cannot use up the customer's own budget;
- `allow_thread(thread)`: the one policy check every threading path goes
  through (subject number, In-Reply-To/References, follow-up of a closed
  ticket); `no_thread` turns any of them into a new ticket, so neither a
  copied subject nor a guessed Message-ID writes into someone's ticket;
- `quarantine`, `tags` and `note` (a private note for agents).

Missing results are logged once per run (`MissingLog`), not once per mail:
with no trusted authserv-id configured every mail is "missing".
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from parsers.classify.authentication import Verdict, authenticate
from parsers.classify.security import Action, SecuritySettings
from parsers.model import Email

if TYPE_CHECKING:
    from ingest.replies import Thread

log = logging.getLogger(__name__)

# Ledger sender of failed-authentication mail: its own loop-guard bucket.
UNAUTHENTICATED_PREFIX = "unauthenticated:"


@dataclass(frozen=True)
class Trust:
    verdict: Verdict
    actions: frozenset[Action]
    tag: str = ""

    @property
    def quarantine(self) -> bool:
        return "quarantine" in self.actions

    @property
    def tags(self) -> list[str]:
        return [self.tag] if "tag" in self.actions and self.tag else []

    @property
    def policy(self) -> str:
        """The actions, as `bso-ingest route` and the logs show them."""
        return "+".join(sorted(self.actions)) or "accept"

    def budget_sender(self, email: Email) -> str:
        """The loop-guard bucket: the sender, or apart when authentication failed."""
        sender = email.requester.email.strip().lower()
        return UNAUTHENTICATED_PREFIX + sender if self.verdict.outcome == "fail" else sender

    def allow_thread(self, email: Email, thread: "Thread | None") -> "Thread | None":
        """`thread` when this mail may write into an existing ticket, else None (a new ticket)."""
        # A "new" answer already opens a ticket of its own (with its tags).
        if thread is None or "no_thread" not in self.actions or thread.action == "new":
            return thread
        log.warning(
            "%s from %s would thread into ticket %d (%s) but sender authentication is %s: new ticket",
            email.message_id or email.key, email.requester.email, thread.ticket_id, thread.reason,
            self.verdict.outcome,
        )
        return None

    def note(self, blocked: "Thread | None" = None) -> str | None:
        """The private note for agents when the policy tags, else None."""
        if "tag" not in self.actions:
            return None
        lines = [
            f"Sender authentication: {self.verdict.outcome} ({self.verdict.reason}).",
            "The sender's address is not verified: anyone could have written this From: header.",
        ]
        if blocked is not None:
            lines.append(
                f"This mail named ticket #{blocked.ticket_id} ({blocked.reason}); it was not added there"
                " and opened as a new ticket instead."
            )
        return "\n".join(lines)


def judge(email: Email, settings: SecuritySettings) -> Trust:
    verdict = authenticate(email, settings)
    return Trust(verdict, settings.actions(verdict.outcome), settings.tag_for(verdict.outcome))


class MissingLog:
    """Logs, once per run, that mail arrives without a trusted verdict."""

    def __init__(self) -> None:
        self._said = False

    def __call__(self, trust: Trust) -> None:
        if self._said or trust.verdict.outcome != "missing":
            return
        self._said = True
        log.warning(
            "sender authentication is off for this run: %s (set [security] trusted_authserv_ids to our MX's"
            " authserv-id; logged once)", trust.verdict.reason,
        )


__all__ = ["UNAUTHENTICATED_PREFIX", "MissingLog", "Trust", "judge"]
