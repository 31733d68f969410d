"""The `[routing]` section: support addresses, impact → priority and the rule table.

Rules are data: first match wins, then the default.  Validation here is what
gives ops a clear error at startup for a bad rule (issue 5).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Priority = Literal["low", "normal", "high", "urgent"]


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_id: int | None = None
    priority: Priority | None = None
    tags: list[str] = Field(default_factory=list)
    type: Literal["problem", "incident", "question", "task"] | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    when: dict[str, Any] = Field(default_factory=dict)
    set: RuleSet = Field(default_factory=RuleSet)


class RoutingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    support_addresses: list[str] = Field(default_factory=lambda: ["atendimento.bsorm@totvs.com.br"])
    default_group_id: int | None = None
    priority_by_impact: dict[str, Priority] = Field(
        default_factory=lambda: {"question": "low", "workaround": "normal", "non_critical": "normal", "critical": "urgent"}
    )
    # Sender domain -> organization code, when the mail names none.
    organizations: dict[str, str] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    # Portal fields whose absence tags the ticket `dados_incompletos`.
    required_fields: list[str] = Field(default_factory=lambda: ["organization", "impact", "product", "module"])
    incomplete_tag: str = "dados_incompletos"
