"""Where tickets go.

The pipeline talks to a Sink only; ZendeskSink (real HTTP) and DryRunSink
(prints the exact requests, no network) both implement it.  Both run the same
code: DryRunSink is a ZendeskSink over a client that prints instead of sending,
so what it prints is what the real one would send.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import sys
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from ingest import tickets
from ingest.errors import ZendeskAuthError, ZendeskError, ZendeskRejected
from ingest.outcomes import Commented, Created
from ingest.zendesk import AmbiguousFailure, Budget, ZendeskClient
from parsers.model import Email
from routing.model import Route

if TYPE_CHECKING:
    from ingest.settings import Settings

log = logging.getLogger(__name__)


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

    def comment(self, email: Email, ticket_id: int, *, lookup_first: bool = False) -> Commented:
        """Adds `email` as a public comment authored by its sender.

        `lookup_first`: an earlier try may have landed before a crash (comments
        have no Idempotency-Key), so check the ticket's newest comments first.
        """
        ...

    def ticket(self, ticket_id: int) -> TicketInfo | None:
        """The ticket's status, requester and CCs; None when it does not exist."""
        ...

    def note(self, ticket_id: int, body: str) -> None:
        """Adds a private note for agents (the requester is not notified)."""
        ...


# How many of a ticket's newest comments to check for one we may have added.
_RECENT_COMMENTS = 5


