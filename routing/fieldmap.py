"""Portal fields as written → the Zendesk ticket's form and custom fields, with reasons.

`[routing.fields]` names, for each portal field, the Zendesk ticket field(s)
that hold it, by title (or id).  With the account's catalogue (routing.catalog)
each written value becomes what its field accepts: an option's tag for a
drop-down (routing.options), a bool for a checkbox, a checked number or date.

The help page's "Ambiente" and "Versão" pick the product line, and their
conditional children ("Ambiente > RM", "Versão > RM") hold the environment and
the version number.  Customers write "Ambiente: Produção", "Versão: 12.1.2410",
"Produto: RM".  So when a value is not an option of a field that is a parent in
the form's conditions, the product line (the portal field `product_line_from`,
else `default_product_line`) picks the parent's option, the form's conditions
pick the child field, and the value is matched among the child's options.

A value that matches nothing, or that the form's conditions would hide, is not
sent: it is listed in `unmatched`, the ticket is tagged, and the customer's
text stays in the description.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parsers.fields import parse_impact
from parsers.model import Fields
from parsers.text import fold
from routing import forms
from routing.catalog import OPTION_TYPES, Catalog, Option, TicketField, TicketForm
from routing.options import Match, convert, match_option

FieldRef = int | str
_NOT_MAPPABLE = {"organization", "cc_users"}


def _default_map() -> dict[str, FieldRef | list[FieldRef]]:
    return {
        "impact": "Impacto", "request_type": "Tipo da Solicitação", "environment": "Ambiente",
        "version": ["Versão", "Release"], "country": "País", "macrosegment": "Macrossegmento",
        "product": "Produto", "module": "Módulo", "routine_group": "Agrupador de Rotina",
        "bso": "Direciona atendimento para BSO",
    }


def _default_synonyms() -> dict[str, dict[str, str]]:
    return {
        "module": {"Folha": "Folha de Pagamento", "RH": "Gestão de Pessoas", "Ponto": "Ponto Eletrônico",
                   "Contábil": "Contabilidade"},
        "environment": {"Prod": "Produção", "Homolog": "Homologação", "Dev": "Desenvolvimento"},
        "macrosegment": {"Educação": "Educacional", "Indústria": "Manufatura"},
        "product": {"TOTVS RM": "RM"},
    }


class FieldsSettings(BaseModel):
    """`[routing.fields]`: which Zendesk fields hold the portal's values, and how to match them."""

    model_config = ConfigDict(extra="forbid")

    # The ticket form (name or id); "" leaves ticket_form_id unset.
    form: FieldRef = "Suporte Técnico"
    # Which of the form's condition sets to follow: the portal's (end_user) or the agents'.
    conditions: Literal["end_user", "agent"] = "end_user"
    # Portal field -> Zendesk ticket field title or id (or a list of them).
    map: dict[str, FieldRef | list[FieldRef]] = Field(default_factory=_default_map)
    # Portal field -> {what customers write: option name}.
    synonyms: dict[str, dict[str, str]] = Field(default_factory=_default_synonyms)
    # Portal field -> value used when the mail gives none (the help page says
    # "Tipo da Solicitação" is always "Suporte Técnico" and "País" is Brasil).
    defaults: dict[str, Any] = Field(default_factory=lambda: {"request_type": "Suporte Técnico", "country": "Brasil"})
    # The portal field naming the product line, and the line when it names none
    # (this inbox serves RM).
    product_line_from: str = "product"
    default_product_line: str | None = "RM"
    fuzzy_threshold: float = Field(default=0.88, ge=0.5, le=1.0)
    fuzzy_margin: float = Field(default=0.06, ge=0.0, le=0.5)
    # Tag for a ticket with values no field could take.
    unmatched_tag: str = "dados_incompletos"
    # A text field (title or id) to list them in; empty: an internal note.
    unmatched_field: FieldRef = ""

    @field_validator("map", "synonyms", "defaults")
    @classmethod
    def _portal_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = [k for k in value if k not in Fields.model_fields or k in _NOT_MAPPABLE]
        if unknown:
            known = ", ".join(k for k in Fields.model_fields if k not in _NOT_MAPPABLE)
            raise ValueError(f"unknown portal field {', '.join(map(repr, unknown))} (known: {known})")
        return value

    @field_validator("unmatched_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not re.fullmatch(r"[\w:/.-]+", value):
            raise ValueError(f"{value!r} is not a Zendesk tag (one word)")
        return value

    def targets(self, portal: str) -> list[FieldRef]:
        ref = self.map.get(portal)
        return [] if ref is None else (list(ref) if isinstance(ref, list) else [ref])


@dataclass(frozen=True)
class FieldLine:
    """One portal value and what became of it."""

    portal: str
    field: str  # the Zendesk field's title (or the reference when it is missing)
    written: Any
    value: Any = None
    reason: str = ""

    def sentence(self) -> str:
        sent = f"{self.value!r}" if self.value is not None else "not sent"
        return f"{self.portal} {self.written!r} → {self.field}: {sent} ({self.reason})"


@dataclass
class FieldMapping:
    form_id: int | None = None
    values: dict[int, Any] = field(default_factory=dict)
    lines: list[FieldLine] = field(default_factory=list)
    unmatched: list[FieldLine] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    # True when `unmatched_field` holds the unmatched values (no note needed).
    listed_in_field: bool = False

    @property
    def custom_fields(self) -> list[dict[str, Any]]:
        return [{"id": fid, "value": value} for fid, value in self.values.items()]


def map_fields(
    fields: Fields,
    overrides: Mapping[str, Any],
    catalog: Catalog,
    cfg: FieldsSettings,
    field_ids: Mapping[str, int] | None = None,
) -> FieldMapping:
    """The form id and `custom_fields` for these portal values (see the module docstring).

    `overrides` are a routing rule's `set.custom_fields` (they win over the
    mail); `field_ids` is `[zendesk.custom_fields]`: names mapped by id."""
    out = FieldMapping()
    form = _form(catalog, cfg, out)
    written = {name: getattr(fields, name) for name in Fields.model_fields if name not in _NOT_MAPPABLE}
    where = {name: "" for name in written}
    for name, value in overrides.items():
        written[name], where[name] = value, "set by the rule"
    for name, value in cfg.defaults.items():
        if written.get(name) in (None, ""):
            written[name], where[name] = value, "default"
    targets: dict[str, list[FieldRef]] = {name: cfg.targets(name) for name in cfg.map}
    for name, fid in (field_ids or {}).items():
        if fid not in targets.setdefault(name, []):
            targets[name].append(fid)
    mapper = _Mapper(catalog, cfg, form, written, out)
    by_id = {(name, fid) for name, fid in (field_ids or {}).items()}
    for name, refs in targets.items():
        value = written.get(name)
        if value in (None, "", []):
            continue
        for ref in refs:
            # An id from [zendesk.custom_fields] is sent even off the form: the operator named it.
            mapper.one(name, ref, value, where.get(name, ""), any_form=(name, ref) in by_id)
    if form is not None:
        _hide(out, catalog, form, cfg)
    _list_unmatched(out, catalog, cfg)
    return out


def _form(catalog: Catalog, cfg: FieldsSettings, out: FieldMapping) -> TicketForm | None:
    if cfg.form in ("", None):
        return None
    form = catalog.form(cfg.form)
    if form is None:
        out.reasons.append(f"ticket form {cfg.form!r} not found in Zendesk; ticket_form_id not set")
        return None
    if not form.active:
        out.reasons.append(f"ticket form {form.name!r} is inactive; ticket_form_id not set")
        return None
    out.form_id = form.id
    out.reasons.append(f"ticket form {form.name!r} (id {form.id})")
    return form


class _Mapper:
    def __init__(self, catalog: Catalog, cfg: FieldsSettings, form: TicketForm | None, written: dict[str, Any],
                 out: FieldMapping) -> None:
        self.catalog, self.cfg, self.form, self.written, self.out = catalog, cfg, form, written, out

    def one(self, portal: str, ref: FieldRef, value: Any, where: str, *, any_form: bool = False) -> None:
        target = self.catalog.field(ref, self.form.field_ids if self.form else ())
        label = f"{value!r}" + (f" ({where})" if where else "")
        if target is None:
            self.out.reasons.append(f"{portal} {label}: no Zendesk ticket field {ref!r}; not sent")
            return
        if not target.active:
            self.out.reasons.append(f"{portal} {label}: field {target.title!r} is inactive; not sent")
            return
        if self.form is not None and target.id not in self.form.field_ids and not any_form:
            self.out.reasons.append(f"{portal} {label}: field {target.title!r} is not on form {self.form.name!r}; "
                                    "not sent")
            return
        if target.type == "tagger":
            self._tagger(portal, target, value)
        elif target.type == "multiselect":
            self._multiselect(portal, target, value)
        else:
            converted = convert(target, value)
            self._set(portal, target, value, converted.value if converted.ok else None, converted.reason)

    def _match(self, portal: str, target: TicketField, value: Any) -> Match:
        if portal == "impact" and isinstance(value, str):
            # Fields.impact is one of four codes; the options are the portal's texts.
            coded = [o for o in target.options if parse_impact(o.name) == value]
            if len(coded) == 1:
                return Match(coded[0], "exact", note=f"impact {value}")
        return match_option(str(value), target.options, synonyms=self.cfg.synonyms.get(portal),
                            threshold=self.cfg.fuzzy_threshold, margin=self.cfg.fuzzy_margin)

    def _tagger(self, portal: str, target: TicketField, value: Any) -> None:
        found = self._match(portal, target, value)
        if found.option is not None:
            self._set(portal, target, value, found.option.value, found.reason)
            return
        if self.form is not None and target.id in forms.parents(self.form, self.cfg.conditions):
            if self._through_line(portal, target, value):
                return
        self._set(portal, target, value, None, found.reason)

    def _through_line(self, portal: str, parent: TicketField, value: Any) -> bool:
        """"Ambiente: Produção": the product line picks Ambiente's option, and the child
        field its conditions show holds the value."""
        assert self.form is not None
        line_text = self.written.get(self.cfg.product_line_from) or self.cfg.default_product_line
        whence = (f"from {self.cfg.product_line_from}" if self.written.get(self.cfg.product_line_from)
                  else "the default product line")
        if not line_text:
            return False
        line = match_option(str(line_text), parent.options, synonyms=self.cfg.synonyms.get(self.cfg.product_line_from),
                            threshold=self.cfg.fuzzy_threshold, margin=self.cfg.fuzzy_margin)
        if line.option is None:
            return False
        children = [self.catalog.fields[c] for c in forms.children_for(self.form, parent.id, line.option.value,
                                                                         self.cfg.conditions)
                    if c in self.catalog.fields and self.catalog.fields[c].type in OPTION_TYPES]
        if parent.id not in self.out.values:
            self._set(portal, parent, line_text, line.option.value, f"product line {line_text!r} {whence}")
        # "Versão: RM 12.1.2410" names the line too: without it, "12.1.2410" is the child's value.
        bare = _without_words(str(value), line.option.name)
        for child in children:
            found = self._match(portal, child, value)
            if found.option is None and bare and bare != str(value):
                found = self._match(portal, child, bare)
            if found.option is not None:
                self._set(portal, child, value, found.option.value, found.reason)
                return True
        if children:
            names = ", ".join(repr(c.title) for c in children)
            self._set(portal, children[0], value, None, f"not an option of {names}")
            return True
        return False

    def _multiselect(self, portal: str, target: TicketField, value: Any) -> None:
        items = value if isinstance(value, list) else [p for p in re.split(r"[,;]", str(value)) if p.strip()]
        tags: list[str] = []
        for item in items:
            found = self._match(portal, target, item)
            if found.option is not None:
                tags.append(found.option.value)
                self.out.lines.append(FieldLine(portal, target.title, item, found.option.value, found.reason))
            else:
                self.out.unmatched.append(FieldLine(portal, target.title, item, None, found.reason))
        if tags:
            self.out.values[target.id] = list(dict.fromkeys(tags))

    def _set(self, portal: str, target: TicketField, written: Any, value: Any, reason: str) -> None:
        line = FieldLine(portal, target.title, written, value, reason)
        if value is None:
            self.out.unmatched.append(line)
            return
        self.out.values[target.id] = value
        self.out.lines.append(line)


def _without_words(text: str, words: str) -> str:
    """`text` without the words of `words` ("RM 12.1.2410", "RM" → "12.1.2410")."""
    drop = {fold(w) for w in re.split(r"[\s/()-]+", words) if w}
    kept = [w for w in re.split(r"[\s/()]+", text) if w and fold(w).strip("-:,") not in drop and w not in ("-", ":")]
    return " ".join(kept)


def _hide(out: FieldMapping, catalog: Catalog, form: TicketForm, cfg: FieldsSettings) -> None:
    """Values the form's conditions would hide are not sent, and are reported."""
    shown = forms.visible(form, out.values, cfg.conditions)
    for fid in [f for f in out.values if f not in shown]:
        value = out.values.pop(fid)
        title = catalog.fields[fid].title if fid in catalog.fields else str(fid)
        line = next((ln for ln in out.lines if ln.field == title and ln.value == value), None)
        if line is not None:
            out.lines.remove(line)
        out.unmatched.append(FieldLine(line.portal if line else "?", title, line.written if line else value, None,
                                       "hidden by the form's conditions"))


def _list_unmatched(out: FieldMapping, catalog: Catalog, cfg: FieldsSettings) -> None:
    for line in out.lines:
        out.reasons.append(line.sentence())
    for line in out.unmatched:
        out.reasons.append(line.sentence())
    if out.unmatched and cfg.unmatched_field not in ("", None):
        target = catalog.field(cfg.unmatched_field)
        if target is not None and target.type in ("text", "textarea"):
            out.values[target.id] = unmatched_text(out.unmatched)
            out.listed_in_field = True
            out.reasons.append(f"unmatched values listed in field {target.title!r}")
        else:
            out.reasons.append(f"unmatched_field {cfg.unmatched_field!r} is not a text field; listed in a note")


def unmatched_text(lines: list[FieldLine]) -> str:
    """What agents read about values no field took."""
    return "; ".join(f"{ln.portal}: {ln.written} ({ln.reason})" for ln in lines)


def unmatched_note(lines: list[FieldLine]) -> str:
    """The internal note listing them, one per line."""
    listed = "\n".join(f"- {ln.portal} → {ln.field}: {ln.written!s} ({ln.reason})" for ln in lines)
    return ("bso-ingest: these values from the e-mail match no option of their Zendesk field and were not set "
            "(the customer's text is in the description):\n" + listed)


__all__ = ["FieldLine", "FieldMapping", "FieldsSettings", "Option", "map_fields", "unmatched_text"]
