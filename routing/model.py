"""What routing decided for one message, and why."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from parsers.model import Fields
from routing.config import Priority


class Route(BaseModel):
    """The Zendesk side of a ticket: group, priority, tags, custom fields.

    `rule` names the rule that matched (None: the default applied) and
    `reasons` says in plain words which conditions decided it, so
    `bso-ingest route` can explain a decision without a debugger.
    """

    model_config = ConfigDict(frozen=True)

    fields: Fields = Field(default_factory=Fields)
    group_id: int | None = None
    priority: Priority | None = None
    type: str | None = None
    tags: list[str] = Field(default_factory=list)
    # Zendesk's shape: [{"id": <field id>, "value": ...}]
    custom_fields: list[dict[str, Any]] = Field(default_factory=list)
    ticket_form_id: int | None = None
    # Portal values no field could take ("module: Folhinha (no match)"): the
    # ticket is tagged and agents get them in an internal note (or a text field).
    unmatched: list[str] = Field(default_factory=list)
    # The internal note for agents listing them (None: nothing to list, or a text field holds them).
    unmatched_note: str | None = None
    # For each portal value: the field it went to, the value and how it matched
    # (exact / synonym / prefix / fuzzy 0.93 / no match).
    field_reasons: list[str] = Field(default_factory=list)
    # Extra CCs named in the body ("Usuários em Cópia").
    extra_ccs: list[str] = Field(default_factory=list)
    rule: str | None = None
    reasons: list[str] = Field(default_factory=list)
    missing_fields: list[str] = Field(default_factory=list)
