"""ISO-2022-JP as Japanese mail clients write it (issue 9, class 1).

Outlook and other Windows mailers label text `iso-2022-jp` but use the
Microsoft variant (CP50220/CP50221): JIS X 0208 plus the NEC row 13 and IBM
extensions, so "㈱", "①", "№" and "﨑" are common in business mail.  Python's
`iso2022_jp` codec rejects those bytes, and the text fell to an ASCII
fallback with the escape sequences left in it.  The WHATWG Encoding Standard
decodes ISO-2022-JP with its index-jis0208, which holds those extensions;
Python has the same table as cp932 (Shift_JIS), so each JIS X 0208 pair is
moved to its Shift_JIS code (a fixed arithmetic mapping) and decoded there.
"""
from __future__ import annotations

import codecs
import re

# ESC sequences that switch the character set (RFC 1468, plus JIS X 0201 kana).
_ESCAPE = re.compile(rb"\x1b(\(B|\(J|\(I|\$@|\$B)")
_TWO_BYTE = {b"$@", b"$B"}


def decode_iso2022jp(data: bytes) -> str | None:
    """The text, or None when the bytes are not ISO-2022-JP (a stray ESC, 8-bit bytes)."""
    if any(b >= 0x80 for b in data):
        return None
    out: list[str] = []
    mode = b"(B"
    pos = 0
    for match in _ESCAPE.finditer(data):
        piece = _segment(data[pos:match.start()], mode)
        if piece is None:
            return None
        out.append(piece)
        mode = match.group(1)
        pos = match.end()
    piece = _segment(data[pos:], mode)
    if piece is None:
        return None
    out.append(piece)
    return "".join(out)


def _segment(chunk: bytes, mode: bytes) -> str | None:
    if b"\x1b" in chunk:
        return None
    if mode == b"(I":  # JIS X 0201 half-width katakana, 0x21-0x5F
        return bytes(b + 0x80 if 0x21 <= b <= 0x5F else b for b in chunk).decode("cp932", "replace")
    if mode not in _TWO_BYTE:
        return chunk.decode("ascii")
    try:
        # Plain JIS X 0208 keeps Python's (and WHATWG's) mapping, e.g. 〜 U+301C.
        return (b"\x1b$B" + chunk + b"\x1b(B").decode("iso2022_jp")
    except UnicodeDecodeError:
        pass
    out: list[str] = []
    for line in chunk.split(b"\n"):
        body = line.rstrip(b"\r")
        if len(body) % 2:
            return None
        for i in range(0, len(body), 2):
            pair = body[i:i + 2]
            try:
                out.append((b"\x1b$B" + pair + b"\x1b(B").decode("iso2022_jp"))
            except UnicodeDecodeError:
                try:  # NEC row 13 / IBM extensions: the same cell in cp932
                    out.append(_to_shift_jis(pair[0], pair[1]).decode("cp932"))
                except UnicodeDecodeError:
                    return None
        out.append(line[len(body):].decode("ascii") + "\n")
    return "".join(out)[:-1]


def _to_shift_jis(j1: int, j2: int) -> bytes:
    """JIS X 0208 row/cell bytes (0x21-0x7E each) → their Shift_JIS pair."""
    s1 = (j1 + 1) // 2 + (0x70 if j1 <= 0x5E else 0xB0)
    s2 = j2 + (0x1F if j1 % 2 else 0x7E)
    if j1 % 2 and s2 >= 0x7F:
        s2 += 1
    return bytes((s1, s2))


CODEC = "bso_iso2022_jp_ms"


def _decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
    text = decode_iso2022jp(bytes(data))
    if text is None:
        raise UnicodeDecodeError(CODEC, bytes(data), 0, len(data), "not ISO-2022-JP (with the NEC/IBM extensions)")
    return text, len(data)


def _encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
    raise UnicodeEncodeError(CODEC, text, 0, len(text), "decode only")


def _search(name: str) -> codecs.CodecInfo | None:
    if name.replace("-", "_") != CODEC:
        return None
    return codecs.CodecInfo(_encode, _decode, name=CODEC)


codecs.register(_search)
