"""Email + Route → the Zendesk request payloads, shaped as Zendesk's own email
channel would make the ticket.  Pure functions: no HTTP, no clock.

- The sender is `requester: {name, email}` and there is no `submitter_id`, so
  the requester is also the submitter and authors the first, public comment.
  Zendesk finds or creates the user from that object: no user lookups.
- CCs come from To + Cc + the portal's "Usuários em Cópia", without our own
  support addresses and without the requester; Zendesk takes at most 48, so
  the rest are named in the comment instead of being lost.  Body-listed
  addresses outside the requester's organization or domain are named, not
  CC'd, unless `[security] body_ccs = "any"`.
- Attachments over the size limit, or blocked by name or by their real type
  (`parsers.attachment_safety`), are left out and the comment says which and
  why, so the ticket is never lost over them.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parsers.attachment_safety import blocked_reason, normalize_name
from parsers.model import Attachment, Email
from parsers.quotes import strip_quoted
from routing.model import Route
from routing.sender_org import same_organization

if TYPE_CHECKING:
    from ingest.settings import Settings

EXTERNAL_ID_PREFIX = "bso-ingest:"
# What Zendesk accepts as an address; anything else would make it refuse the
# whole ticket (422), so such a CC is named in the comment instead.
_ADDRESS = re.compile(r"^[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+$")
# A body line standing in for the subject is cut here, so a paragraph
# without line breaks does not become the whole subject.
SUBJECT_MAX = 150


@dataclass(frozen=True)
class LeftOut:
    """An attachment not sent to Zendesk, and why (shown to agents in the comment)."""

    filename: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Everything one create or comment needs: the files to upload first and
    the JSON to send once their upload token is known."""

    uploads: list[Attachment]
    left_out: list[LeftOut]
    ccs: list[str]
    extra_ccs: list[str]  # beyond Zendesk's CC limit, listed in the comment
    bad_ccs: list[str]  # not valid addresses, listed in the comment
    # Named in the body's "Usuários em Cópia" but outside the requester's
    # organization ([security] body_ccs): listed for agents, not CC'd.
    listed_ccs: list[str] = field(default_factory=list)


def external_id(email: Email) -> str:
    return EXTERNAL_ID_PREFIX + email.key


def subject(email: Email) -> str:
    """The subject, else the first non-blank body line (as the email channel does)."""
    text = " ".join(email.subject.split())
    if text:
        return text
    line = next((" ".join(line.split()) for line in email.body_text.splitlines() if line.strip()), "")
    if len(line) > SUBJECT_MAX:
        line = line[: SUBJECT_MAX - 1].rstrip() + "…"
    return line or "(no subject)"


def recipient(email: Email, support_addresses: list[str]) -> str | None:
    """The support address the mail was sent to: the first of To/Cc that is ours,
    else our first support address."""
    ours = {a.lower(): a for a in support_addresses}
    for addr in [*email.to, *email.cc]:
        if addr.lower() in ours:
            return ours[addr.lower()]
    return support_addresses[0] if support_addresses else None


def split_attachments(
    attachments: Iterable[Attachment], settings: "Settings"
) -> tuple[list[Attachment], list[LeftOut]]:
    """(to upload, left out with the reason).

    Blocked by name or by real type (`parsers.attachment_safety`), or too
    big.  A kept file goes up under its normalized name (no bidi controls,
    streams or trailing dots)."""
    limits = settings.attachments
    keep: list[Attachment] = []
    left: list[LeftOut] = []
    for att in attachments:
        why = blocked_reason(att, limits)
        if why is not None:
            left.append(LeftOut(_shown(att.filename), why))
        elif att.size > limits.max_bytes:
            left.append(LeftOut(att.filename, f"{_mb(att.size)} is over the {_mb(limits.max_bytes)} limit"))
        else:
            name = normalize_name(att.filename)
            keep.append(att if name == att.filename or not name else att.model_copy(update={"filename": name}))
    return keep, left


def _shown(name: str) -> str:
    """A left-out name as agents should read it: the format controls made visible."""
    return "".join(f"<U+{ord(ch):04X}>" if unicodedata.category(ch) == "Cf" else ch for ch in name)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def cc_addresses(email: Email, route: Route, settings: "Settings") -> tuple[list[str], list[str], list[str]]:
    """(CCs for Zendesk, CCs beyond the limit, invalid addresses), lowercased, in mail order."""
    excluded = {a.lower() for a in settings.routing.support_addresses} | {email.requester.email.lower()}
    seen: set[str] = set()
    good: list[str] = []
    bad: list[str] = []
    for addr in [*email.to, *email.cc, *route.extra_ccs]:
        addr = addr.strip().lower()
        if not addr or addr in excluded or addr in seen:
            continue
        seen.add(addr)
        (good if _ADDRESS.match(addr) else bad).append(addr)
    limit = settings.zendesk.max_ccs
    return good[:limit], good[limit:], bad


