"""Charset labels spelled the way real mailers spell them (issue 9, held-out).

nodemailer/mailparser tests `charset=win-1257` (test/mail-parser-test.js,
"8bit Win-1257"; MIT).  Neither the WHATWG table nor Python's registry knows
that spelling, so the text fell to the windows-1252 fallback: right for
"ÕÄÖÜ" by luck, wrong for every Lithuanian letter.  Bytes below are written
by hand from the cp1257 and cp1251 code pages.
"""
from __future__ import annotations

import pytest

from parsers import parse
from parsers.charsets import codec_name


def body(charset: str, data: bytes) -> tuple[str, list[str]]:
    raw = (b"From: a@example.com\r\nSubject: t\r\nContent-Type: text/plain; charset=" + charset.encode()
           + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + data)
    email = parse(raw)
    return email.body_text.strip(), email.defects


def test_win_1257_lithuanian() -> None:
    text, defects = body("win-1257", "Laba diena, ačiū už pagalbą".encode("cp1257"))
    assert text == "Laba diena, ačiū už pagalbą"
    assert not any("unknown charset" in d for d in defects)


def test_windows1251_without_hyphen() -> None:
    text, _ = body("windows1251", "Добрый день".encode("cp1251"))
    assert text == "Добрый день"


@pytest.mark.parametrize(("label", "codec"), [
    ("win-1257", "cp1257"), ("x-win-1250", "cp1250"), ("cp-850", "cp850"), ("dos-866", "cp866"),
    ("latin 2", "iso8859-2"), ("utf8mb4", "utf-8"), ("koi8r", "koi8-r"), ("win-874", "cp874"),
])
def test_spellings(label: str, codec: str) -> None:
    assert codec_name(label) == codec


@pytest.mark.parametrize("label", ["win-9999", "foo", "x-unknown", "iso-8859-99"])
def test_unknown_stays_unknown(label: str) -> None:
    assert codec_name(label) is None
