"""Portal form fields ("Campo: valor" lines, HTML form tables) → `Fields` (issue 5).

Customers who e-mail instead of using the portal paste the portal's form:
"Organização: ...", "Impacto: ...", sometimes as a two-column HTML table, in
their own spelling ("organizacao", "ORGANIZAÇÃO :", "Versao").  Labels are
compared folded (case, accents, spacing, trailing colon); values are kept as
written, trimmed, except `impact` (one of four codes), `bso` (a bool) and
`cc_users` (lowercased addresses).

Only the message's own text counts: in a reply, the quoted history (often the
support team's earlier mail repeating the form) is cut off first.  A forward's
forwarded text is part of the ticket and is kept.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from parsers.form_html import html_form_lines
from parsers.model import Email, Fields, Impact
from parsers.text import fold

# Folded label -> Fields attribute.  Spelling variants seen from customers.
LABELS: dict[str, str] = {
    "organizacao": "organization",
    "organizacao/empresa": "organization",
    "impacto": "impact",
    "tipo de solicitacao": "request_type",
    "tipo da solicitacao": "request_type",
    "tipo solicitacao": "request_type",
    "ambiente": "environment",
    "versao": "version",
    "pais": "country",
    "macrossegmento": "macrosegment",
    "macrosegmento": "macrosegment",
    "produto": "product",
    "modulo": "module",
    "agrupador de rotina": "routine_group",
    "agrupador de rotinas": "routine_group",
    "agrupador": "routine_group",
    "direciona atendimento para bso": "bso",
    "direcionar atendimento para bso": "bso",
    "atendimento bso": "bso",
    "usuarios em copia": "cc_users",
    "usuario em copia": "cc_users",
}

# "Label: value" with an optional bullet and Markdown-ish bold ("*Produto:* RM").
# Customers also write the label loosely: spaces before the colon
# ("ORGANIZAÇÃO :"), a tab, a question mark ("Direciona atendimento para
# BSO? Sim"), a dash or an equals sign ("Impacto - Crítico", "Produto = RM").
# Every separator in the line is tried in turn and the first one whose left
# side is a known label wins, so a dash inside a value or label is harmless.
_SEPARATOR = re.compile(r"\s*(?:\?\s*:?|:|\t|[-–—=]+>?)\s*")
# A bullet or a number before the label ("1) Organização:", "2. Produto -").
_BULLET = re.compile(r"^\s*(?:[-*•·]\s+|\d{1,2}\s*[.)-]\s+)?[*_]*")
# Bold marks and dot or underscore leaders ("Produto..........: RM").
_LABEL_END = re.compile(r"(?:[*_\s]|\.{2,}|…)+$")
_ADDRESS = re.compile(r"[\w.!#$%&'+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")

_REPLY_PREFIX = re.compile(r"^\s*(?:re|res|resp|aw|sv|antw)\s*:", re.IGNORECASE)
_FORWARD_PREFIX = re.compile(r"^\s*(?:enc|fwd?|tr|wg|encaminhada)\s*:", re.IGNORECASE)
_FORWARD_MARKER = re.compile(
    r"^\s*-{2,}\s*(?:mensagem encaminhada|forwarded message|mensaje reenviado)\s*-{2,}\s*$", re.IGNORECASE | re.MULTILINE
)
# Where quoted history starts in a reply, in the shapes common mailers write.
_QUOTE_STARTS = (
    # Gmail / Apple: "Em qua., 25 de nov. de 2026 às 10:02, Fulano <x@y> escreveu:" (may wrap over 3 lines)
    re.compile(r"^>?\s*(?:em|on)\s[^\n]*(?:\n[^\n]*){0,2}?(?:escreveu|wrote)\s*:\s*$", re.IGNORECASE | re.MULTILINE),
    # Outlook: a "De:" line followed by "Enviada em:" / "Sent:" / "Data:" / "Date:"
    re.compile(
        r"^>?\s*\**(?:de|from)\s*:\**\s[^\n]*\n\s*>?\s*\**(?:enviad[ao] em|sent|data|date)\s*:", re.IGNORECASE | re.MULTILINE
    ),
    re.compile(r"^\s*-{2,}\s*(?:original message|mensagem original)\s*-{2,}\s*$", re.IGNORECASE | re.MULTILINE),
)
_HTML_DOC = re.compile(r"^\s*(?:<!doctype html|<html|<body|<div|<table|<p[ >])", re.IGNORECASE)

_MAX_LABEL = 60
_SEPARATOR_ONLY = re.compile(r"^\s*[-=_*]{3,}\s*$")
# "( X ) Sim  ( ) Não", "[x] Não": the marked option.
_MARKED = re.compile(r"[\[(]\s*[x✓✔]\s*[\])]\s*(\w+)")
_MARKED_AFTER = re.compile(r"(\w+)\s*[\[(]\s*[x✓✔]\s*[\])]")
_TRUE = {"sim", "s", "yes", "y", "true", "verdadeiro", "x", "1"}
_FALSE = {"nao", "n", "no", "false", "falso", "0"}


def extract_fields(email: Email) -> Fields:
    """The portal fields the customer wrote in this message's own text."""
    values: dict[str, object] = {}
    for lines in _sources(email):
        for name, value in _read_form(lines).items():
            # The first source that names a field wins: text/plain, then HTML.
            values.setdefault(name, value)
    return Fields(**values)


