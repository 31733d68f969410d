"""The dedupe key: the same mail delivered twice has one key, other content another.

Hashed: the Message-ID, the From/To/Cc/Subject/Date values as sent, and the
raw body bytes after the header block.  Not hashed: Received, Delivered-To,
Return-Path and other trace headers added in transit, so a redelivery keeps
its key.  Line endings are normalised to LF first because the same message
arrives with CRLF over IMAP and LF from a Maildir.
"""
from __future__ import annotations

import hashlib
import re

_KEY_HEADERS = ("message-id", "from", "to", "cc", "subject", "date")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FOLDING = re.compile(rb"\r?\n[ \t]")
_SPACE = re.compile(rb"[ \t]+")


def split_raw(raw: bytes) -> tuple[bytes, bytes]:
    """(header block, body) of the raw message; the body is empty when there is none."""
    match = _HEADER_END.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.start()], raw[match.end():]


# Body bytes hashed at a time: a 60 MB message is not copied whole (twice) to hash it.
_SLICE = 1 << 20


def _update_lf(digest: "hashlib._Hash", raw: bytes, start: int) -> None:
    """digest.update(raw[start:].replace(CRLF, LF)), a slice at a time."""
    view = memoryview(raw)
    carry = b""
    for pos in range(start, len(raw), _SLICE):
        chunk = carry + bytes(view[pos : pos + _SLICE])
        # A CR ending the slice may be the first half of a CRLF.
        carry = b"\r" if chunk.endswith(b"\r") and pos + _SLICE < len(raw) else b""
        digest.update((chunk[:-1] if carry else chunk).replace(b"\r\n", b"\n"))
    digest.update(carry)


def message_key(raw: bytes) -> str:
    match = _HEADER_END.search(raw)
    header_block, body_start = (raw, len(raw)) if match is None else (raw[: match.start()], match.end())
    values: dict[str, list[bytes]] = {name: [] for name in _KEY_HEADERS}
    for line in _FOLDING.sub(b" ", header_block).splitlines():
        raw_name, sep, value = line.partition(b":")
        header = raw_name.strip().lower().decode("ascii", "replace")
        if sep and header in values:
            values[header].append(_SPACE.sub(b" ", value.strip()))
    digest = hashlib.sha256()
    for name in _KEY_HEADERS:
        # Length-prefixed fields: no value can run into the next one.
        for value in values[name]:
            digest.update(f"{name}:{len(value)}:".encode() + value)
        digest.update(b"\0")
    _update_lf(digest, raw, body_start)
    return digest.hexdigest()