class ZendeskSink:
    """Creates tickets and comments in Zendesk through a ZendeskClient.

    Requests per new ticket: one upload per attachment, then one POST; no user
    lookups (Zendesk makes the requester and CC users from their addresses).
    With `lookup_first`, one GET by external_id comes first.

    Comments: Zendesk's email channel makes the sender the *updater* of the
    ticket (the "current user" triggers test): status goes back to open,
    "comment from end user" triggers fire, and the sender is not notified of
    their own words.  The Requests API with `X-On-Behalf-Of: <sender>` gives
    exactly that, so it is used whenever we hold an OAuth token (impersonation
    needs one with the `impersonate` scope).  With an API token, or when
    Zendesk refuses to impersonate this sender, we set `comment.author_id` on
    a Tickets API update: the comment is the sender's, but the updater is our
    API agent, so triggers see an agent update (no automatic reopen).
    """

    def __init__(self, client: ZendeskClient, settings: "Settings") -> None:
        self.client = client
        self.settings = settings

    def probe(self) -> None:
        """One `GET /api/v2/users/me`, no retries: raises ZendeskUnavailable when Zendesk does not answer.

        The circuit breaker's trial: it tells "Zendesk is down" from "this
        message fails", and never touches a message.
        """
        self.client.request("GET", "/api/v2/users/me.json", self.client.budget("probe GET /api/v2/users/me", 0.0))

    def create(self, email: Email, route: Route, *, lookup_first: bool = False, followup_of: int | None = None) -> Created:
        budget = self.client.budget(f"create ticket for {_name(email)}")
        if lookup_first:
            found = self.client.find_ticket_by_external_id(tickets.external_id(email), budget)
            if found is not None:
                return Created(ticket_id=int(found["id"]), reason="found by external_id")
        plan = tickets.plan(email, route, self.settings)
        token, plan = self._upload(plan, budget)
        payload = tickets.ticket_payload(email, route, self.settings, plan, token, followup_of=followup_of)
        ticket = self.client.create_ticket(payload, email.key, budget)
        ticket_id = int(ticket["id"])
        noted = self._note(ticket_id, route.unmatched_note, budget) if route.unmatched_note else ""
        return Created(ticket_id=ticket_id, reason="; ".join(r for r in (_left_out(plan), noted) if r))

    def _note(self, ticket_id: int, note: str, budget: Budget) -> str:
        """The internal note listing values no field took: one PUT, only for such tickets.

        The ticket exists by now, so a failure here must not fail the message
        (a retry would re-create nothing but could repeat the note): it is
        logged, and said in the outcome's reason."""
        body = {"ticket": {"comment": {"body": note, "public": False}}}
        try:
            self.client.put(f"/api/v2/tickets/{ticket_id}.json", body, budget)
        except ZendeskAuthError:
            raise
        except (ZendeskError, AmbiguousFailure) as exc:
            log.warning("zendesk: ticket #%s: the note on unmatched fields was not added: %s", ticket_id, exc)
            return "note on unmatched fields not added"
        return ""

    def comment(self, email: Email, ticket_id: int, *, lookup_first: bool = False) -> Commented:
        budget = self.client.budget(f"comment on #{ticket_id} from {_name(email)}")
        plan = tickets.plan(email, None, self.settings)
        sender = email.requester.email
        if lookup_first and self._landed(ticket_id, sender, tickets.comment_payload(email, plan, None)["body"], budget):
            return Commented(ticket_id=ticket_id, reason="found among the ticket's comments")
        impersonate = self.client.uses_oauth
        author_id: int | None = None
        while True:
            if not impersonate and author_id is None:
                author_id = self.client.user_id(sender, email.requester.name, budget)
            # Fresh uploads on every try: a comment that landed used the token up.
            token, sent = self._upload(plan, budget)
            comment = tickets.comment_payload(email, sent, token)
            try:
                if impersonate:
                    answer = self.client.put(f"/api/v2/requests/{ticket_id}.json", {"request": {"comment": comment}},
                                             budget, headers={"X-On-Behalf-Of": sender})
                else:
                    body = {"ticket": {"comment": {**comment, "public": True, "author_id": author_id}}}
                    answer = self.client.put(f"/api/v2/tickets/{ticket_id}.json", body, budget)
            except AmbiguousFailure as exc:
                if self._landed(ticket_id, sender, comment["body"], budget):
                    break
                budget.wait(exc.retry)
                continue
            except ZendeskAuthError as exc:
                # 403 for this one user (not impersonable, or the token lacks
                # the impersonate scope): still add their comment, as author_id.
                # A 401 means bad credentials and stops everything.
                if not impersonate or exc.status != 403:
                    raise
                log.warning("zendesk: impersonating %s refused (%s); commenting with author_id", sender, exc)
                impersonate = False
                continue
            if answer is None and impersonate:
                # The Requests API hides tickets the user is not on; try as agent.
                impersonate = False
                continue
            if answer is None:
                raise ZendeskRejected(f"comment on #{ticket_id} from {_name(email)}: no such ticket", 404)
            break
        return Commented(ticket_id=ticket_id, reason=_left_out(sent))

    def _upload(self, plan: tickets.Plan, budget: Budget) -> tuple[str | None, tickets.Plan]:
        """Uploads the plan's files; files Zendesk refused move to `left_out`."""
        token, refused = self.client.upload_files(_files(plan), budget)
        if not refused:
            return token, plan
        names = {name for name, _ in refused}
        return token, dataclasses.replace(
            plan,
            uploads=[a for a in plan.uploads if a.filename not in names],
            left_out=[*plan.left_out, *(tickets.LeftOut(name, why) for name, why in refused)],
        )

    def _landed(self, ticket_id: int, sender: str, body: str, budget: Budget) -> bool:
        """Did a comment that failed ambiguously reach the ticket after all?"""
        comments, users = self.client.comments(ticket_id, budget)
        return any(
            c.get("body") == body and users.get(c.get("author_id", 0), {}).get("email", "").lower() == sender.lower()
            for c in comments[-_RECENT_COMMENTS:]
        )

    def note(self, ticket_id: int, body: str) -> None:
        budget = self.client.budget(f"private note on #{ticket_id}")
        payload = {"ticket": {"comment": {"body": body, "public": False}}}
        if self.client.put(f"/api/v2/tickets/{ticket_id}.json", payload, budget) is None:
            raise ZendeskRejected(f"private note on #{ticket_id}: no such ticket", 404)

    def ticket(self, ticket_id: int) -> TicketInfo | None:
        found = self.client.show_ticket(ticket_id, self.client.budget(f"show ticket #{ticket_id}"))
        if found is None:
            return None
        ticket, users = found
        requester = users.get(ticket["requester_id"], {}).get("email", "")
        ccs = [users[i]["email"] for i in ticket.get("email_cc_ids", []) if i in users]
        return TicketInfo(id=int(ticket["id"]), status=ticket["status"], requester_email=requester, cc_emails=ccs)


