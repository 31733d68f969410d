"""ISO-2022-JP with the NEC row 13 and IBM extensions (issue 9, class 1).

Outlook labels CP50220/CP50221 text `iso-2022-jp`; "㈱" (NEC row 13, JIS
0x2D6A) and "﨑"/"髙" (IBM extensions) are everyday characters in Japanese
company and person names.  Bytes written by hand: JIS X 0208 cells from the
cp932 table (WHATWG index-jis0208 holds the same extensions).
"""
from __future__ import annotations

import base64

from parsers import parse
from parsers.charsets import decode_bytes
from parsers.iso2022jp import decode_iso2022jp

KABUSHIKI = b"\x1b$B-j;3\x1b(B"           # ㈱山
YAMASAKI = b"\x1b$B;3yu9)6H\x1b(B"        # 山﨑工業 (﨑 = IBM extension 0x7975)


def test_nec_row_13_and_ibm_extension() -> None:
    assert decode_iso2022jp(KABUSHIKI + YAMASAKI) == "㈱山山﨑工業"


def test_plain_jis_x_0208_keeps_python_mapping() -> None:
    text = "日本語〜テスト\r\n二行目"
    assert decode_iso2022jp(text.encode("iso2022_jp")) == text


def test_body_labelled_iso_2022_jp() -> None:
    decoded = decode_bytes(KABUSHIKI + b" " + YAMASAKI, "iso-2022-jp")
    assert decoded.text == "㈱山 山﨑工業"
    assert decoded.defect is None


def test_subject_encoded_word() -> None:
    word = base64.b64encode(KABUSHIKI + YAMASAKI).decode()
    raw = f"From: a@example.jp\r\nSubject: =?ISO-2022-JP?B?{word}?=\r\n\r\nx\r\n".encode()
    assert parse(raw).subject == "㈱山山﨑工業"


def test_eight_bit_bytes_are_not_iso_2022_jp() -> None:
    assert decode_iso2022jp(b"\x1b$B\xb0\xa1\x1b(B") is None
