"""The Zendesk API emulator: a real HTTP/1.1 server on loopback.

It follows Zendesk's documented contract (see contract.py and state.py), not
our client: basic `{email}/token:{token}` or bearer auth, uploads with
single-use tokens, 422 `RecordInvalid` with `details`, 429 with Retry-After
and X-Rate-Limit headers, the Idempotency-Key store (`x-idempotency-lookup:
miss|hit`, 400 `IdempotentRequestError` for the same key with another body),
users created from `requester`, `GET /api/v2/tickets?external_id=`, comments
via `PUT /api/v2/tickets/{id}` and `PUT /api/v2/requests/{id}` with
`X-On-Behalf-Of`.  Faults come from faults.py.
"""
from __future__ import annotations

import base64
import json
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ingest.emulator import contract
from ingest.emulator.account import cursor_page
from ingest.emulator.faults import FaultPlan, Faults
from ingest.emulator.state import Audit, Comment, IdempotentResult, Store, Ticket, User, fingerprint, iso

DEFAULT_EMAIL = "agent@example.com"
DEFAULT_API_TOKEN = "emulator-api-token"
DEFAULT_OAUTH_TOKEN = "emulator-oauth-token"


@dataclass
class LoggedRequest:
    """One request as the emulator received it, and how it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lowercased names
    body: bytes
    status: int | None = None  # None: the connection was dropped without an answer
    fault: str | None = None
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def _param(req: LoggedRequest, name: str) -> str | None:
    values = req.query.get(name)
    return values[0] if values else None


class _Reply(Exception):
    """Ends request handling with this status, JSON body and headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, error: str, description: str, details: Any = None) -> _Reply:
    body: dict[str, Any] = {"error": error, "description": description}
    if details is not None:
        body["details"] = details
    return _Reply(status, body)


_CLOSED_DETAILS = {"status": [{"description": "Status: closed prevents ticket update", "error": "ClosedTicket"}]}
_UPDATE_CONFLICT = ("UpdateConflict", "Safe Update prevented the update due to outdated ticket data."
                    " Please fetch the latest ticket data and try again.")


def _refuse_invalid_update(details: Any, ticket: Any) -> None:
    """422 for an invalid update, and for any update of a closed ticket (Zendesk's rule)."""
    if details:
        raise _error(422, "RecordInvalid", "Record validation errors", details)
    if ticket.status == "closed":
        raise _error(422, "RecordInvalid", "Record validation errors", _CLOSED_DETAILS)
_ID = r"(\d+)(?:\.json)?"
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/api/v2/uploads(?:\.json)?"), "upload"),
    ("POST", re.compile(r"/api/v2/tickets(?:\.json)?"), "create_ticket"),
    ("GET", re.compile(r"/api/v2/tickets(?:\.json)?"), "list_tickets"),
    ("GET", re.compile(rf"/api/v2/tickets/{_ID}"), "show_ticket"),
    ("PUT", re.compile(rf"/api/v2/tickets/{_ID}"), "update_ticket"),
    ("GET", re.compile(r"/api/v2/tickets/(\d+)/comments(?:\.json)?"), "list_comments"),
    ("GET", re.compile(r"/api/v2/tickets/(\d+)/audits(?:\.json)?"), "list_audits"),
    ("PUT", re.compile(rf"/api/v2/requests/{_ID}"), "update_request"),
    ("GET", re.compile(r"/api/v2/users/search(?:\.json)?"), "search_users"),
    ("POST", re.compile(r"/api/v2/users(?:\.json)?"), "create_user"),
    ("GET", re.compile(rf"/api/v2/users/{_ID}"), "show_user"),
    ("GET", re.compile(r"/api/v2/users/me(?:\.json)?"), "show_me"),
    ("GET", re.compile(rf"/api/v2/groups/{_ID}"), "show_group"),
    ("GET", re.compile(rf"/api/v2/ticket_fields/{_ID}"), "show_ticket_field"),
    ("GET", re.compile(r"/api/v2/ticket_fields(?:\.json)?"), "list_ticket_fields"),
    ("GET", re.compile(r"/api/v2/ticket_forms(?:\.json)?"), "list_ticket_forms"),
    ("GET", re.compile(r"/api/v2/organizations(?:\.json)?"), "list_organizations"),
]


