"""Address headers → (display name, address) pairs.

Structure first, decoding second, and encoded-words are atoms of that
structure: `=?iso-8859-1?Q?Ara=FAjo,=20Jos=E9?= <jose@x>` is one person
(Outlook/Exchange writes "Sobrenome, Nome" exactly like this), although the
comma sits inside the encoded-word and a plain scanner splits there.  So each
run of encoded-words is swapped for an opaque atom before mail-parser's
scanner splits the list into mailboxes (it recovers from malformed lists
without inventing addresses), and swapped back and decoded per name after.
The stdlib is the fallback if the scanner ever fails.

Comments are left to mail-parser, which folds them into the name the way
the shared corpus expects (`Pete (A wonderful ) chap his account his host)`).
"""
from __future__ import annotations

import email.utils
import re
import secrets

from mailparser.utils import get_addresses

from parsers.charsets import decode_words
from parsers.model import Address

# One encoded-word, or several separated only by whitespace (they decode
# to one run of text, RFC 2047 §6.2).
_WORD = r"=\?[^?\s]+\?[bBqQ]\?[^?]*?\?="
_WORD_RUN = re.compile(rf"{_WORD}(?:[ \t\r\n]+{_WORD})*")
# Per process: the placeholder cannot be guessed, so no header can smuggle one in.
_NONCE = secrets.token_hex(6)
_PLACEHOLDER = re.compile(rf"ew{_NONCE}x(\d+)z")
_UNCLOSED_ANGLE = re.compile(r"<([^<>\s@]+@[^<>\s@]+)\s*$")
_ROOTED_DOMAIN = re.compile(r"(@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\.(?=\s*(?:>|,|;|\(|$))")


def parse_addresses(value: str, defects: list[str] | None = None) -> list[Address]:
    """Every mailbox in an unfolded, 8-bit-clean header value, addresses lowercased."""
    if not value.strip():
        return []
    if "." in value:
        # "<Claudia.Shu@yahoo.com.>": a domain written as a rooted DNS name.
        # It is the same mailbox; the scanner rejects it and the From is lost.
        value, rooted = _ROOTED_DOMAIN.subn(r"\1", value)
        if rooted and defects is not None:
            defects.append("address: trailing dot after the domain removed")
    if "<" in value and value.rfind(">") < value.rfind("<"):
        # "<test@domain.tld" at the end of the value (Roundcube #8164): the
        # angle address lost only its closing bracket.
        value, closed = _UNCLOSED_ANGLE.subn(r"<\1>", value)
        if closed and defects is not None:
            defects.append("address: missing '>' after the last address added")
    words: list[str] = []
    if "=?" in value:
        def protect(match: re.Match[str]) -> str:
            words.append(match.group(0))
            return f"ew{_NONCE}x{len(words) - 1}z"
        value = _WORD_RUN.sub(protect, value)
    try:
        diagnostics: list[dict] = []
        pairs = get_addresses(value, defects=diagnostics, decode_names=True)
        if defects is not None:
            defects.extend(f"address: {d['reason']}: {_restore(str(d['raw']), words)}" for d in diagnostics)
    except Exception as exc:  # mail-parser bug on odd input: stdlib parse, then decode names
        if defects is not None:
            defects.append(f"address: mail-parser failed ({type(exc).__name__}), used stdlib")
        pairs = email.utils.getaddresses([value])
    out = []
    for name, addr in pairs:
        addr = _restore(addr, words).strip().strip("<>").strip()
        if "@" not in addr or any(c.isspace() for c in addr):
            continue
        name = _restore(name, words)
        if "=?" in name:
            name = decode_words(name, defects)
            if len(name) >= 2 and name[0] == name[-1] == '"':
                # The mailer encoded the quoted phrase, quotes and all
                # ("=?UTF-8?B?IlRlc3QsVGVzdCI=?=" is '"Test,Test"').
                name = name[1:-1].replace('\\"', '"')
        out.append(Address(name=" ".join(name.split()), email=addr.lower()))
    return out


def _restore(text: str, words: list[str]) -> str:
    if not words or "ew" not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: words[int(m.group(1))], text)
