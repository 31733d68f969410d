"""HTML → readable plain text for HTML-only mail.

inscriptis renders the way a reader sees the page: paragraphs and line
breaks, list bullets, table rows laid out as rows (the support form arrives
as a table), and no CSS or script text.

Mailers that turn typed text into HTML without escaping it leave
`Veja <https://portal.example/chamados>.` or `<ana@cliente.example>` in the
markup; an HTML tokenizer reads those as tags and drops them, although the
customer wrote them as text.  No HTML tag is named like a URL or an address,
so `escape_bracketed` turns exactly those back into text first.
"""
from __future__ import annotations

import html
import re

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

_CONFIG = ParserConfig(css=CSS_PROFILES["strict"], display_links=False, display_images=False)
_INVISIBLE = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"<(br|/p|/div|/tr|/li|/h\d)\b[^>]*>", re.I)
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_BRACKETED = re.compile(
    r"<((?:https?|ftp|mailto|file|tel|sip)://?[^\s<>\"']+|mailto:[^\s<>\"']+"
    r"|[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+)>",
    re.IGNORECASE,
)


def escape_bracketed(markup: str) -> str:
    """`<https://…>` and `<user@host>` written as text in HTML, escaped so they stay text."""
    if "@" not in markup and ":/" not in markup and "mailto:" not in markup.lower():
        return markup
    return _BRACKETED.sub(r"&lt;\1&gt;", markup)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document; never raises."""
    if not markup.strip():
        return ""
    markup = escape_bracketed(markup)
    try:
        text = get_text(markup, _CONFIG)
    except Exception:  # lxml rejects some broken documents: strip tags instead
        text = _strip_tags(markup)
    # &nbsp; in mail HTML is layout (Outlook pads every empty paragraph with
    # it), so readers and the form-field matchers want a plain space.
    text = text.replace("\xa0", " ")
    # Table cells are padded to column width; the padding at line ends is noise.
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", text).strip("\n")


def _strip_tags(markup: str) -> str:
    text = _INVISIBLE.sub("", markup)
    text = _BREAK.sub("\n", text)
    return html.unescape(_TAG.sub("", text))
