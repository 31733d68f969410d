"""The account's ticket fields and ticket forms, as Zendesk describes them.

Built from the JSON of `GET /api/v2/ticket_fields` and `GET /api/v2/ticket_forms`
(ingest/ fetches and caches it; routing only reads it).  Fields are found by
id or by title, compared folded (case, accents, spacing), so settings can name
the portal's "Módulo" as "Modulo".  Pure data: no HTTP, no clock.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from parsers.text import fold

# Field types whose value is the tag of one option (tagger) or a list of them.
OPTION_TYPES = frozenset({"tagger", "multiselect"})


@dataclass(frozen=True)
class Option:
    """One drop-down entry: `name` is what people read, `value` the tag Zendesk stores."""

    id: int | None
    name: str
    value: str


@dataclass(frozen=True)
class TicketField:
    id: int
    type: str
    title: str
    title_in_portal: str = ""
    active: bool = True
    options: tuple[Option, ...] = ()
    regexp: str | None = None
    # A checkbox adds this tag when ticked.
    tag: str | None = None

    @property
    def label(self) -> str:
        return self.title_in_portal or self.title

    def option_by_value(self, value: str) -> Option | None:
        return next((o for o in self.options if o.value == value), None)

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> "TicketField":
        options = tuple(
            Option(o.get("id"), str(o.get("name") or o.get("value") or ""), str(o["value"]))
            for o in raw.get("custom_field_options") or []
            if o.get("value") not in (None, "")
        )
        return cls(
            id=int(raw["id"]), type=str(raw.get("type") or "text"), title=str(raw.get("title") or ""),
            title_in_portal=str(raw.get("title_in_portal") or ""), active=bool(raw.get("active", True)),
            options=options, regexp=raw.get("regexp_for_validation") or None, tag=raw.get("tag") or None,
        )


@dataclass(frozen=True)
class ChildField:
    id: int
    is_required: bool = False


@dataclass(frozen=True)
class FormCondition:
    """"When field `parent_field_id` has `value`, show `child_fields`" (Zendesk's condition set)."""

    parent_field_id: int
    value: Any  # an option's tag for a drop-down, true/false for a checkbox
    child_fields: tuple[ChildField, ...]

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> "FormCondition":
        children = tuple(ChildField(int(c["id"]), bool(c.get("is_required", False)))
                         for c in raw.get("child_fields") or [])
        return cls(int(raw["parent_field_id"]), raw.get("value"), children)


@dataclass(frozen=True)
class TicketForm:
    id: int
    name: str
    display_name: str = ""
    active: bool = True
    default: bool = False
    field_ids: tuple[int, ...] = ()
    agent_conditions: tuple[FormCondition, ...] = ()
    end_user_conditions: tuple[FormCondition, ...] = ()

    def conditions(self, which: str) -> tuple[FormCondition, ...]:
        return self.agent_conditions if which == "agent" else self.end_user_conditions

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> "TicketForm":
        return cls(
            id=int(raw["id"]), name=str(raw.get("name") or ""), display_name=str(raw.get("display_name") or ""),
            active=bool(raw.get("active", True)), default=bool(raw.get("default", False)),
            field_ids=tuple(int(i) for i in raw.get("ticket_field_ids") or []),
            agent_conditions=tuple(FormCondition.from_api(c) for c in raw.get("agent_conditions") or []),
            end_user_conditions=tuple(FormCondition.from_api(c) for c in raw.get("end_user_conditions") or []),
        )


@dataclass(frozen=True)
class Catalog:
    """Ticket fields by id, and the ticket forms."""

    fields: Mapping[int, TicketField] = field(default_factory=dict)
    forms: tuple[TicketForm, ...] = ()

    @classmethod
    def from_api(cls, ticket_fields: Iterable[Mapping[str, Any]], ticket_forms: Iterable[Mapping[str, Any]] = ()
                 ) -> "Catalog":
        # System fields (subject, status...) carry no custom value; keep them anyway so
        # a title that names one is reported as "not a custom field" rather than missing.
        fields = {f.id: f for f in (TicketField.from_api(raw) for raw in ticket_fields)}
        return cls(fields, tuple(TicketForm.from_api(raw) for raw in ticket_forms))

    def field(self, ref: int | str, prefer: Iterable[int] = ()) -> TicketField | None:
        """A field by id, or by title / portal title (folded).  When several share
        a title: active ones first, then those in `prefer` (the form's fields)."""
        if isinstance(ref, int):
            return self.fields.get(ref)
        wanted = fold(ref)
        preferred = set(prefer)
        found = [f for f in self.fields.values() if wanted in (fold(f.title), fold(f.title_in_portal))]
        found.sort(key=lambda f: (not f.active, f.id not in preferred, fold(f.title) != wanted, f.id))
        return found[0] if found else None

    def form(self, ref: int | str | None) -> TicketForm | None:
        """A form by id or name (folded); None names the account's default form."""
        if ref is None:
            return next((f for f in self.forms if f.default and f.active), None)
        if isinstance(ref, int):
            return next((f for f in self.forms if f.id == ref), None)
        wanted = fold(ref)
        found = [f for f in self.forms if wanted in (fold(f.name), fold(f.display_name))]
        found.sort(key=lambda f: (not f.active, f.id))
        return found[0] if found else None

    def __bool__(self) -> bool:
        return bool(self.fields)
