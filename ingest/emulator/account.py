"""The emulated account's configuration: ticket fields, ticket forms, organizations.

Seeded from JSON shaped as the API returns it (`seed_portal`), e.g.
../shared/zendesk/portal-form.json (copied as ingest/demo/portal-form.json).

Custom field values are checked strictly, as the Tickets API documents them
("Setting custom field values"): a drop-down (tagger) takes the tag of one of
its options, a multi-select a list of such tags, a checkbox true/false, a
date "YYYY-MM-DD", an integer a whole number, a decimal a number, text a
string.  Where the documentation is silent the emulator is the strict one,
and says so below:
- an unknown field id is refused (real Zendesk may ignore it): a typo in our
  mapping must fail a test, not vanish;
- a numeric string for an integer/decimal field is accepted only if it is a
  plain number, and `null` clears any field;
- a ticket_form_id must name an active form.
"""
from __future__ import annotations

import base64
import re
from datetime import date
from typing import Any

Details = dict[str, list[dict[str, str]]]

_INTEGER = re.compile(r"^[+-]?\d{1,12}$")
_DECIMAL = re.compile(r"^[+-]?\d+(\.\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _add(details: Details, field: str, description: str, error: str = "InvalidValue") -> None:
    details.setdefault(field, []).append({"description": description, "error": error})


class AccountConfig:
    """Ticket fields, forms and organizations; plain data under the store's lock."""

    def __init__(self) -> None:
        self.ticket_fields: dict[int, dict[str, Any]] = {}
        self.ticket_forms: dict[int, dict[str, Any]] = {}
        self.organizations: dict[int, dict[str, Any]] = {}

    def seed(self, data: dict[str, Any]) -> None:
        for f in data.get("ticket_fields", []):
            self.ticket_fields[int(f["id"])] = dict(f)
        for form in data.get("ticket_forms", []):
            self.ticket_forms[int(form["id"])] = dict(form)
        for org in data.get("organizations", []):
            self.organizations[int(org["id"])] = dict(org)

    def organization_for_email(self, email: str) -> int | None:
        """Zendesk's user mapping: a new user whose address is on an organization's domain joins it."""
        domain = email.rpartition("@")[2].lower()
        for org in self.organizations.values():
            if domain in [d.lower() for d in org.get("domain_names") or []]:
                return int(org["id"])
        return None

    # -- validation -----------------------------------------------------------
    def check_custom_fields(self, values: Any, details: Details) -> None:
        if not isinstance(values, list):
            return  # contract.py reports the shape
        for item in values:
            if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                continue
            fid, value = item["id"], item.get("value")
            field = self.ticket_fields.get(fid)
            if field is None:
                # Strict where the docs are silent: an unknown id is an error here.
                _add(details, "custom_fields", f"Ticket field {fid} does not exist")
                continue
            if value is None:
                continue
            problem = _value_problem(field, value)
            if problem:
                _add(details, f"custom_fields.{fid}", f"{field.get('title', fid)}: {problem}")

    def check_form(self, form_id: Any, details: Details) -> None:
        if form_id is None:
            return
        form = self.ticket_forms.get(form_id) if isinstance(form_id, int) else None
        if form is None or not form.get("active", True):
            _add(details, "ticket_form_id", f"Ticket form {form_id!r} is not an active ticket form")


def _value_problem(field: dict[str, Any], value: Any) -> str | None:
    kind = field.get("type")
    tags = {o["value"] for o in field.get("custom_field_options") or []}
    if kind == "tagger":
        if not isinstance(value, str) or value not in tags:
            return f"{value!r} is not the tag of one of its options"
    elif kind == "multiselect":
        if not isinstance(value, list) or not all(isinstance(v, str) and v in tags for v in value):
            return f"{value!r} is not a list of its options' tags"
    elif kind == "checkbox":
        if not isinstance(value, bool):
            return f"{value!r} is not true or false"
    elif kind == "integer":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str)
                                                                       and _INTEGER.match(value))):
            return f"{value!r} is not a whole number"
    elif kind == "decimal":
        if isinstance(value, bool) or not (isinstance(value, (int, float)) or (isinstance(value, str)
                                                                                and _DECIMAL.match(value))):
            return f"{value!r} is not a number"
    elif kind == "date":
        if not isinstance(value, str) or not _DATE.match(value):
            return f"{value!r} is not a date (YYYY-MM-DD)"
        try:
            date.fromisoformat(value)
        except ValueError:
            return f"{value!r} is not a date"
    elif kind == "regexp":
        pattern = field.get("regexp_for_validation") or ".*"
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            return f"{value!r} does not match {pattern}"
    elif not isinstance(value, str):
        return f"{value!r} is not text"
    return None


def cursor_page(items: list[dict[str, Any]], size_param: str | None, after: str | None, base: str,
                name: str) -> tuple[int, dict[str, Any]]:
    """Zendesk's cursor pagination: `page[size]` (at most 100), `page[after]`,
    `meta.has_more`/`after_cursor`, `links.next`.  Without page[size]: everything."""
    if size_param is None:
        return 200, {name: items, "count": len(items), "next_page": None, "previous_page": None}
    if not size_param.isdigit() or not 1 <= int(size_param) <= 100:
        return 400, {"error": "InvalidPaginationParameter", "description": "page[size] must be between 1 and 100"}
    size = int(size_param)
    start = 0
    if after:
        try:
            last = int(base64.urlsafe_b64decode(after.encode()).decode())
        except ValueError:
            return 400, {"error": "InvalidPaginationParameter", "description": "page[after] is not a valid cursor"}
        start = next((i + 1 for i, item in enumerate(items) if item["id"] == last), len(items))
    page = items[start:start + size]
    has_more = start + size < len(items)
    after_cursor = base64.urlsafe_b64encode(str(page[-1]["id"]).encode()).decode() if page else None
    before_cursor = base64.urlsafe_b64encode(str(page[0]["id"]).encode()).decode() if page else None
    links = {"next": f"{base}?page[size]={size}&page[after]={after_cursor}" if has_more else None,
             "prev": f"{base}?page[size]={size}&page[before]={before_cursor}" if start else None}
    return 200, {name: page, "meta": {"has_more": has_more, "after_cursor": after_cursor,
                                      "before_cursor": before_cursor}, "links": links}
