"""uuencoded files: a part with `Content-Transfer-Encoding: x-uuencode`, or a
`begin 644 name` block pasted into a text/plain body (old mailers, ERP
exports, Usenet gateways).

The stdlib decodes the first kind only when every line is well formed, and
silently hands back the encoded text when it is not (a blank line, trailing
spaces stripped by a relay, a CTE value with a trailing space); it never
reads the file name from the `begin` line, and it does not look for blocks
inside text at all.  The decoder here follows the line-length byte of each
line, which is what survives those relays.
"""
from __future__ import annotations

import binascii
import re
from typing import NamedTuple

CTE_NAMES = frozenset({"x-uuencode", "uuencode", "x-uue", "uue"})
_BEGIN = re.compile(r"^begin[ \t]+([0-7]{3,4})[ \t]+(\S[^\r\n]*?)[ \t]*\r?$", re.MULTILINE)
_BEGIN_BYTES = re.compile(rb"^begin[ \t]+([0-7]{3,4})[ \t]+(\S[^\r\n]*?)[ \t]*\r?$", re.MULTILINE)
_END = re.compile(r"^end[ \t]*\r?$", re.MULTILINE)
# A uuencoded line: a length character and up to 60 characters of 0x20-0x60,
# plus the odd checksum character some encoders add.
_LINE = re.compile(r"[\x20-\x60]{1,63}")


class UUFile(NamedTuple):
    filename: str
    data: bytes


class Block(NamedTuple):
    start: int
    end: int
    file: UUFile


def decode(payload: bytes) -> UUFile | None:
    """The file in a uuencoded part body, or None when it holds no uuencoded data.

    Without a `begin` line (Eudora and Mac mailers name the file in the MIME
    headers and send only the encoded lines) the body is decoded when every
    line is a well-formed uuencoded line; the file name is then empty.
    """
    match = _BEGIN_BYTES.search(payload)
    if match is None:
        lines = payload.decode("latin-1").strip("\r\n").splitlines()
        if lines and _END.fullmatch(lines[-1]):
            lines.pop()
        data = _decode_lines(lines, strict=True)
        return UUFile("", data) if data is not None else None
    text = payload[match.end():].decode("latin-1")
    end = _END.search(text)
    body = text[: end.start()] if end else text
    data = _decode_lines(body.splitlines(), strict=False)
    if data is None:
        return None
    return UUFile(match.group(2).decode("utf-8", "replace"), data)


def find_blocks(text: str) -> list[Block]:
    """Well-formed `begin … end` blocks in body text, with their files."""
    blocks: list[Block] = []
    pos = 0
    while (begin := _BEGIN.search(text, pos)) is not None:
        end = _END.search(text, begin.end())
        if end is None:
            break
        data = _decode_lines(text[begin.end():end.start()].splitlines(), strict=True)
        if data is not None:
            blocks.append(Block(begin.start(), end.end(), UUFile(begin.group(2), data)))
        pos = end.end()
    return blocks


def _decode_lines(lines: list[str], *, strict: bool) -> bytes | None:
    """Decode uuencoded lines.  `strict`: every line must be one (for blocks inside prose)."""
    out = bytearray()
    seen = False
    for line in lines:
        line = line.rstrip("\r\n")
        if not line.strip():
            if strict and seen:
                return None
            continue
        if strict and not _LINE.fullmatch(line):
            return None
        count = (ord(line[0]) - 32) & 63
        if count == 0:  # the "`" (or space) line before "end"
            continue
        chars = (count + 2) // 3 * 4
        if strict and len(line) - 1 < chars - 2:
            return None
        # Relays strip trailing spaces (zero bits): pad them back.
        body = line[1: 1 + chars].ljust(chars, " ")
        try:
            out += binascii.a2b_uu((chr(32 + count) + body).encode("latin-1"))[:count]
        except (binascii.Error, UnicodeEncodeError):
            return None
        seen = True
    return bytes(out) if seen else None