def _files(plan: tickets.Plan) -> list[tuple[str, str, bytes]]:
    return [(a.filename, a.content_type or "application/octet-stream", a.content) for a in plan.uploads]


def _name(email: Email) -> str:
    return email.message_id or f"key {email.key}"


def _left_out(plan: tickets.Plan) -> str:
    return f"{len(plan.left_out)} attachment(s) left out" if plan.left_out else ""


class _PrintingClient(ZendeskClient):
    """A client that prints each request as a JSON line instead of sending it.

    Answers are placeholders: no ticket is found, uploads return a token
    named after their place in the chain, creation returns ticket 0."""

    def __init__(self, base_url: str, *, uses_oauth: bool, out: IO[str], retry_budget: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.uses_oauth = uses_oauth
        self.out = out
        self.retry_budget = retry_budget
        self.clock, self.sleep = (lambda: 0.0), (lambda _s: None)
        self.rng = random.Random(0)

    def _attempt(self, method: str, path: str, *, params: dict[str, str] | None, json: Any, data: bytes | None,
                 headers: dict[str, str] | None) -> dict[str, Any] | None:
        url = self.base_url + path + ("?" + urlencode(params) if params else "")
        line: dict[str, Any] = {"method": method, "url": url}
        sent_headers = dict(headers or {})
        if json is not None:
            sent_headers.setdefault("Content-Type", "application/json")
        line["headers"] = sent_headers  # Authorization is never printed
        if json is not None:
            line["json"] = json
        if data is not None:
            line["body"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        self.out.write(_dumps(line) + "\n")
        self.out.flush()
        if path.startswith("/api/v2/uploads"):
            return {"upload": {"token": "<upload token>"}}
        if method == "POST" and path.startswith("/api/v2/tickets"):
            return {"ticket": {"id": 0}}
        if path.startswith("/api/v2/users/search"):
            return {"users": [{"id": 0}]}
        if method == "GET":
            return None
        return {}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=False)


class DryRunSink(ZendeskSink):
    """Prints the exact requests (method, URL, headers without secrets, JSON
    body; uploads as size + sha256) as JSON lines, touching no network.

    `ticket()` answers None (nothing can be looked up), so a reply is treated
    as a new ticket in a dry run."""

    def __init__(self, settings: "Settings", out: IO[str] | None = None) -> None:
        zs = settings.zendesk
        client = _PrintingClient(zs.url, uses_oauth=zs.oauth_token is not None, out=out or sys.stdout,
                                 retry_budget=zs.retry_budget_seconds)
        super().__init__(client, settings)

    def create(self, email: Email, route: Route, *, lookup_first: bool = False, followup_of: int | None = None) -> Created:
        super().create(email, route, lookup_first=lookup_first, followup_of=followup_of)
        return Created(ticket_id=0, reason="dry-run")

    def comment(self, email: Email, ticket_id: int, *, lookup_first: bool = False) -> Commented:
        # A dry run can look nothing up, so it always shows the comment it would add.
        super().comment(email, ticket_id)
        return Commented(ticket_id=ticket_id, reason="dry-run")

    def ticket(self, ticket_id: int) -> TicketInfo | None:
        return None


def build_sink(settings: "Settings", *, out: IO[str] | None = None, **client_options: Any) -> Sink:
    """DryRunSink when `[service] dry_run`, else a ZendeskSink on the configured account.

    `client_options` go to ZendeskClient (tests pass sleep/clock/rng)."""
    if settings.service.dry_run:
        return DryRunSink(settings, out)
    return ZendeskSink(ZendeskClient.from_settings(settings.zendesk, **client_options), settings)
