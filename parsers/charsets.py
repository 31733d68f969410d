"""Bytes → text with the declared charset first and honest fallbacks.

Mail in the wild lies about its charset: Outlook labels windows-1252 text as
iso-8859-1, iPhones send raw 8-bit Latin-1 with no label, and headers arrive
as raw 8-bit bytes although RFC 5322 forbids it.  The rule is the issue's:
declared charset, then UTF-8, then windows-1252, and never a silent U+FFFD
when some decoding fits.  Latin-1 is the last resort because it decodes any
byte string, so nothing here ever raises.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
from typing import NamedTuple

# WHATWG maps these labels to windows-1252: in practice the 0x80-0x9F range
# in "latin-1" mail is always cp1252 punctuation (curly quotes, dashes, €),
# never C1 control characters.
_AS_CP1252 = {"iso8859-1", "latin-1", "cp1252"}
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*?)\?=")
_BETWEEN_WORDS = re.compile(r"[ \t\r\n]+")


class Decoded(NamedTuple):
    text: str
    # Why the declared charset was not used, or None when it was.
    defect: str | None = None


def codec_name(label: str | None) -> str | None:
    """Python's codec name for a MIME charset label, or None if unknown."""
    if not label:
        return None
    label = label.strip().strip('"').lower()
    if label in ("unknown-8bit", "x-unknown", "unknown", "default", "8bit"):
        return None
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):
        return None
    return "cp1252" if name in _AS_CP1252 else name


def decode_bytes(data: bytes, declared: str | None = None) -> Decoded:
    """Decode `data`: declared charset, then UTF-8, then windows-1252, then Latin-1."""
    codec = codec_name(declared)
    if codec is not None:
        try:
            return Decoded(data.decode(codec))
        except (UnicodeDecodeError, LookupError):
            pass
        except Exception:  # a few exotic codecs raise other errors on bad input
            pass
    if data.isascii():
        return Decoded(data.decode("ascii"), _defect(declared, codec, "ascii"))
    for fallback in ("utf-8", "cp1252", "latin-1"):
        try:
            text = data.decode(fallback)
        except UnicodeDecodeError:
            continue
        return Decoded(text, _defect(declared, codec, fallback))
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def _defect(declared: str | None, codec: str | None, used: str) -> str | None:
    if declared and codec is None:
        return f"unknown charset {declared!r}, decoded as {used}"
    if declared:
        return f"text is not valid {declared}, decoded as {used}"
    if used != "ascii":
        return f"8-bit text without a charset, decoded as {used}"
    return None


def unescape_header(value: str) -> Decoded:
    """A compat32 header string whose raw 8-bit bytes hide as surrogates → real text.

    The stdlib keeps undecodable header bytes as lone surrogates
    (surrogateescape); turn them back into bytes and decode those properly.
    """
    try:
        value.encode("utf-8")
        return Decoded(value)
    except UnicodeEncodeError:
        pass
    raw = value.encode("utf-8", "surrogateescape")
    decoded = decode_bytes(raw, "utf-8")
    defect = "raw 8-bit bytes in a header" + (f" ({decoded.defect})" if decoded.defect else "")
    return Decoded(decoded.text, defect)


def decode_words(value: str, defects: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded-words in an (unfolded) header value.

    Whitespace between two adjacent encoded-words is dropped (RFC 2047 §6.2),
    and adjacent words in the same charset are joined as bytes before
    decoding, so a multi-byte character split across two words survives.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            decoded = decode_bytes(b"".join(pending), pending_charset)
            if decoded.defect and defects is not None:
                defects.append(f"encoded-word: {decoded.defect}")
            out.append(decoded.text)
        pending, pending_charset = [], None

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos:match.start()]
        if gap and not (pending and _BETWEEN_WORDS.fullmatch(gap)):
            flush()
            out.append(gap)
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 language suffix
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:  # not decodable: keep the text as written
            flush()
            out.append(match.group(0))
        else:
            if pending and charset.lower() != (pending_charset or "").lower():
                flush()
            pending.append(data)
            pending_charset = charset
        pos = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes | None:
    if encoding in "bB":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text)
        if not cleaned and text.strip("="):
            return None
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return None
    return quopri.decodestring(text.encode("utf-8", "surrogateescape"), header=True)