def ticket_text(email: Email) -> str:
    """The text that belongs to this message: for a reply, without quoted history."""
    return "\n".join(next(iter(_sources(email)), []))


def parse_impact(text: str) -> Impact | None:
    """Maps the portal's four impact texts and loose variants to a code."""
    t = fold(text)
    if not t:
        return None
    if t in ("question", "workaround", "non_critical", "critical"):
        return t  # type: ignore[return-value]
    if "duvida" in t or "pergunta" in t or "question" in t:
        return "question"
    if re.search(r"\bnao[\s-]*critic", t) or "non critical" in t or "non_critical" in t:
        return "non_critical"
    if "critic" in t or "sem paliativo" in t or "sem procedimento paliativo" in t:
        return "critical"
    if "paliativo" in t or "contorno" in t or "workaround" in t:
        return "workaround"
    return None


def parse_bso(text: str) -> bool | None:
    """ "Direciona atendimento para BSO": sim/não (any case or accent, S/N, X, a marked box) → bool."""
    t = fold(text).rstrip(".!")
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    # "(X) Sim ( ) Não" puts the boxes before the words, "Sim (X) Não ( )" after.
    marked = (_MARKED if t[:1] in "[(" else _MARKED_AFTER).search(t)
    if marked:
        t = marked.group(1)
        return True if t in _TRUE else False if t in _FALSE else None
    # "Sim, por favor", "Não - somente suporte padrão": the first word answers.
    first = re.match(r"[a-z]+", t)
    if first and first.group() in ("sim", "nao", "yes", "no") and not re.match(r"[a-z]+\s*/", t):
        return first.group() in ("sim", "yes")
    return None


def is_forward(email: Email) -> bool:
    # The outermost subject prefix is the latest action: "RES: ENC: x" is a reply.
    if _FORWARD_PREFIX.match(email.subject):
        return True
    if _REPLY_PREFIX.match(email.subject):
        return False
    return bool(_FORWARD_MARKER.search(email.body_text))


def is_reply(email: Email) -> bool:
    if is_forward(email):
        return False
    return bool(email.in_reply_to or email.references or _REPLY_PREFIX.match(email.subject))


def _sources(email: Email) -> Iterable[list[str]]:
    """Text lines of each body, plain text first, each cut to the message's own text."""
    reply = is_reply(email)
    text, html = email.body_text, email.body_html
    # Some mailers label an HTML document text/plain (and a minimal parser may
    # hand back an HTML-only body as text): read it as the HTML it is.
    if not html and _HTML_DOC.match(text):
        text, html = "", text
    if text.strip():
        yield _own_lines(text.splitlines(), reply)
    if html:
        yield _own_lines(html_form_lines(html, is_label), reply)


_QUOTE_PREFIX = re.compile(r"^\s*(?:>\s?)+")


def _own_lines(lines: list[str], reply: bool) -> list[str]:
    if not reply:
        # A new mail or a forward owns everything it carries, quoted or not.
        return [_QUOTE_PREFIX.sub("", line) for line in lines]
    text = "\n".join(lines)
    cut = min((m.start() for p in _QUOTE_STARTS if (m := p.search(text))), default=len(text))
    return [line for line in text[:cut].splitlines() if not line.lstrip().startswith(">")]


def _label_value(line: str) -> tuple[str, str] | None:
    """(field name, raw value) when the line starts with a known label."""
    start = _BULLET.match(line)
    body = line[start.end():] if start else line
    if not body or body[0] in ":\t":
        return None
    for sep in _SEPARATOR.finditer(body, 1):
        if sep.start() > _MAX_LABEL:
            break
        if not sep.group().strip(" "):  # plain spaces between words separate nothing
            continue
        name = LABELS.get(fold(_LABEL_END.sub("", body[: sep.start()])))
        if name is not None:
            return name, body[sep.end():].strip().strip("*_").strip()
    return None


def is_label(text: str) -> bool:
    """Whether `text` (a table cell, say) is one of the portal's labels."""
    return fold(_LABEL_END.sub("", text).rstrip(":?")) in LABELS


def _read_form(lines: list[str]) -> dict[str, object]:
    found: dict[str, object] = {}
    for index, line in enumerate(lines):
        pair = _label_value(line)
        if pair is None:
            continue
        name, value = pair
        if name in found:
            continue
        if not value:
            # The answer on the line after the label ("Organização:\nACME"),
            # unless that line is a label of its own.
            following = next((n for n in lines[index + 1:index + 3] if n.strip()), "")
            if following and _label_value(following) is None and not _SEPARATOR_ONLY.match(following):
                value = following.strip().strip("*_").strip()
        converted = _convert(name, value)
        if converted is not None:
            found[name] = converted
    return found


def _convert(name: str, value: str) -> object:
    if name == "impact":
        return parse_impact(value)
    if name == "bso":
        return parse_bso(value)
    if name == "cc_users":
        addresses = list(dict.fromkeys(a.lower() for a in _ADDRESS.findall(value)))
        return addresses or None
    return value or None