def plan(email: Email, route: Route | None, settings: "Settings") -> Plan:
    uploads, left_out = split_attachments(email.attachments, settings)
    listed: list[str] = []
    if route is not None and settings.security.body_ccs == "organization":
        # Anyone can list addresses in a body; Zendesk would e-mail them all.
        mapping = settings.routing.organizations
        sender = email.requester.email
        inside = [a for a in route.extra_ccs if same_organization(a, sender, mapping)]
        header = {a.strip().lower() for a in [*email.to, *email.cc]}
        listed = [a for a in route.extra_ccs if a not in inside and a.strip().lower() not in header]
        route = route.model_copy(update={"extra_ccs": inside})
    # A comment on an existing ticket leaves its CCs alone (route is None).
    ccs, extra, bad = cc_addresses(email, route, settings) if route is not None else ([], [], [])
    return Plan(uploads, left_out, ccs, extra, bad, listed)


def comment_body(email: Email, p: Plan, text: str | None = None) -> str:
    """The mail's text (or `text`) plus a note on anything that could not go into Zendesk."""
    parts = [(email.body_text if text is None else text).strip() or "(message without text)"]
    notes: list[str] = []
    if p.left_out:
        notes.append("Attachments not included:\n" + "\n".join(f"- {x.filename}: {x.reason}" for x in p.left_out))
    if p.extra_ccs:
        notes.append("Also in copy (over Zendesk's limit of CCs): " + ", ".join(p.extra_ccs))
    if p.bad_ccs:
        notes.append("Addresses in copy that are not valid: " + ", ".join(p.bad_ccs))
    if p.listed_ccs:
        notes.append("Named in the mail as in copy, but not added (outside the requester's organization): "
                     + ", ".join(p.listed_ccs))
    if notes:
        parts.append("---\n" + "\n\n".join(notes))
    return "\n\n".join(parts)


def ticket_payload(
    email: Email,
    route: Route,
    settings: "Settings",
    p: Plan,
    upload_token: str | None,
    *,
    followup_of: int | None = None,
) -> dict[str, Any]:
    """The body of `POST /api/v2/tickets`."""
    comment: dict[str, Any] = {"body": comment_body(email, p), "public": True}
    if upload_token:
        comment["uploads"] = [upload_token]
    ticket: dict[str, Any] = {
        "subject": subject(email),
        "comment": comment,
        "requester": _requester(email),
        "external_id": external_id(email),
        "tags": list(dict.fromkeys([settings.zendesk.email_tag, *route.tags])),
    }
    if p.ccs:
        ticket["email_ccs"] = [{"user_email": addr, "action": "put"} for addr in p.ccs]
    to = recipient(email, settings.routing.support_addresses)
    if to:
        ticket["recipient"] = to
    group = route.group_id if route.group_id is not None else settings.routing.default_group_id
    if group is not None:
        ticket["group_id"] = group
    if route.priority:
        ticket["priority"] = route.priority
    if route.type:
        ticket["type"] = route.type
    if route.ticket_form_id is not None:
        ticket["ticket_form_id"] = route.ticket_form_id
    if route.custom_fields:
        ticket["custom_fields"] = [dict(f) for f in route.custom_fields]
    if followup_of is not None:
        ticket["via_followup_source_id"] = followup_of
    return {"ticket": ticket}


def _requester(email: Email) -> dict[str, str]:
    # Without a display name Zendesk names a new user after the address, as
    # its email channel does; an empty name would be refused.
    if email.requester.name.strip():
        return {"name": email.requester.name.strip(), "email": email.requester.email}
    return {"email": email.requester.email}


def comment_payload(email: Email, p: Plan, upload_token: str | None) -> dict[str, Any]:
    """The `comment` object of a follow-up mail (public; the author is set by the caller).

    The ticket already holds the history, so only what the sender wrote now
    goes in: quoted history is stripped (parsers.quotes keeps the whole text
    when stripping would leave nothing)."""
    comment: dict[str, Any] = {"body": comment_body(email, p, strip_quoted(email.body_text))}
    if upload_token:
        comment["uploads"] = [upload_token]
    return comment
