"""HTML → readable plain text for HTML-only mail.

inscriptis renders the way a reader sees the page: paragraphs and line
breaks, list bullets, table rows laid out as rows (the support form arrives
as a table), and no CSS or script text.
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


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document; never raises."""
    if not markup.strip():
        return ""
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
