"""The `[routing]` section: support addresses, impact → priority and the rule table.

Rules are data: first match wins, then the default.  Validation here is what
gives ops a clear error at startup for a bad rule (issue 5): an unknown
condition key, a value of the wrong kind, a bad priority, a duplicate name.
Custom-field names are checked against `[zendesk.custom_fields]` by
`check_custom_fields`, which `Settings` calls because it needs both sections.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from parsers.model import Fields
from parsers.text import slug
from routing.conditions import CONDITIONS, Value
from routing.fieldmap import FieldsSettings
from routing.organizations import DirectorySettings

Priority = Literal["low", "normal", "high", "urgent"]
IMPACTS = ("question", "workaround", "non_critical", "critical")


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_id: int | None = None
    priority: Priority | None = None
    tags: list[str] = Field(default_factory=list)
    type: Literal["problem", "incident", "question", "task"] | None = None
    # Field name (a key of [zendesk.custom_fields]) -> value.
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    # Condition key -> accepted values (any-of); a single value becomes a list.
    when: dict[str, list[Value]] = Field(default_factory=dict)
    set: RuleSet = Field(default_factory=RuleSet)

    @field_validator("when", mode="before")
    @classmethod
    def _known_conditions(cls, when: Any) -> Any:
        if not isinstance(when, Mapping):
            return when  # pydantic reports the wrong type
        problems: list[str] = []
        checked: dict[str, list[Value]] = {}
        for key, raw in when.items():
            condition = CONDITIONS.get(key)
            if condition is None:
                problems.append(f"unknown condition {key!r} (known: {', '.join(CONDITIONS)})")
                continue
            values = raw if isinstance(raw, list) else [raw]
            if not values:
                problems.append(f"condition {key!r} has an empty list, so the rule could never match")
            for value in values:
                # bool is an int subclass: check the exact kind.
                if type(value) is not condition.kind:
                    kind = "true or false" if condition.kind is bool else "text"
                    problems.append(f"condition {key!r} takes {kind}, got {value!r}")
                elif condition.allowed and value not in condition.allowed:
                    problems.append(f"condition {key!r}: {value!r} is not one of {', '.join(sorted(condition.allowed))}")
            checked[key] = values
        if problems:
            raise ValueError("; ".join(problems))
        return checked

    @property
    def tag(self) -> str:
        """The tag naming this rule on every ticket it routes."""
        return f"rule_{slug(self.name)}"


class RoutingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    support_addresses: list[str] = Field(default_factory=lambda: ["atendimento.bsorm@totvs.com.br"])
    default_group_id: int | None = None
    priority_by_impact: dict[str, Priority] = Field(
        default_factory=lambda: {"question": "low", "workaround": "normal", "non_critical": "normal", "critical": "urgent"}
    )
    # Sender domain -> organization code: overrides the Zendesk directory.
    organizations: dict[str, str] = Field(default_factory=dict)
    # Where an organization's code comes from in the Zendesk directory.
    directory: DirectorySettings = Field(default_factory=lambda: DirectorySettings())
    # Portal fields -> Zendesk ticket fields and form (routing.fieldmap).
    fields: FieldsSettings = Field(default_factory=lambda: FieldsSettings())
    rules: list[Rule] = Field(default_factory=list)
    # Portal fields whose absence tags the ticket `dados_incompletos`.
    required_fields: list[str] = Field(default_factory=lambda: ["organization", "impact", "product", "module"])
    incomplete_tag: str = "dados_incompletos"

    @field_validator("priority_by_impact")
    @classmethod
    def _known_impacts(cls, value: dict[str, Priority]) -> dict[str, Priority]:
        unknown = [k for k in value if k not in IMPACTS]
        if unknown:
            raise ValueError(f"unknown impact {', '.join(map(repr, unknown))} (known: {', '.join(IMPACTS)})")
        return value

    @field_validator("required_fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in Fields.model_fields]
        if unknown:
            known = ", ".join(Fields.model_fields)
            raise ValueError(f"unknown portal field {', '.join(map(repr, unknown))} (known: {known})")
        return value

    @field_validator("organizations")
    @classmethod
    def _lowercase_domains(cls, value: dict[str, str]) -> dict[str, str]:
        return {domain.lower().lstrip("@"): code for domain, code in value.items()}

    @model_validator(mode="after")
    def _unique_names(self) -> RoutingSettings:
        # Names are compared by their tag, so two rules never share a tag.
        seen: dict[str, str] = {}
        for rule in self.rules:
            if rule.tag in seen:
                raise ValueError(
                    f"duplicate rule name {rule.name!r} (same as {seen[rule.tag]!r}; rule names must be unique)"
                )
            seen[rule.tag] = rule.name
        return self

    def check_custom_fields(self, known: Mapping[str, int], loc: tuple[str | int, ...] = ("routing",)) -> None:
        """Every `set.custom_fields` name must be a key of [zendesk.custom_fields] or [routing.fields.map]."""
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_custom_field",
                    "unknown custom field {name} in rule {rule}: add it to [zendesk.custom_fields] "
                    "with its Zendesk field id",
                    {"name": repr(name), "rule": repr(rule.name)},
                ),
                loc=(*loc, "rules", index, "set", "custom_fields", name),
                input=name,
            )
            for index, rule in enumerate(self.rules)
            for name in rule.set.custom_fields
            if name not in known and name not in self.fields.map
        ]
        if errors:
            raise ValidationError.from_exception_data("Settings", errors)
