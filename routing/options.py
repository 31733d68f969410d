"""What the customer wrote → the value a Zendesk field accepts, with the reason.

Drop-downs take the tag of one of their options, nothing else.  A written value
is tried, in order:

1. exact: the option's name or tag, ignoring case, accents and spacing;
2. synonym: a configured alias ("Folha" → "Folha de Pagamento"), then exact;
3. prefix: a version with more parts than the option ("12.1.2410.146" is
   release 146 of "12.1.2410");
4. contains: every word of exactly one option is in the value ("Cálculo da
   folha" → "Cálculo"; "cálculo de férias" names two options, so neither);
5. fuzzy: rapidfuzz's normalized Indel similarity of the folded texts, at or
   above `threshold` AND ahead of the runner-up by `margin`, so a value that is
   as close to two real options ("Emissão de NF": NF-e or NFS-e?) is refused
   rather than guessed.  Texts whose numbers differ never match fuzzily:
   "12.1.2411" is not a typo of "12.1.2410".

Checkbox, text, integer, decimal, date and regexp fields are validated and
converted here too; a value that cannot be made valid is refused with the
reason, never sent malformed.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from rapidfuzz import fuzz, process

from parsers.fields import parse_bso
from parsers.text import fold
from routing.catalog import Option, TicketField

_DIGITS = re.compile(r"\d+")
_PUNCT = re.compile(r"[^\w]+")


@dataclass(frozen=True)
class Match:
    """The option a written value maps to (None: no match) and how it was found."""

    option: Option | None
    how: str  # exact | synonym | prefix | contains | fuzzy | no match
    score: float | None = None
    note: str = ""

    @property
    def reason(self) -> str:
        if self.how == "fuzzy" and self.score is not None:
            return f"fuzzy {self.score:.2f}"
        return f"{self.how} ({self.note})" if self.note else self.how


def _key(text: str) -> str:
    """Folded, punctuation as spaces: "NF-e" and "nf e" compare equal."""
    return " ".join(_PUNCT.sub(" ", fold(text)).split())


def match_option(
    text: str,
    options: Sequence[Option],
    *,
    synonyms: Mapping[str, str] | None = None,
    threshold: float = 0.88,
    margin: float = 0.06,
) -> Match:
    """The option `text` names (see the module docstring for the order)."""
    key = _key(text)
    if not key or not options:
        return Match(None, "no match", note="empty" if not key else "the field has no options")
    exact = _exact(key, options)
    if exact is not None:
        return Match(exact, "exact")
    for alias, target in (synonyms or {}).items():
        if _key(alias) == key:
            found = _exact(_key(target), options)
            if found is not None:
                return Match(found, "synonym", note=f"{alias!r} → {found.name!r}")
    prefixed = [o for o in options if _DIGITS.search(o.name) and key.startswith(_key(o.name) + " ")]
    if prefixed:
        best = max(prefixed, key=lambda o: len(o.name))
        return Match(best, "prefix", note=f"{text.strip()!r} starts with {best.name!r}")
    contained = _contained(key, options)
    if contained is not None:
        return contained
    return _fuzzy(key, options, threshold, margin)


def _contained(key: str, options: Sequence[Option]) -> Match | None:
    """ "Cálculo da folha" names the option "Cálculo": every word of exactly one option
    (the one with the most words, if several) appears in the value.  Two options
    as well contained ("erro no cálculo de férias": Cálculo? Férias?) name neither."""
    words = set(key.split())
    found = [o for o in options if len(_key(o.name)) >= 3 and set(_key(o.name).split()) <= words]
    if not found:
        return None
    size = max(len(_key(o.name).split()) for o in found)
    widest = [o for o in found if len(_key(o.name).split()) == size]
    if len(widest) > 1:
        return Match(None, "no match", note="names " + " and ".join(repr(o.name) for o in widest))
    return Match(widest[0], "contains", note=f"{widest[0].name!r}")


def _exact(key: str, options: Sequence[Option]) -> Option | None:
    return next((o for o in options if key in (_key(o.name), _key(o.value))), None)


def _fuzzy(key: str, options: Sequence[Option], threshold: float, margin: float) -> Match:
    digits = _DIGITS.findall(key)
    choices = {i: _key(o.name) for i, o in enumerate(options) if _DIGITS.findall(_key(o.name)) == digits}
    if not choices:
        return Match(None, "no match")
    ranked = process.extract(key, choices, scorer=fuzz.ratio, limit=2)
    best_name, best_score, best_i = ranked[0]
    score = best_score / 100
    runner_up = ranked[1][1] / 100 if len(ranked) > 1 else 0.0
    if score < threshold:
        return Match(None, "no match", score, note=f"closest {options[best_i].name!r} at {score:.2f}, "
                                                   f"below {threshold:.2f}")
    if score - runner_up < margin:
        return Match(None, "no match", score, note=f"as close to {options[best_i].name!r} ({score:.2f}) as to "
                                                   f"{options[ranked[1][2]].name!r} ({runner_up:.2f})")
    return Match(options[best_i], "fuzzy", score)


@dataclass(frozen=True)
class Converted:
    """A value ready for `custom_fields`, or None with why it is refused."""

    value: Any
    reason: str
    ok: bool = True


def checkbox(value: Any) -> bool | None:
    """Sim/Não/S/N/Yes/No/X/true/false in any case, with or without accents."""
    if isinstance(value, bool):
        return value
    return parse_bso(str(value)) if value is not None else None


_INTEGER = re.compile(r"^[+-]?\d{1,12}$")
_BR_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def convert(field: TicketField, value: Any) -> Converted:
    """A non-option field's value, validated for its type."""
    kind = field.type
    if kind == "checkbox":
        ticked = checkbox(value)
        if ticked is None:
            return Converted(None, f"{value!r} is not yes or no", ok=False)
        return Converted(ticked, "checkbox")
    if isinstance(value, bool):
        return Converted(None, f"a yes/no value does not fit a {kind} field", ok=False)
    text = " ".join(str(value).split())
    if not text:
        return Converted(None, "empty", ok=False)
    if kind == "integer":
        digits = text.replace(".", "") if re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+", text) else text
        if not _INTEGER.match(digits):
            return Converted(None, f"{text!r} is not a whole number (up to 12 digits)", ok=False)
        return Converted(int(digits), "integer")
    if kind == "decimal":
        # pt-BR writes "1.234,56"; Zendesk wants "1234.56".
        normal = text.replace(".", "").replace(",", ".") if "," in text else text
        try:
            number = Decimal(normal)
        except InvalidOperation:
            return Converted(None, f"{text!r} is not a number", ok=False)
        if not number.is_finite():
            return Converted(None, f"{text!r} is not a number", ok=False)
        return Converted(str(number), "decimal")
    if kind == "date":
        return _date(text)
    if kind == "regexp":
        if field.regexp and not re.fullmatch(field.regexp, text):
            return Converted(None, f"{text!r} does not match the field's pattern", ok=False)
        return Converted(text, "text")
    if kind in ("text", "textarea"):
        return Converted(str(value).strip() if kind == "textarea" else text, "text")
    return Converted(None, f"field type {kind!r} is not set from mail", ok=False)


def _date(text: str) -> Converted:
    try:
        return Converted(date.fromisoformat(text).isoformat(), "date")
    except ValueError:
        pass
    m = _BR_DATE.match(text)
    if m:
        try:
            return Converted(date(int(m[3]), int(m[2]), int(m[1])).isoformat(), "date (dd/mm/yyyy)")
        except ValueError:
            pass
    return Converted(None, f"{text!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)", ok=False)
