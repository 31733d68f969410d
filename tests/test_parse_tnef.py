"""Outlook winmail.dat (TNEF) is expanded into the files it carries."""
from __future__ import annotations

import base64
import hashlib
import struct

from parsers import parse
from parsers.tnef import expand


def _attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    # TNEF attribute: level, id (name + type), length, data, 16-bit byte-sum checksum.
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def tnef_blob(files: dict[str, bytes]) -> bytes:
    """A minimal winmail.dat as Outlook writes it: version, then per file rend-data, title, data."""
    blob = struct.pack("<IH", 0x223E9F78, 1) + _attribute(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))
    for name, data in files.items():
        blob += _attribute(2, 0x9002, 0x0006, bytes(14))          # attAttachRendData starts a file
        blob += _attribute(2, 0x8010, 0x0001, name.encode() + b"\0")  # attAttachTitle
        blob += _attribute(2, 0x800F, 0x0006, data)                # attAttachData
    return blob


def _message(blob: bytes) -> bytes:
    encoded = base64.encodebytes(blob).decode()
    return ("From: Outlook User <user@example.com>\r\nTo: sup@example.com\r\nSubject: rich text\r\n"
            'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain\r\n\r\nsegue\r\n"
            '--b\r\nContent-Type: application/ms-tnef; name="winmail.dat"\r\n'
            'Content-Disposition: attachment; filename="winmail.dat"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            f"{encoded}\r\n--b--\r\n").encode()


def test_expand_reads_every_file() -> None:
    files = expand(tnef_blob({"log.txt": b"erro 42", "print.png": b"\x89PNG fake"}))
    assert files is not None
    assert [(f.filename, f.content_type, f.data) for f in files] == [
        ("log.txt", "text/plain", b"erro 42"), ("print.png", "image/png", b"\x89PNG fake")]


def test_expand_rejects_non_tnef() -> None:
    assert expand(b"not a tnef blob at all") is None


def test_winmail_dat_becomes_its_files() -> None:
    email = parse(_message(tnef_blob({"planilha.xlsx": b"PK\x03\x04 data"})))
    assert [a.filename for a in email.attachments] == ["planilha.xlsx"]
    att = email.attachments[0]
    assert att.sha256 == hashlib.sha256(b"PK\x03\x04 data").hexdigest() and att.size == len(b"PK\x03\x04 data")
    assert email.body_text == "segue"


def test_unreadable_winmail_dat_is_kept_as_it_came() -> None:
    email = parse(_message(b"garbage that is not TNEF"))
    assert [a.filename for a in email.attachments] == ["winmail.dat"]
    assert email.attachments[0].content == b"garbage that is not TNEF"
    assert any("winmail.dat" in d for d in email.defects)


def _legacy_blob(title: bytes, codepage: int | None) -> bytes:
    blob = struct.pack("<IH", 0x223E9F78, 1) + _attribute(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))
    if codepage is not None:
        blob += _attribute(1, 0x9007, 0x0006, struct.pack("<II", codepage, 0))  # attOemCodepage
    blob += _attribute(2, 0x9002, 0x0006, bytes(14))
    blob += _attribute(2, 0x8010, 0x0001, title + b"\0")
    blob += _attribute(2, 0x800F, 0x0006, b"%PDF")
    return blob


def test_titles_in_the_blobs_own_code_page() -> None:
    # Issue 9: a Portuguese Outlook writes cp1252 titles; tnefparse reads them
    # as UTF-8 and raised, so the whole winmail.dat stayed unreadable.
    for title, codepage, name in [("relatório.pdf".encode("cp1252"), 1252, "relatório.pdf"),
                                  ("relatório.pdf".encode("cp1252"), None, "relatório.pdf"),
                                  ("发票.pdf".encode("gbk"), 936, "发票.pdf")]:
        email = parse(_message(_legacy_blob(title, codepage)))
        assert [(a.filename, a.content) for a in email.attachments] == [(name, b"%PDF")]
