"""Attachment names: RFC 2231, RFC 2047 in parameters, name= fallback, safe made-up names."""
from __future__ import annotations

import pytest

from parsers import parse


def _with_part(part_headers: str, body: str = "aGVsbG8=") -> bytes:
    return (
        "From: Ana <ana@example.com>\r\nTo: sup@example.com\r\nSubject: anexo\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ncorpo\r\n"
        f"--b\r\n{part_headers}\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n--b--\r\n"
    ).encode("utf-8")


def _only_attachment(raw: bytes):
    email = parse(raw)
    assert len(email.attachments) == 1, email.attachments
    return email.attachments[0]


def test_rfc2231_continuations_with_charset() -> None:
    att = _only_attachment(_with_part(
        "Content-Type: application/pdf\r\n"
        "Content-Disposition: attachment;\r\n"
        " filename*0*=utf-8''Relat%C3%B3rio%20de%20concilia%C3%A7%C3%A3o;\r\n"
        " filename*1*=%20banc%C3%A1ria.pdf"))
    assert att.filename == "Relatório de conciliação bancária.pdf"


def test_rfc2047_word_inside_quoted_parameter() -> None:
    att = _only_attachment(_with_part(
        'Content-Type: application/pdf; name="=?iso-8859-1?Q?Nota_Fiscal_n=BA_123.pdf?="\r\n'
        'Content-Disposition: attachment; filename="=?iso-8859-1?Q?Nota_Fiscal_n=BA_123.pdf?="'))
    assert att.filename == "Nota Fiscal nº 123.pdf"


def test_name_parameter_is_the_fallback() -> None:
    att = _only_attachment(_with_part("Content-Type: image/png; name=print.png\r\nContent-Disposition: attachment"))
    assert att.filename == "print.png"


def test_raw_8bit_filename() -> None:
    raw = _with_part('Content-Type: text/csv\r\nContent-Disposition: attachment; filename="título.csv"')
    assert _only_attachment(raw).filename == "título.csv"
    raw = raw.replace("título".encode(), "título".encode("cp1252"))
    assert _only_attachment(raw).filename == "título.csv"


@pytest.mark.parametrize(("content_type", "extension"), [
    ("application/pdf", ".pdf"), ("image/jpeg", ".jpg"), ("text/plain", ".txt"),
    ("application/octet-stream", ".bin"), ("application/x-unheard-of", ".bin"),
])
def test_missing_name_gets_a_safe_one_with_the_right_extension(content_type: str, extension: str) -> None:
    att = _only_attachment(_with_part(f"Content-Type: {content_type}\r\nContent-Disposition: attachment"))
    assert att.filename.endswith(extension)
    assert "/" not in att.filename and att.filename.isprintable()


@pytest.mark.parametrize("name", ["../../etc/passwd", "C:\\\\Windows\\\\evil.exe", "a\x01b.txt"])
def test_path_and_control_characters_are_removed(name: str) -> None:
    att = _only_attachment(_with_part(f'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="{name}"'))
    assert "/" not in att.filename and "\\" not in att.filename
    assert att.filename.isprintable() and not att.filename.startswith(".")
    assert att.filename  # never empty


def test_attachment_bytes_and_hash_are_of_the_decoded_content() -> None:
    att = _only_attachment(_with_part("Content-Type: application/octet-stream; name=x.bin"))
    assert att.content == b"hello" and att.size == 5
    assert att.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
