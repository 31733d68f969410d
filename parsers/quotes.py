"""Quoted history out of a reply, so a comment holds only what the sender wrote.

mail-parser-reply finds the reply headers of the languages it knows (English
"On ... wrote:", Outlook "From:/Sent:/To:/Subject:", Spanish, German, ...,
and "-----Original Message-----").  It has no Portuguese, which is most of our
mail, so the Portuguese shapes are matched here: Gmail's "Em ... escreveu:"
and Outlook's "De:/Enviada em:/Para:/Assunto:" block.  The library normalizes
whitespace on every line, so it is only asked *where* the history starts; the
cut is made in the original text, keeping the sender's indentation.

Then "> " lines go, and a trailing mobile signature ("Enviado do meu iPhone").
When stripping would leave nothing, the whole text is kept: a comment must
never lose what the customer sent.
"""
from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser

# Languages besides English (always included) whose headers the library knows
# and our customers use.
_LIBRARY_LANGUAGES = ["es", "fr", "it", "de"]

# Gmail/Apple: "Em qua., 25 de nov. de 2026 às 10:02, Fulano <x@y> escreveu:",
# which clients wrap over two lines at the address.
# A date or time (a digit) is required, so "Em resumo, o cliente escreveu:"
# written by the customer is not taken for a quote header.
_PT_WROTE = re.compile(r"^\s*Em\s[^\n]*\d.*\bescreveu\s*:\s*$", re.IGNORECASE | re.DOTALL)
# One line of an Outlook header block in Portuguese (also with *bold* markers).
_PT_HEADER_LINE = re.compile(
    r"^\s*\*?(?:De|Enviada em|Enviado em|Enviado|Data|Para|Cc|Cco|Assunto|Prioridade|Importância)\s*:\*?(?:\s|$)",
    re.IGNORECASE,
)
_PT_FROM_LINE = re.compile(r"^\s*\*?De\s*:\*?\s+\S", re.IGNORECASE)
_PT_SEPARATOR = re.compile(r"^\s*-{3,}\s*Mensagem original\s*-{3,}\s*$", re.IGNORECASE)
_QUOTED_LINE = re.compile(r"^\s*>")
_RULE_LINE = re.compile(r"^\s*[_\-=]{10,}\s*$")
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(?:Enviado (?:do|de|a partir do) (?:meu|minha) .{1,40}|Enviado do (?:Email|E-mail) para .{1,30}"
    r"|Enviado desde mi .{1,40}|Sent from my .{1,40}|Sent from (?:Mail|Outlook) for .{1,30}"
    r"|Obter o Outlook para .{1,20}|Get Outlook for .{1,20}|Obtener Outlook para .{1,20})\s*$",
    re.IGNORECASE,
)


def strip_quoted(text: str) -> str:
    """`text` without the quoted history below the new part; `text` itself when nothing would remain."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept = lines[: _history_start(lines)]
    kept = [line for line in kept if not _QUOTED_LINE.match(line)]
    while kept and (not kept[-1].strip() or _RULE_LINE.match(kept[-1]) or _MOBILE_SIGNATURE.match(kept[-1])):
        kept.pop()
    result = "\n".join(kept).strip("\n")
    return result if result.strip() else text


def _history_start(lines: list[str]) -> int:
    """Index of the first line of quoted history, or len(lines)."""
    return min(_portuguese_start(lines), _library_start(lines))


def _portuguese_start(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        if _PT_SEPARATOR.match(line):
            return i
        # The wrote-line may be wrapped once.
        if line.lstrip().lower().startswith("em ") and (
            _PT_WROTE.match(line) or (i + 1 < len(lines) and _PT_WROTE.match(line + " " + lines[i + 1]))
        ):
            return i
        # "De:" followed by at least two more header lines within the next few.
        if _PT_FROM_LINE.match(line) and sum(1 for nxt in lines[i + 1 : i + 6] if _PT_HEADER_LINE.match(nxt)) >= 2:
            return i
    return len(lines)


def _library_start(lines: list[str]) -> int:
    message = EmailReplyParser(languages=_LIBRARY_LANGUAGES).read("\n".join(lines))
    headers = [reply.headers for reply in message.replies if reply.headers]
    if not headers:
        return len(lines)
    # The library strips each line; find its first header line in the original.
    first = headers[0].split("\n", 1)[0].strip()
    for i, line in enumerate(lines):
        if line.strip() == first:
            return i
    return len(lines)


__all__ = ["strip_quoted"]
