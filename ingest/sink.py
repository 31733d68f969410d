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
import re
import sys
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from ingest import metrics, tickets
from ingest.errors import TicketRefused, ZendeskAuthError, ZendeskError, ZendeskForbidden, ZendeskRejected
from ingest.outcomes import Commented, Created
from ingest.ratelimit import TicketLimiter
from ingest.zendesk import AmbiguousFailure, Budget, Retry, UpdateConflict, ZendeskClient
from parsers.model import Email
from routing.model import Route

if TYPE_CHECKING:
    from ingest.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserFacts:
    """What reply ownership needs to know about a sender who is not on the ticket."""

    role: str  # end-user | agent | admin
    organization_id: int | None = None


@dataclass(frozen=True)
class TicketInfo:
    """What threading needs to know about an existing ticket."""

    id: int
    status: str  # new | open | pending | hold | solved | closed
    requester_email: str
    cc_emails: list[str] = field(default_factory=list)
    organization_id: int | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def merged(self) -> bool:
        """Closed by an agent's merge into another ticket (Zendesk tags it so)."""
        return self.status == "closed" and MERGED_TAG in self.tags


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
        """Adds `email` as a public comment authored by its sender, at most once.

        `lookup_first`: an earlier try may have landed before a crash, so look
        for our marker in the ticket's audits before posting.  Raises
        TicketRefused when the ticket cannot take the comment (403, deleted,
        closed, merged), besides the errors `create` raises.
        """
        ...

    def ticket(self, ticket_id: int) -> TicketInfo | None:
        """The ticket's status, requester, CCs and organization; None when it does
        not exist.  Raises ZendeskForbidden when our agent may not see it."""
        ...

    def merge_target(self, ticket_id: int) -> int | None:
        """The ticket a merged ticket was merged into, when Zendesk says."""
        ...

    def user_facts(self, address: str) -> "UserFacts | None":
        """The Zendesk role and organization of the user with this address; None for no such user."""
        ...

    def note(self, ticket_id: int, body: str, *, lookup_first: bool = False) -> None:
        """Adds a private note for agents (the requester is not notified).

        `lookup_first`: skip it when one of the ticket's newest comments already says it."""
        ...


# The tag Zendesk puts on a ticket closed by merging it into another.
MERGED_TAG = "closed_by_merge"
# The update's `metadata` key naming the message a comment came from: Zendesk
# keeps it in the audit's metadata.custom, which nobody but the API sees.
MARKER_KEY = "bso_ingest_key"
# Zendesk shows updated_at (our updated_stamp) to the second: an update that
# may still land must be a second older than a retry, or the retry's own
# update could leave the ticket with the very stamp the late one carries.
STAMP_RESOLUTION = 1.0
_MERGED_INTO = re.compile(r"merged into (?:request|ticket) #(\d+)", re.IGNORECASE)


# A retried claim looks this far back for the private note it may have added.
_NOTE_LOOKBACK = 10


