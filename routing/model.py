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
    # Extra CCs named in the body ("Usuários em Cópia").
    extra_ccs: list[str] = Field(default_factory=list)
    rule: str | None = None
    reasons: list[str] = Field(default_factory=list)
    missing_fields: list[str] = Field(default_factory=list)
