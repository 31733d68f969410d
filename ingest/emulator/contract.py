"""The documented shape of ticket and request payloads, checked strictly.

Zendesk answers an invalid record with 422 and a `details` object mapping each
field to a list of `{"description", "error"}`.  In strict mode the emulator
also refuses fields the Tickets API does not document, so a typo in our client
shows up as a 422 in tests instead of being silently dropped.
"""
from __future__ import annotations

import re
from typing import Any

Details = dict[str, list[dict[str, str]]]

TICKET_FIELDS = frozenset({
    "subject", "raw_subject", "comment", "requester", "requester_id", "submitter_id", "assignee_id",
    "assignee_email", "group_id", "organization_id", "collaborator_ids", "collaborators", "email_ccs",
    "email_cc_ids", "follower_ids", "followers", "external_id", "type", "priority", "status", "tags",
    "custom_fields", "fields", "due_at", "recipient", "brand_id", "ticket_form_id", "via_followup_source_id",
    "problem_id", "is_public", "metadata", "safe_update", "updated_stamp", "custom_status_id",
})
# A comment's `metadata` is read-only (system data Zendesk fills in): a
# marker of ours must go in the update's `metadata` (the audit keeps it).
COMMENT_FIELDS = frozenset({"body", "html_body", "public", "uploads", "author_id"})
REQUEST_FIELDS = frozenset({"comment", "subject", "email_ccs", "collaborators", "solved"})
REQUEST_COMMENT_FIELDS = frozenset({"body", "html_body", "uploads"})
EMAIL_CC_FIELDS = frozenset({"user_id", "user_email", "user_name", "action"})
PRIORITIES = {"low", "normal", "high", "urgent"}
TYPES = {"problem", "incident", "question", "task"}
STATUSES = {"new", "open", "pending", "hold", "solved", "closed"}
MAX_EMAIL_CCS = 48

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def valid_email(value: Any) -> bool:
    return isinstance(value, str) and bool(_EMAIL.match(value))


def _add(details: Details, field: str, description: str, error: str = "InvalidValue") -> None:
    details.setdefault(field, []).append({"description": description, "error": error})


def _unknown(details: Details, given: dict[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    for name in sorted(set(given) - allowed):
        _add(details, prefix + name, f"{prefix + name} is not a documented field", "UnknownField")


def check_comment(comment: Any, details: Details, *, strict: bool, allowed: frozenset[str] = COMMENT_FIELDS) -> None:
    if not isinstance(comment, dict):
        _add(details, "comment", "Comment must be an object", "InvalidFormat")
        return
    if strict:
        _unknown(details, comment, allowed, "comment.")
    body = comment.get("body") or comment.get("html_body")
    if not isinstance(body, str) or not body.strip():
        _add(details, "base", "Comment: cannot be blank", "BlankValue")
    if "public" in comment and not isinstance(comment["public"], bool):
        _add(details, "comment.public", "public must be true or false")
    uploads = comment.get("uploads", [])
    if not isinstance(uploads, list) or not all(isinstance(t, str) for t in uploads):
        _add(details, "comment.uploads", "uploads must be a list of upload tokens")
    if "author_id" in comment and not isinstance(comment["author_id"], int):
        _add(details, "comment.author_id", "author_id must be a user id")


def check_email_ccs(ccs: Any, details: Details, *, strict: bool) -> None:
    if not isinstance(ccs, list):
        _add(details, "email_ccs", "email_ccs must be a list")
        return
    if len(ccs) > MAX_EMAIL_CCS:
        _add(details, "email_ccs", f"A ticket can have at most {MAX_EMAIL_CCS} email CCs", "TooManyEmailCcs")
    for cc in ccs:
        if not isinstance(cc, dict):
            _add(details, "email_ccs", "each email CC must be an object")
            continue
        if strict:
            _unknown(details, cc, EMAIL_CC_FIELDS, "email_ccs.")
        if "user_id" not in cc and not valid_email(cc.get("user_email")):
            _add(details, "email_ccs", f"Email: {cc.get('user_email')!r} is invalid")
        if cc.get("action", "put") not in ("put", "delete"):
            _add(details, "email_ccs", "action must be put or delete")


def check_ticket_create(ticket: Any, *, strict: bool) -> Details:
    """Details of everything wrong with a `{"ticket": ...}` create body (empty: valid)."""
    details: Details = {}
    if not isinstance(ticket, dict):
        _add(details, "base", "Missing ticket object", "InvalidFormat")
        return details
    if strict:
        _unknown(details, ticket, TICKET_FIELDS)
    if "comment" not in ticket:
        _add(details, "base", "Description: cannot be blank", "BlankValue")
    else:
        check_comment(ticket["comment"], details, strict=strict)
    requester = ticket.get("requester")
    if requester is not None:
        if "requester_id" in ticket:
            _add(details, "requester", "Give requester or requester_id, not both")
        if not isinstance(requester, dict) or not valid_email(requester.get("email")):
            _add(details, "requester", "Requester: Email is invalid")
        elif strict:
            _unknown(details, requester, frozenset({"name", "email", "locale_id"}), "requester.")
    _check_common(ticket, details, strict=strict)
    if "recipient" in ticket and not valid_email(ticket["recipient"]):
        _add(details, "recipient", "Recipient address is invalid")
    return details


def check_ticket_update(ticket: Any, *, strict: bool) -> Details:
    """PUT /api/v2/tickets/{id}: `{"ticket": {...}}`."""
    details = _check_update(ticket, "ticket", TICKET_FIELDS, COMMENT_FIELDS, strict=strict)
    if isinstance(ticket, dict):
        _check_common(ticket, details, strict=strict)
    return details


def check_request_update(request: Any, *, strict: bool) -> Details:
    """PUT /api/v2/requests/{id}: `{"request": {...}}`, the end user's narrower view."""
    return _check_update(request, "request", REQUEST_FIELDS, REQUEST_COMMENT_FIELDS, strict=strict)


def _check_update(obj: Any, name: str, fields: frozenset[str], comment_fields: frozenset[str], *,
                  strict: bool) -> Details:
    details: Details = {}
    if not isinstance(obj, dict):
        _add(details, "base", f"Missing {name} object", "InvalidFormat")
        return details
    if strict:
        _unknown(details, obj, fields)
    if "comment" in obj:
        check_comment(obj["comment"], details, strict=strict, allowed=comment_fields)
    return details


def _check_common(ticket: dict[str, Any], details: Details, *, strict: bool) -> None:
    if "priority" in ticket and ticket["priority"] not in PRIORITIES:
        _add(details, "priority", f"Priority: {ticket['priority']!r} is not valid")
    if "type" in ticket and ticket["type"] not in TYPES:
        _add(details, "type", f"Type: {ticket['type']!r} is not valid")
    if "status" in ticket and ticket["status"] not in STATUSES:
        _add(details, "status", f"Status: {ticket['status']!r} is not valid")
    tags = ticket.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t and " " not in t for t in tags):
        _add(details, "tags", "tags must be a list of words without spaces")
    fields = ticket.get("custom_fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, dict) and isinstance(f.get("id"), int) for f in fields):
        _add(details, "custom_fields", "custom_fields must be a list of {id, value}")
    for name in ("group_id", "via_followup_source_id", "requester_id", "submitter_id"):
        if name in ticket and not isinstance(ticket[name], int):
            _add(details, name, f"{name} must be an id")
    if "external_id" in ticket and not isinstance(ticket["external_id"], str):
        _add(details, "external_id", "external_id must be a string")
    if "email_ccs" in ticket:
        check_email_ccs(ticket["email_ccs"], details, strict=strict)
