"""The `when` conditions of a routing rule: one table row per condition key.

A condition looks at the `Facts` of one message and says whether it holds,
in a sentence an ops person understands ("product is 'RM'").  Checks have no
side effects; the engine decides what to do with them.  Values compare folded
(case, accents and spacing ignored); a list of values means any-of.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from parsers.model import Fields
from parsers.text import fold

Value = str | bool


@dataclass(frozen=True)
class Facts:
    """What conditions look at: the sender, subject, own text and portal fields."""

    sender: str
    subject: str
    body: str
    fields: Fields
    # Organization candidates with where each came from: the one the mail
    # names, and the code `[routing.organizations]` maps the sender domain to.
    organizations: tuple[tuple[str, str], ...] = ()

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2].lower()


@dataclass(frozen=True)
class Check:
    key: str
    holds: bool
    sentence: str


def _quoted(values: Sequence[Value]) -> str:
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else "[" + ", ".join(shown) + "]"


def _equal(actual: str, wanted: Value) -> bool:
    return fold(actual) == fold(str(wanted))


def _domain(actual: str, wanted: Value) -> bool:
    # "exemplo.com.br" also covers "mail.exemplo.com.br".
    want = fold(str(wanted)).lstrip("@.")
    return actual == want or actual.endswith("." + want)


def _contains(actual: str, wanted: Value) -> bool:
    return fold(str(wanted)) in fold(actual)


@dataclass(frozen=True)
class Condition:
    """One condition key: what it reads, how it compares, how it reads aloud."""

    key: str
    label: str
    # The candidates to compare, each with an optional note on where it came from.
    read: Callable[[Facts], list[tuple[str, str]]]
    compare: Callable[[str, Value], bool] = _equal
    verb: str = "is"
    kind: type = str
    allowed: frozenset[str] = field(default_factory=frozenset)

    def check(self, facts: Facts, wanted: Sequence[Value]) -> Check:
        candidates = self.read(facts)
        for actual, note in candidates:
            if any(self.compare(actual, w) for w in wanted):
                return Check(self.key, True, self._say(actual, note, wanted, holds=True))
        if not candidates:
            return Check(self.key, False, f"{self.label} is not given (rule wants {_quoted(wanted)})")
        actual, note = candidates[0]
        return Check(self.key, False, self._say(actual, note, wanted, holds=False))

    def _say(self, actual: str, note: str, wanted: Sequence[Value], *, holds: bool) -> str:
        where = f" ({note})" if note else ""
        if self.compare is _contains:
            neg = "" if holds else " not"
            return f"{self.label} does{neg} contain {'' if len(wanted) == 1 else 'any of '}{_quoted(wanted)}"
        if len(wanted) == 1:
            return f"{self.label} is {actual!r}{where}" + ("" if holds else f", not {wanted[0]!r}")
        return f"{self.label} {actual!r}{where} is{'' if holds else ' not'} one of {_quoted(wanted)}"


def _field(name: str) -> Callable[[Facts], list[tuple[str, str]]]:
    def read(facts: Facts) -> list[tuple[str, str]]:
        value = getattr(facts.fields, name)
        return [] if value is None else [(value, "")]

    return read


def _bso(facts: Facts) -> list[tuple[str, str]]:
    return [] if facts.fields.bso is None else [("sim" if facts.fields.bso else "não", "")]


def _compare_bso(actual: str, wanted: Value) -> bool:
    return (fold(actual) == "sim") is bool(wanted)


CONDITIONS: dict[str, Condition] = {
    c.key: c
    for c in (
        Condition("sender", "sender", lambda f: [(f.sender, "")]),
        Condition("sender_domain", "sender domain", lambda f: [(f.sender_domain, "")], compare=_domain),
        Condition("organization", "organization", lambda f: list(f.organizations)),
        Condition("product", "product", _field("product")),
        Condition("module", "module", _field("module")),
        Condition("routine_group", "routine group", _field("routine_group")),
        Condition("macrosegment", "macrosegment", _field("macrosegment")),
        Condition("environment", "environment", _field("environment")),
        Condition(
            "impact", "impact", _field("impact"),
            allowed=frozenset({"question", "workaround", "non_critical", "critical"}),
        ),
        Condition("bso", "'Direciona atendimento para BSO'", _bso, compare=_compare_bso, kind=bool),
        Condition("subject_contains", "subject", lambda f: [(f.subject, "")], compare=_contains),
        Condition("body_contains", "body", lambda f: [(f.body, "")], compare=_contains),
    )
}
