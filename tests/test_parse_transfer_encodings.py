"""Issue 9, class 4: legacy and unusual transfer encodings.

Sources: stalwart's legacy/049.eml in the shared corpus (Outlook 2000 text
with three uuencoded PNGs, `begin 666 blueball.png`); the rest is written
byte by byte here, uuencoded with binascii.b2a_uu as uuencode(1) does.
"""
from __future__ import annotations

import binascii
import hashlib

import pytest

from parsers import parse
from parsers.uuencode import decode, find_blocks
from tests.conftest import corpus_dir

DATA = bytes(range(256)) * 3 + b"fim"


def _uu(name: str = "dados.bin", data: bytes = DATA, nl: bytes = b"\n") -> bytes:
    lines = [binascii.b2a_uu(data[i:i + 45]).rstrip(b"\n") for i in range(0, len(data), 45)]
    return nl.join([f"begin 644 {name}".encode(), *lines, b"`", b"end", b""])


def _multipart(cte: str, payload: bytes, extra: bytes = b"") -> bytes:
    return (b"From: a@cliente.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
            b"--b\nContent-Type: text/plain\n\nsegue\n"
            b"--b\nContent-Type: application/octet-stream\n" + extra
            + f"Content-Transfer-Encoding: {cte}\n\n".encode() + payload + b"--b--\n")


@pytest.mark.parametrize("cte", ["x-uuencode", "uuencode", "x-uue", "X-UUEncode ", "uue"])
def test_uuencode_transfer_encoding_is_decoded_and_named_from_the_begin_line(cte: str) -> None:
    email = parse(_multipart(cte, _uu()))
    assert [(a.filename, a.content) for a in email.attachments] == [("dados.bin", DATA)]


def test_declared_filename_wins_over_the_begin_line() -> None:
    email = parse(_multipart("x-uuencode", _uu(), b'Content-Disposition: attachment; filename="nota.pdf"\n'))
    assert [(a.filename, a.content_type, a.content) for a in email.attachments] == [
        ("nota.pdf", "application/pdf", DATA)]


def test_uuencode_survives_crlf_stripped_trailing_spaces_and_blank_lines() -> None:
    # Relays strip the trailing spaces (zero bits) of each line; some add blank lines.
    lines = _uu().split(b"\n")
    mangled = b"\r\n".join(line.rstrip() for line in lines[:4]) + b"\r\n\r\n" + b"\r\n".join(lines[4:])
    raw = _multipart("x-uuencode", mangled).replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    assert [a.content for a in parse(raw).attachments] == [DATA]


def test_begin_block_inside_text_plain_is_an_attachment() -> None:
    raw = (b"From: a@cliente.example\nSubject: planilha\n\nSegue a planilha:\n\n"
           + _uu("relatório.xls") + b"\nAtt,\nAna\n")
    email = parse(raw)
    assert email.body_text == "Segue a planilha:\n\nAtt,\nAna"
    assert [(a.filename, a.content_type, a.content) for a in email.attachments] == [
        ("relatório.xls", "application/vnd.ms-excel", DATA)]
    assert "1 uuencoded file(s) in the text body, taken as attachments" in email.defects


def test_prose_that_starts_with_begin_is_left_alone() -> None:
    text = "begin 644 is how uuencode starts\nend\n"
    assert find_blocks(text) == []
    email = parse(b"From: a@cliente.example\n\n" + text.encode())
    assert email.attachments == [] and "begin 644" in email.body_text


def test_outlook_2000_uuencoded_pngs_from_the_corpus() -> None:
    email = parse((corpus_dir("stalwart") / "legacy" / "049.eml").read_bytes())
    assert [(a.filename, a.content_type) for a in email.attachments] == [
        ("blueball.png", "image/png"), ("greenball.png", "image/png"), ("redball.png", "image/png")]
    assert all(a.content.startswith(b"\x89PNG\r\n\x1a\n") for a in email.attachments)
    assert email.body_text.endswith("Slow but steady wins the race.")


def test_decode_without_begin_line() -> None:
    assert decode(b"M86)C9&5F\n") is None


@pytest.mark.parametrize("cte", ["binary", "8bit"])
def test_binary_and_8bit_with_crlf_keep_every_byte(cte: str) -> None:
    data = bytes(range(256)) + b"\r\n\r\nabc\r\n\n\r"
    raw = (b"From: a@cliente.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: " + cte.encode()
           + b"\r\n\r\nlinha 1\r\nlinha \xc3\xa7\r\n"
           b"--b\r\nContent-Type: application/octet-stream; name=x.bin\r\nContent-Transfer-Encoding: "
           + cte.encode() + b"\r\n\r\n" + data + b"\r\n--b--\r\n")
    email = parse(raw)
    assert email.body_text == "linha 1\nlinha ç"
    assert [hashlib.sha256(a.content).hexdigest() for a in email.attachments] == [hashlib.sha256(data).hexdigest()]


@pytest.mark.parametrize("qp", [
    b"A=C3=\r\n=A7=C3=A3o",      # soft break inside a two-byte character
    b"A=C3= \r\n=A7=C3=A3o",     # ... with a relay's trailing space after the "="
    b"A=C3=\t\r\n=A7=C3=A3o",
    b"A=E2=80=\r\n=9C=C3=\n=A3o",  # three-byte character split, LF only
])
def test_quoted_printable_soft_breaks_inside_multibyte_sequences(qp: bytes) -> None:
    raw = (b"From: a@cliente.example\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp + b"\r\n")
    email = parse(raw)
    assert email.body_text in ("Ação", "A\u201cão")
    assert not any("decoded as" in d for d in email.defects)
