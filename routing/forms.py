"""A ticket form's conditions: which child field a parent's value shows.

Zendesk's conditional fields: a condition says "when field P has value V, show
fields C".  A field that is some condition's child is visible only while one
of its conditions holds and that condition's parent is itself visible; a
field no condition names is always visible.  The portal follows the form's
end-user conditions, so that is the default; agents' may differ.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routing.catalog import FormCondition, TicketForm


def _same(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return bool(actual) is bool(wanted)
    return actual == wanted


def children_for(form: TicketForm, parent_id: int, value: Any, which: str = "end_user") -> list[int]:
    """The fields shown when `parent_id` has `value` (an option tag)."""
    return [c.id for cond in form.conditions(which) if cond.parent_field_id == parent_id and _same(value, cond.value)
            for c in cond.child_fields]


def parents(form: TicketForm, which: str = "end_user") -> set[int]:
    return {c.parent_field_id for c in form.conditions(which)}


def visible(form: TicketForm, values: Mapping[int, Any], which: str = "end_user") -> set[int]:
    """The ids of the form's fields visible with these values."""
    conditions = form.conditions(which)
    governed: dict[int, list[FormCondition]] = {}
    for cond in conditions:
        for child in cond.child_fields:
            governed.setdefault(child.id, []).append(cond)
    shown = {fid for fid in form.field_ids if fid not in governed}
    # Conditions can chain (a child is another's parent): settle them in rounds.
    changed = True
    while changed:
        changed = False
        for fid, conds in governed.items():
            if fid in shown:
                continue
            if any(c.parent_field_id in shown and c.parent_field_id in values
                   and _same(values[c.parent_field_id], c.value) for c in conds):
                shown.add(fid)
                changed = True
    return shown
