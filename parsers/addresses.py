"""Address headers → (display name, address) pairs.

Structure first, decoding second: a display name like
`=?utf-8?Q?Silva=2C_Jo=C3=A3o?=` holds a comma only after decoding, so the
header is split into mailboxes before names are decoded.  mail-parser's
scanner does exactly that and recovers from malformed lists without
inventing addresses; the stdlib is the fallback if it ever fails.
"""
from __future__ import annotations

import email.utils

from mailparser.utils import get_addresses

from parsers.charsets import decode_words
from parsers.model import Address


def parse_addresses(value: str, defects: list[str] | None = None) -> list[Address]:
    """Every mailbox in an unfolded, 8-bit-clean header value, addresses lowercased."""
    if not value.strip():
        return []
    try:
        diagnostics: list[dict] = []
        pairs = get_addresses(value, defects=diagnostics, decode_names=True)
        if defects is not None:
            defects.extend(f"address: {d['reason']}: {d['raw']}" for d in diagnostics)
    except Exception as exc:  # mail-parser bug on odd input: stdlib parse, then decode names
        if defects is not None:
            defects.append(f"address: mail-parser failed ({type(exc).__name__}), used stdlib")
        pairs = [(decode_words(name), addr) for name, addr in email.utils.getaddresses([value])]
    out = []
    for name, addr in pairs:
        addr = addr.strip().strip("<>").strip()
        if "@" not in addr or any(c.isspace() for c in addr):
            continue
        if "=?" in name:  # mail-parser leaves words glued to quotes undecoded
            name = decode_words(name, defects)
        out.append(Address(name=" ".join(name.split()), email=addr.lower()))
    return out