class ZendeskSink:
    """Creates tickets and comments in Zendesk through a ZendeskClient.

    Requests per new ticket: one upload per attachment, then one POST; no user
    lookups (Zendesk makes the requester and CC users from their addresses).
    With `lookup_first`, one GET by external_id comes first.

    Comments go through the Tickets API as a public comment with
    `author_id` = the sender, `safe_update` + `updated_stamp`, and our marker
    in the update's `metadata` (see `comment`): the only documented way to
    make a retried write land at most once.  The Requests API with
    `X-On-Behalf-Of` (the sender as updater) has neither, so it is not used; a
    pending, on-hold or solved ticket is set back to open explicitly instead,
    as an emailed reply would.
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
        for line in route.unmatched:
            metrics.UNMATCHED_FIELDS.labels(field=line.partition(":")[0]).inc()
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
        """One public comment authored by the sender, landed at most once.

        Each PUT carries `safe_update` with the `updated_at` read just before
        it, so Zendesk applies at most one of our tries: once one lands the
        ticket's stamp moves and every other try is refused with 409.  After
        a timeout, a dropped connection or a 409, the ticket's audits are read
        for our marker (`metadata.custom.bso_ingest_key`) and the comment is
        posted again only when it is absent.  A late-landing try is refused
        by its old stamp (see STAMP_RESOLUTION).
        """
        budget = self.client.budget(f"comment on #{ticket_id} from {_name(email)}")
        plan = tickets.plan(email, None, self.settings)
        sender = email.requester.email
        author_id: int | None = None
        look = lookup_first
        # Client clock when the stamp of the last try that may still land was read.
        maybe_landing_at: float | None = None
        while True:
            if maybe_landing_at is not None:
                rest = maybe_landing_at + STAMP_RESOLUTION - self.client.clock()
                if rest > 0:
                    self.client.sleep(rest)
            # Before the stamp is read: a wait for the ticket's update limit must not stale it.
            self._wait_for_ticket_slot(ticket_id, budget)
            ticket = self._current(ticket_id, budget)
            read_at = self.client.clock()
            if look and self._landed(ticket_id, email.key, budget):
                return Commented(ticket_id=ticket_id, reason="found by its marker in the ticket's audits")
            if ticket["status"] == "closed":
                raise self._closed(ticket, budget)
            if author_id is None:
                author_id = self.client.user_id(sender, email.requester.name, budget)
            # Fresh uploads on every try: a comment that landed used the token up.
            token, sent = self._upload(plan, budget)
            update: dict[str, Any] = {
                "comment": {**tickets.comment_payload(email, sent, token), "public": True, "author_id": author_id},
                "metadata": {MARKER_KEY: email.key},
                "safe_update": True,
                "updated_stamp": ticket["updated_at"],
            }
            if ticket["status"] in REOPENED_BY_REPLY:
                # As the email channel does when the customer answers.
                update["status"] = "open"
            try:
                answer = self.client.put(f"/api/v2/tickets/{ticket_id}.json", {"ticket": update}, budget)
            except AmbiguousFailure as exc:
                look, maybe_landing_at = True, read_at
                budget.wait(exc.retry)
                continue
            except UpdateConflict as exc:
                metrics.COMMENT_CONFLICTS.inc()
                # Ours may have landed (a try we gave up on), or someone else
                # changed the ticket: look, then try with the new stamp.
                look = True
                budget.wait(Retry(str(exc)))
                continue
            except ZendeskForbidden as exc:
                raise TicketRefused(ticket_id, "forbidden", f"comment on #{ticket_id} refused: {exc}",
                                    status=403) from exc
            except ZendeskRejected as exc:
                if not _closed_details(exc.details):
                    raise
                # Closed between our read and the PUT: look again (an earlier
                # try of ours may have landed first), then refuse as closed.
                look = True
                continue
            if answer is None:
                raise TicketRefused(ticket_id, "gone", f"ticket #{ticket_id} no longer exists (404)", status=404)
            return Commented(ticket_id=ticket_id, reason=_left_out(sent))

    def _current(self, ticket_id: int, budget: Budget) -> dict[str, Any]:
        """The ticket as it is now; TicketRefused when gone or hidden from us."""
        try:
            found = self.client.show_ticket(ticket_id, budget)
        except ZendeskForbidden as exc:
            raise TicketRefused(ticket_id, "forbidden", f"ticket #{ticket_id} is not visible to our agent: {exc}",
                                status=403) from exc
        if found is None:
            raise TicketRefused(ticket_id, "gone", f"ticket #{ticket_id} no longer exists (404)", status=404)
        return found[0]

    def _closed(self, ticket: dict[str, Any], budget: Budget) -> TicketRefused:
        ticket_id = int(ticket["id"])
        if MERGED_TAG in ticket.get("tags", []):
            target = self._merge_target(ticket_id, budget)
            where = f" into #{target}" if target is not None else ""
            return TicketRefused(ticket_id, "merged", f"ticket #{ticket_id} was merged{where}", merged_into=target)
        return TicketRefused(ticket_id, "closed", f"ticket #{ticket_id} is closed")

    def _merge_target(self, ticket_id: int, budget: Budget) -> int | None:
        """Where a merged ticket went: the merge audit's via.source.to, else its closing note."""
        for audit in self.client.audits(ticket_id, budget, max_pages=1):
            source = (audit.get("via") or {}).get("source") or {}
            target = (source.get("to") or {}).get("ticket_id") if source.get("rel") == "merge" else None
            if isinstance(target, int):
                return target
            for event in audit.get("events", []):
                found = _MERGED_INTO.search(str(event.get("body") or "")) if event.get("type") == "Comment" else None
                if found:
                    return int(found.group(1))
        return None

    def merge_target(self, ticket_id: int) -> int | None:
        return self._merge_target(ticket_id, self.client.budget(f"merge target of #{ticket_id}"))

    def user_facts(self, address: str) -> "UserFacts | None":
        budget = self.client.budget(f"user {address}")
        answer = self.client.request("GET", "/api/v2/users/search.json", budget, params={"query": f"email:{address}"})
        users = (answer or {}).get("users") or []
        if not users:
            return None
        org = users[0].get("organization_id")
        return UserFacts(role=str(users[0].get("role") or "end-user"),
                         organization_id=org if isinstance(org, int) else None)

    def _wait_for_ticket_slot(self, ticket_id: int, budget: Budget) -> None:
        """Zendesk takes 30 updates per 10 minutes into one ticket: a burst of replies waits its turn.

        Past the retry budget the comment is deferred (ZendeskUnavailable), so
        the mail stays in the inbox instead of earning a 429."""
        while True:
            wait = self.client.ticket_updates.reserve(ticket_id)
            if wait <= 0:
                return
            budget.wait(Retry(f"ticket #{ticket_id} took {self.client.ticket_updates.updates} updates in "
                              f"{self.client.ticket_updates.window:g}s", retry_after=wait))

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

    def _landed(self, ticket_id: int, key: str, budget: Budget) -> bool:
        """Did a comment of ours for this message reach the ticket?  Its marker says."""
        return any(((a.get("metadata") or {}).get("custom") or {}).get(MARKER_KEY) == key
                   for a in self.client.audits(ticket_id, budget))

    def note(self, ticket_id: int, body: str, *, lookup_first: bool = False) -> None:
        budget = self.client.budget(f"private note on #{ticket_id}")
        if lookup_first:
            comments, _users = self.client.comments(ticket_id, budget)
            if any(c.get("body") == body for c in comments[-_NOTE_LOOKBACK:]):
                return
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
        org = ticket.get("organization_id")
        return TicketInfo(id=int(ticket["id"]), status=ticket["status"], requester_email=requester, cc_emails=ccs,
                          organization_id=org if isinstance(org, int) else None, tags=list(ticket.get("tags") or []))


# Statuses a customer's reply moves back to open, as Zendesk's email channel does.
REOPENED_BY_REPLY = frozenset({"pending", "hold", "solved"})


def _closed_details(details: Any) -> bool:
    """Zendesk's 422 for an update of a closed ticket (details.status[].error == ClosedTicket)."""
    if not isinstance(details, dict):
        return False
    return any(isinstance(d, dict) and d.get("error") == "ClosedTicket" for d in details.get("status") or [])


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
        # Nothing reaches a ticket in a dry run: no update limit to keep.
        self.ticket_updates = TicketLimiter(updates=1 << 30)

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
        shown = re.fullmatch(r"/api/v2/tickets/(\d+)\.json", path)
        if method == "GET" and shown:
            # The comment path reads the ticket's stamp first; a dry run has none.
            ticket = {"id": int(shown.group(1)), "status": "open", "updated_at": "<updated_at>", "tags": []}
            return {"ticket": ticket, "users": []}
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
    options = {"pool_size": settings.service.concurrency, **client_options}
    return ZendeskSink(ZendeskClient.from_settings(settings.zendesk, **options), settings)
