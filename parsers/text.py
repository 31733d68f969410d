"""Accent-, case- and spacing-insensitive text folding for labels and rule values.

Customers write "Organização", "organizacao" and "ORGANIZAÇÃO :"; rules say
"Folha de Pagamento" while the mail says "folha de  pagamento".  Everything
compared by routing or field extraction goes through `fold` first.
"""
from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lowercase, without accents, whitespace (NBSP included) collapsed, trimmed."""
    # NFKD splits "ç" into "c" + a combining cedilla; dropping the combining
    # marks leaves the base letters.  casefold also handles "ß" and friends.
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACE.sub(" ", stripped.casefold()).strip()


def slug(text: str) -> str:
    """A Zendesk-tag-safe form of a name: "RM Folha" -> "rm_folha"."""
    return re.sub(r"[^a-z0-9]+", "_", fold(text)).strip("_")