class Emulator:
    """The emulated account plus its HTTP server; start() runs it in a thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        strict: bool = True,
        faults: Faults | None = None,
        email: str = DEFAULT_EMAIL,
        api_token: str = DEFAULT_API_TOKEN,
        oauth_token: str = DEFAULT_OAUTH_TOKEN,
    ) -> None:
        self.strict = strict
        # File extensions (no dot) the account does not accept as uploads
        # (Admin Center > allowed file types).
        self.refused_extensions: set[str] = set()
        # Zendesk's Update Ticket limit: 30 updates per 10 minutes per user per
        # ticket, then 429 with Retry-After (0 turns it off).
        self.ticket_update_limit = 30
        self.ticket_update_window = 600.0
        self._ticket_updates: dict[tuple[int, int], list[float]] = {}
        # The API user is suspended: users/me answers 403 (the credentials themselves are refused).
        self.agent_suspended = False
        # Ignore `sort_order` on the audits list (oldest first always), as a
        # stand-in that does not sort might: the client must page through.
        self.audits_unsorted = False
        self.email, self.api_token, self.oauth_token = email, api_token, oauth_token
        self.store = Store()
        self.plan = FaultPlan(faults or Faults())
        self.requests: list[LoggedRequest] = []
        # Requests read so far, answered or not: `requests` logs each one only
        # once answered, so a test that must act while a request is in flight
        # (still inside the injected latency) waits on this instead.
        self.received = 0
        self._log_lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"emulator": self})
        self.httpd = _Server((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- what tests use ---------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def tickets(self) -> dict[int, Ticket]:
        return self.store.tickets

    @property
    def users(self) -> dict[int, User]:
        return self.store.users

    @property
    def faults(self) -> Faults:
        return self.plan.faults

    def seed_portal(self, data: dict[str, Any] | str | Path) -> "Emulator":
        """Ticket fields, forms and organizations, shaped as the API returns them
        (e.g. ../shared/zendesk/portal-form.json)."""
        seed: dict[str, Any] = data if isinstance(data, dict) else json.loads(Path(data).read_text(encoding="utf-8"))
        with self.store.lock:
            self.store.account.seed(seed)
        return self

    def add_user(self, email: str, name: str = "", organization_id: int | None = None) -> User:
        """An end user that exists before any ticket (with the organization they belong to)."""
        with self.store.lock:
            user = self.store.add_user(email, name)
            if organization_id is not None:
                user.organization_id = organization_id
            return user

    def set_faults(self, faults: Faults) -> None:
        """New fault knobs; the random sequence restarts from faults.seed."""
        self.plan.configure(faults)

    def reset(self) -> None:
        """Empty account, empty request log, no faults."""
        self.store.reset()
        self._ticket_updates.clear()
        self.plan.configure(Faults())
        self.agent_suspended = False
        self.audits_unsorted = False
        with self._log_lock:
            self.requests.clear()
            self.received = 0

    def start(self) -> "Emulator":
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), name="zendesk-emulator",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def note_received(self) -> None:
        with self._log_lock:
            self.received += 1

    def log(self, entry: LoggedRequest) -> None:
        with self._log_lock:
            self.requests.append(entry)

    # -- auth ---------------------------------------------------------------
    def authenticate(self, header: str | None) -> str:
        """'token' or 'oauth' for good credentials; raises 401 otherwise."""
        if header and header.startswith("Bearer ") and header[7:] == self.oauth_token:
            return "oauth"
        if header and header.startswith("Basic "):
            try:
                user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                user, secret = "", ""
            if user == f"{self.email}/token" and secret == self.api_token:
                return "token"
        raise _error(401, "Couldn't authenticate you", "Couldn't authenticate you")

    # -- endpoints ------------------------------------------------------------
    def upload(self, req: LoggedRequest, auth: str) -> _Reply:
        filename = _param(req, "filename")
        if not filename:
            raise _error(400, "InvalidParameters", "filename is required")
        token = _param(req, "token")
        if token and (token not in self.store.uploads or self.store.uploads[token].used):
            raise _error(422, "RecordInvalid", "Record validation errors",
                         {"token": [{"description": "Upload token is invalid or used", "error": "InvalidValue"}]})
        if filename.lower().rsplit(".", 1)[-1] in self.refused_extensions:
            why = f"{filename}: this file type is not allowed in this account"
            raise _error(422, "RecordInvalid", "Record validation errors",
                         {"file": [{"description": why, "error": "InvalidValue"}]})
        content_type = req.headers.get("content-type", "application/binary")
        upload = self.store.add_upload_file(token, filename, content_type, req.body)
        return _Reply(201, {"upload": {"token": upload.token, "expires_at": None,
                                       "attachment": upload.files[-1].as_json(),
                                       "attachments": [f.as_json() for f in upload.files]}})

    def create_ticket(self, req: LoggedRequest, auth: str) -> _Reply:
        body = self._json(req)
        key = req.headers.get("idempotency-key")
        if key:
            stored = self.store.idempotent(key)
            if stored is not None:
                if stored.fingerprint != fingerprint(body):
                    raise _error(400, "IdempotentRequestError",
                                 "Request parameters do not match the original request for this Idempotency-Key")
                return _Reply(stored.status, stored.body, {"x-idempotency-lookup": "hit"})
        ticket_in: Any = body.get("ticket")
        details = contract.check_ticket_create(ticket_in, strict=self.strict)
        if isinstance(ticket_in, dict):
            self.store.account.check_custom_fields(ticket_in.get("custom_fields", []), details)
            self.store.account.check_form(ticket_in.get("ticket_form_id"), details)
        if details:
            raise _error(422, "RecordInvalid", "Record validation errors", details)
        ticket = self._new_ticket(ticket_in)
        result = {"ticket": ticket.as_json(), "audit": {"ticket_id": ticket.id, "author_id": ticket.submitter_id}}
        headers = {"Location": f"{self.url}/api/v2/tickets/{ticket.id}.json"}
        if key:
            self.store.idempotency[key] = IdempotentResult(fingerprint(body), 201, result, self.store.clock())
            headers["x-idempotency-lookup"] = "miss"
        return _Reply(201, result, headers)

    def _new_ticket(self, t: dict[str, Any]) -> Ticket:
        store = self.store
        comment = t["comment"]
        if "requester" in t:
            requester = store.user_for(t["requester"]["email"], t["requester"].get("name", ""))
        elif "requester_id" in t:
            requester = self._user(t["requester_id"], "requester_id")
        else:
            requester = store.agent
        # Without submitter_id the requester is the submitter, and the
        # submitter authors the first comment (Zendesk's email-channel shape).
        submitter = self._user(t["submitter_id"], "submitter_id") if "submitter_id" in t else requester
        author = self._user(comment["author_id"], "comment.author_id") if "author_id" in comment else submitter
        followup = t.get("via_followup_source_id")
        if followup is not None and (followup not in store.tickets or store.tickets[followup].status != "closed"):
            raise _error(422, "RecordInvalid", "Record validation errors", {"via_followup_source_id": [
                {"description": "Follow-up source must be a closed ticket", "error": "InvalidValue"}]})
        organization_id = t.get("organization_id", requester.organization_id)
        if "organization_id" in t and organization_id != requester.organization_id:
            # Zendesk: only an organization the requester belongs to.
            raise _error(422, "RecordInvalid", "Record validation errors", {"organization_id": [
                {"description": "The requester is not a member of this organization", "error": "InvalidValue"}]})
        ccs = [self._cc_user(cc) for cc in t.get("email_ccs", []) if cc.get("action", "put") == "put"]
        files, bad = store.claim_uploads(comment.get("uploads", []))
        if bad:
            raise _error(422, "RecordInvalid", "Record validation errors", {"comment.uploads": [
                {"description": f"Upload token {tok} is invalid or was used", "error": "InvalidValue"} for tok in bad]})
        body = comment.get("body") or comment.get("html_body") or ""
        ticket = Ticket(
            id=store.next_id(), subject=t.get("subject") or body.strip().splitlines()[0][:80],
            requester_id=requester.id, submitter_id=submitter.id, status=t.get("status", "new"),
            priority=t.get("priority"), type=t.get("type"), group_id=t.get("group_id"), tags=list(t.get("tags", [])),
            custom_fields=list(t.get("custom_fields", [])), external_id=t.get("external_id"),
            recipient=t.get("recipient"), via_followup_source_id=followup,
            email_cc_ids=[i for i in dict.fromkeys(u.id for u in ccs) if i != requester.id],
            organization_id=organization_id, ticket_form_id=t.get("ticket_form_id"),
        )
        first = Comment(store.next_id(), author.id, body, comment.get("public", True), files, updater_id=submitter.id)
        ticket.comments.append(first)
        ticket.audits.append(Audit(store.next_id(), ticket.id, submitter.id, ticket.created_at,
                                   [{"type": "Create", "field_name": "status", "value": ticket.status},
                                    self._comment_event(first)], dict(t.get("metadata") or {})))
        store.tickets[ticket.id] = ticket
        return ticket

    @staticmethod
    def _comment_event(c: Comment) -> dict[str, Any]:
        return {"id": c.id, "type": "Comment", "author_id": c.author_id, "body": c.body, "public": c.public,
                "attachments": [a.as_json() for a in c.attachments]}

    def _cc_user(self, cc: dict[str, Any]) -> User:
        if "user_id" in cc:
            return self._user(cc["user_id"], "email_ccs")
        return self.store.user_for(cc["user_email"], cc.get("user_name", ""))

    def _user(self, user_id: int, field_name: str) -> User:
        user = self.store.users.get(user_id)
        if user is None:
            raise _error(422, "RecordInvalid", "Record validation errors",
                         {field_name: [{"description": f"User {user_id} does not exist", "error": "InvalidValue"}]})
        return user

    def _ticket(self, ticket_id: int, *, update: bool = False) -> Ticket:
        ticket = self.store.tickets.get(ticket_id)
        if ticket is None:
            raise _error(404, "RecordNotFound", "Not found")
        if ticket.forbidden == "none" or (update and ticket.forbidden == "read"):
            raise _error(403, "Forbidden", "You do not have access to this page. Please contact the account owner"
                                           " of this help desk for further help.")
        return ticket

    def list_tickets(self, req: LoggedRequest, auth: str) -> _Reply:
        external_id = _param(req, "external_id")
        found = [t for t in self.store.tickets.values() if external_id is None or t.external_id == external_id]
        return _Reply(200, {"tickets": [t.as_json() for t in found], "count": len(found),
                            "next_page": None, "previous_page": None})

    def show_ticket(self, req: LoggedRequest, auth: str, ticket_id: str) -> _Reply:
        ticket = self._ticket(int(ticket_id))
        body: dict[str, Any] = {"ticket": ticket.as_json()}
        if "users" in ",".join(req.query.get("include", [])).split(","):
            ids = [ticket.requester_id, ticket.submitter_id, *ticket.email_cc_ids]
            body["users"] = [self.store.users[i].as_json() for i in dict.fromkeys(ids)]
        return _Reply(200, body)

    def list_audits(self, req: LoggedRequest, auth: str, ticket_id: str) -> _Reply:
        """Oldest first, as Zendesk lists them; `sort_order=desc` for newest first."""
        ticket = self._ticket(int(ticket_id))
        audits = [a.as_json() for a in ticket.audits]
        order = _param(req, "sort_order") or "asc"
        if order == "desc" and not self.audits_unsorted:
            audits.reverse()
        # Offset pagination, 100 per page at most, as the audits list answers.
        per_page = max(1, min(100, int(_param(req, "per_page") or 100)))
        page = max(1, int(_param(req, "page") or 1))
        start = (page - 1) * per_page
        more = start + per_page < len(audits)
        following = (f"{self.url}/api/v2/tickets/{ticket.id}/audits.json?page={page + 1}&per_page={per_page}"
                     f"&sort_order={order}") if more else None
        return _Reply(200, {"audits": audits[start:start + per_page], "count": len(audits),
                            "next_page": following, "previous_page": None})

    def list_comments(self, req: LoggedRequest, auth: str, ticket_id: str) -> _Reply:
        ticket = self._ticket(int(ticket_id))
        body: dict[str, Any] = {"comments": [c.as_json() for c in ticket.comments], "count": len(ticket.comments)}
        if "users" in ",".join(req.query.get("include", [])).split(","):
            ids = dict.fromkeys(c.author_id for c in ticket.comments)
            body["users"] = [self.store.users[i].as_json() for i in ids]
        return _Reply(200, body)

    def update_ticket(self, req: LoggedRequest, auth: str, ticket_id: str) -> _Reply:
        ticket = self._ticket(int(ticket_id), update=True)
        t: Any = self._json(req).get("ticket")
        details = contract.check_ticket_update(t, strict=self.strict)
        if isinstance(t, dict):
            self.store.account.check_custom_fields(t.get("custom_fields", []), details)
            self.store.account.check_form(t.get("ticket_form_id"), details)
        _refuse_invalid_update(details, ticket)
        if t.get("safe_update") in (True, "true") and "updated_stamp" in t and t["updated_stamp"] != iso(
                ticket.updated_at):
            # The ticket changed since the caller read it: nothing is applied.
            raise _error(409, *_UPDATE_CONFLICT)
        updater = self.store.agent
        self._count_update(updater.id, ticket.id)
        events: list[dict[str, Any]] = []
        if "comment" in t:
            c = t["comment"]
            author = self._user(c["author_id"], "comment.author_id") if "author_id" in c else updater
            events.append(self._comment_event(self._add_comment(ticket, author, updater, c,
                                                                public=c.get("public", True))))
        for name in ("status", "priority", "type", "group_id"):
            if name in t and getattr(ticket, name) != t[name]:
                events.append({"type": "Change", "field_name": name, "value": t[name],
                               "previous_value": getattr(ticket, name)})
                setattr(ticket, name, t[name])
        self._audit(ticket, updater, events, t.get("metadata"))
        return _Reply(200, {"ticket": ticket.as_json(), "audit": ticket.audits[-1].as_json()})

    def _audit(self, ticket: Ticket, updater: User, events: list[dict[str, Any]], custom: Any,
               via: dict[str, Any] | None = None) -> None:
        now = max(time.time(), ticket.updated_at)
        audit = Audit(self.store.next_id(), ticket.id, updater.id, now, events,
                      dict(custom) if isinstance(custom, dict) else {})
        if via is not None:
            audit.via = via
        ticket.audits.append(audit)
        ticket.updated_at = now

    def merge(self, source_id: int, target_id: int) -> None:
        """What an agent's merge does to the source (POST /api/v2/tickets/{target}/merge):
        it is closed, tagged `closed_by_merge`, and says where it went."""
        with self.store.lock:
            source, target = self.store.tickets[source_id], self.store.tickets[target_id]
            note = Comment(self.store.next_id(), self.store.agent.id,
                           f"This request was closed and merged into request #{target.id} \"{target.subject}\".",
                           False, updater_id=self.store.agent.id)
            source.comments.append(note)
            source.tags = [*source.tags, "closed_by_merge"]
            previous, source.status = source.status, "closed"
            self._audit(source, self.store.agent, [
                self._comment_event(note),
                {"type": "Change", "field_name": "status", "value": "closed", "previous_value": previous}],
                None, via={"channel": "merge", "source": {"from": {}, "to": {"ticket_id": target.id,
                                                                           "subject": target.subject},
                                                          "rel": "merge"}})

    def update_request(self, req: LoggedRequest, auth: str, ticket_id: str) -> _Reply:
        """The end user's side: with X-On-Behalf-Of the end user is the updater,
        so the comment is theirs and, as for an emailed reply, a pending, on-hold
        or solved ticket goes back to open."""
        on_behalf = req.headers.get("x-on-behalf-of")
        if not on_behalf:
            raise _error(403, "Forbidden", "The emulator only serves requests on behalf of an end user")
        if auth != "oauth":
            # Impersonation needs an OAuth token with the impersonate scope.
            raise _error(403, "Forbidden", "X-On-Behalf-Of requires an OAuth token with the impersonate scope")
        user = (self.store.users.get(int(on_behalf)) if on_behalf.isdigit() else self.store.user_by_email(on_behalf))
        if user is None or user.role != "end-user":
            raise _error(403, "Forbidden", "X-On-Behalf-Of must name an existing end user")
        ticket = self.store.tickets.get(int(ticket_id))
        if ticket is None or user.id not in (ticket.requester_id, *ticket.email_cc_ids):
            raise _error(404, "RecordNotFound", "Not found")
        r: Any = self._json(req).get("request")
        _refuse_invalid_update(contract.check_request_update(r, strict=self.strict), ticket)
        self._count_update(user.id, ticket.id)
        if "comment" in r:
            events = [self._comment_event(self._add_comment(ticket, user, user, r["comment"], public=True))]
            if ticket.status in ("pending", "hold", "solved"):
                events.append({"type": "Change", "field_name": "status", "value": "open",
                               "previous_value": ticket.status})
                ticket.status = "open"
            self._audit(ticket, user, events, None)
        return _Reply(200, {"request": {"id": ticket.id, "status": ticket.status, "subject": ticket.subject,
                                        "requester_id": ticket.requester_id}})

    def _count_update(self, user_id: int, ticket_id: int) -> None:
        """429 past `ticket_update_limit` updates by one user to one ticket in the window."""
        if not self.ticket_update_limit:
            return
        now = self.store.clock()
        times = [t for t in self._ticket_updates.get((user_id, ticket_id), []) if t > now - self.ticket_update_window]
        if len(times) >= self.ticket_update_limit:
            wait = max(1, int(times[0] + self.ticket_update_window - now + 0.999))
            raise _Reply(429, {"error": "TooManyRequests",
                               "description": f"You have exceeded the rate limit for updating ticket {ticket_id}"},
                         {"Retry-After": str(wait)})
        times.append(now)
        self._ticket_updates[(user_id, ticket_id)] = times

    def _add_comment(self, ticket: Ticket, author: User, updater: User, c: dict[str, Any], *,
                     public: bool) -> Comment:
        files, bad = self.store.claim_uploads(c.get("uploads", []))
        if bad:
            raise _error(422, "RecordInvalid", "Record validation errors", {"comment.uploads": [
                {"description": f"Upload token {tok} is invalid or was used", "error": "InvalidValue"} for tok in bad]})
        comment = Comment(self.store.next_id(), author.id, c.get("body") or c.get("html_body", ""), public, files,
                          updater_id=updater.id)
        ticket.comments.append(comment)
        return comment

    def search_users(self, req: LoggedRequest, auth: str) -> _Reply:
        query = (_param(req, "query") or "").strip()
        email = query.removeprefix("email:").strip('"').lower()
        found = [u for u in self.store.users.values() if u.email == email]
        return _Reply(200, {"users": [u.as_json() for u in found], "count": len(found)})

    def create_user(self, req: LoggedRequest, auth: str) -> _Reply:
        u = self._json(req).get("user") or {}
        if not contract.valid_email(u.get("email")):
            raise _error(422, "RecordInvalid", "Record validation errors",
                         {"email": [{"description": "Email is invalid", "error": "InvalidValue"}]})
        if self.store.user_by_email(u["email"]):
            raise _error(422, "RecordInvalid", "Record validation errors",
                         {"email": [{"description": "Email is already being used by another user",
                                     "error": "DuplicateValue"}]})
        return _Reply(201, {"user": self.store.add_user(u["email"], u.get("name", "")).as_json()})

    def show_user(self, req: LoggedRequest, auth: str, user_id: str) -> _Reply:
        user = self.store.users.get(int(user_id))
        if user is None:
            raise _error(404, "RecordNotFound", "Not found")
        return _Reply(200, {"user": user.as_json()})

    def show_me(self, req: LoggedRequest, auth: str) -> _Reply:
        # The API user; authenticate() already refused bad credentials with 401.
        if self.agent_suspended:
            raise _error(403, "Forbidden", "Your account has been suspended")
        return _Reply(200, {"user": self.store.agent.as_json()})

    def show_group(self, req: LoggedRequest, auth: str, group_id: str) -> _Reply:
        group = self.store.groups.get(int(group_id))
        if group is None:
            raise _error(404, "RecordNotFound", "Not found")
        return _Reply(200, {"group": group})

    def show_ticket_field(self, req: LoggedRequest, auth: str, field_id: str) -> _Reply:
        field_ = self.store.ticket_fields.get(int(field_id))
        if field_ is None:
            raise _error(404, "RecordNotFound", "Not found")
        return _Reply(200, {"ticket_field": field_})
    def list_ticket_fields(self, req: LoggedRequest, auth: str) -> _Reply:
        fields = sorted(self.store.account.ticket_fields.values(), key=lambda f: f["id"])
        return self._page(req, fields, "/api/v2/ticket_fields.json", "ticket_fields")

    def list_ticket_forms(self, req: LoggedRequest, auth: str) -> _Reply:
        # Documented without pagination (an account has at most 300 forms).
        forms = sorted(self.store.account.ticket_forms.values(), key=lambda f: f["id"])
        active = _param(req, "active")
        if active in ("true", "false"):
            forms = [f for f in forms if bool(f.get("active", True)) is (active == "true")]
        return _Reply(200, {"ticket_forms": forms, "count": len(forms), "next_page": None, "previous_page": None})

    def list_organizations(self, req: LoggedRequest, auth: str) -> _Reply:
        orgs = sorted(self.store.account.organizations.values(), key=lambda o: o["id"])
        return self._page(req, orgs, "/api/v2/organizations.json", "organizations")

    def _page(self, req: LoggedRequest, items: list[dict[str, Any]], path: str, name: str) -> _Reply:
        status, body = cursor_page(items, _param(req, "page[size]"), _param(req, "page[after]"), self.url + path, name)
        return _Reply(status, body)

    @staticmethod
    def _json(req: LoggedRequest) -> dict[str, Any]:
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            raise _error(400, "InvalidJSON", "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _error(400, "InvalidJSON", "The request body must be a JSON object")
        return body


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed or timed out mid-request (the crash and slow-write
        # tests do it on purpose) is not an emulator error worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, each response
    # waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    emulator: Emulator
    _dropped = False

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # the request log is the record; stderr noise helps nobody

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_GET

    def _handle(self) -> None:
        emu = self.emulator
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        req = LoggedRequest(self.command, parts.path, parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length) if length else b"")
        emu.note_received()
        delay = emu.plan.latency()
        if delay:
            time.sleep(delay)
        try:
            fault, value = emu.plan.before()
            if fault == "error":
                req.fault = "error"
                raise _error(value, "ServiceUnavailable", "Injected server error")
            if fault in ("throttle", "rate_limited"):
                req.fault = fault
                raise _Reply(429, {"error": "TooManyRequests", "description": "Rate limit exceeded"},
                             {"Retry-After": str(value)})
            auth = emu.authenticate(self.headers.get("Authorization"))
            for method, pattern, name in ROUTES:
                match = pattern.fullmatch(parts.path)
                if match and method == self.command:
                    if name in ("update_ticket", "update_request") and emu.plan.slow_update():
                        # As a real server does, keep working on the write after
                        # the client gave up on it; the answer goes nowhere.
                        req.fault = "slow_update"
                        time.sleep(emu.faults.slow_update_seconds)
                    with emu.store.lock:
                        reply = getattr(emu, name)(req, auth, *match.groups())
                        created = name == "create_ticket" and reply.headers.get("x-idempotency-lookup") != "hit"
                        if created and emu.plan.reset_after_create():
                            req.fault = "reset_after_create"
                            self._drop(req)
                            return
                        if name in ("update_ticket", "update_request") and emu.plan.reset_after_update():
                            req.fault = "reset_after_update"
                            self._drop(req)
                            return
                    raise reply
            raise _error(404, "InvalidEndpoint", f"Not found: {self.command} {parts.path}")
        except _Reply as reply:
            self._send(req, reply)
        except Exception as exc:  # a bug in the emulator must still answer, as a 500
            self._send(req, _error(500, "InternalError", f"emulator bug: {exc!r}"))

    def _send(self, req: LoggedRequest, reply: _Reply) -> None:
        limit, remaining, reset = self.emulator.plan.rate_limit_status()
        data = json.dumps(reply.body).encode()
        req.status = reply.status
        self.emulator.log(req)
        self.send_response(reply.status, HTTPStatus(reply.status).phrase)
        headers = {"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(data)),
                   "X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining), "ratelimit-reset": str(reset)}
        headers.update(reply.headers)
        try:
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout) and closed: the work is done anyway
            self.close_connection = True

    def _drop(self, req: LoggedRequest) -> None:
        """TCP RST with no response: the client can't know the ticket exists."""
        self.emulator.log(req)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True
        self._dropped = True

    def finish(self) -> None:
        if not self._dropped:
            super().finish()
