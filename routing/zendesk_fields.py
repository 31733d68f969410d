"""Portal fields → Zendesk's side of a ticket: priority, type, custom fields.

Each function returns its value with the sentence explaining it, so the
engine can record why a ticket got what it got.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parsers.model import Fields
from parsers.text import fold
from routing.config import Priority, RoutingSettings, Rule

# The portal's "Tipo da Solicitação" → Zendesk ticket type.
REQUEST_TYPES = {"incidente": "incident", "problema": "problem", "duvida": "question", "tarefa": "task"}


def priority(fields: Fields, rule: Rule | None, settings: RoutingSettings) -> tuple[Priority | None, str]:
    by_impact = settings.priority_by_impact.get(fields.impact) if fields.impact else None
    if rule is not None and rule.set.priority:
        if by_impact and by_impact != rule.set.priority:
            return rule.set.priority, (
                f"priority {rule.set.priority} set by rule {rule.name!r} (impact {fields.impact} alone gives {by_impact})"
            )
        return rule.set.priority, f"priority {rule.set.priority} set by rule {rule.name!r}"
    if by_impact:
        return by_impact, f"priority {by_impact} from impact {fields.impact}"
    if fields.impact:
        return None, f"no priority: impact {fields.impact} has no entry in [routing.priority_by_impact]"
    return None, "no priority: the mail gives no impact (Zendesk's default applies)"


def ticket_type(fields: Fields, rule: Rule | None) -> tuple[str | None, str | None]:
    if rule is not None and rule.set.type:
        return rule.set.type, f"type {rule.set.type} set by rule {rule.name!r}"
    if fields.request_type:
        mapped = REQUEST_TYPES.get(fold(fields.request_type))
        if mapped:
            return mapped, f"type {mapped} from request type {fields.request_type!r}"
    return None, None


def custom_fields(fields: Fields, rule: Rule | None, ids: Mapping[str, int]) -> list[dict[str, Any]]:
    """Zendesk's [{"id", "value"}] for each mapped field that has a value.

    A rule's `set.custom_fields` wins over the value written in the mail.
    """
    values: dict[str, Any] = {name: getattr(fields, name) for name in Fields.model_fields}
    if rule is not None:
        values.update(rule.set.custom_fields)
    return [
        {"id": field_id, "value": values[name]}
        for name, field_id in ids.items()
        if values.get(name) not in (None, "", [])
    ]


def missing(fields: Fields, required: list[str]) -> list[str]:
    return [name for name in required if getattr(fields, name) in (None, "", [])]
