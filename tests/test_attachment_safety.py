"""Attachments judged by their real name and real type (parsers.attachment_safety).

The byte fixtures are built here, each the smallest file its format's
signature allows: a PE header (MZ + PE\\0\\0), PDF 1.4, PNG and JPEG/JFIF
headers, Office Open XML zips with the part names Word/Excel/PowerPoint
write, an OLE2 compound file whose root entry carries the MSI CLSID, a
Windows shortcut header (MS-SHLLINK 2.1) and an ISO 9660 volume descriptor.
"""
from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from email.message import EmailMessage

import pytest

from parsers.attachment_safety import AttachmentSettings, blocked_reason, name_extensions, normalize_name, sniff
from parsers.model import Attachment
from tests.test_parse_tnef import tnef_blob

SETTINGS = AttachmentSettings()


def pe() -> bytes:
    head = bytearray(0x80)
    head[0:2] = b"MZ"
    head[0x3C:0x40] = struct.pack("<I", 0x80)
    return bytes(head) + b"PE\0\0" + struct.pack("<H", 0x14C) + bytes(200)


def office(kind: str) -> bytes:
    part = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}[kind]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("_rels/.rels", "<Relationships/>")
        zf.writestr(part, "<x/>")
    return buf.getvalue()


def plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("log.txt", "erro 42")
    return buf.getvalue()


def ole(clsid: bytes) -> bytes:
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    header[0x1E:0x20] = struct.pack("<H", 9)  # 512-byte sectors
    header[0x30:0x34] = struct.pack("<I", 0)  # directory starts at sector 0
    directory = bytearray(512)
    directory[0:10] = "Root".encode("utf-16-le") + b"\0\0"
    directory[0x50:0x60] = clsid
    return bytes(header + directory)


MSI_CLSID = bytes.fromhex("84100c0000000000c000000000000046")
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(64)
LNK = bytes.fromhex("4c0000000114020000000000c000000000000046") + bytes(56)
ISO = bytes(0x8001) + b"CD001\x01" + bytes(64)


def att(name: str, data: bytes, content_type: str = "application/octet-stream") -> Attachment:
    return Attachment(filename=name, content_type=content_type, size=len(data),
                      sha256=hashlib.sha256(data).hexdigest(), content=data)


@pytest.mark.parametrize(("data", "ext"), [
    (pe(), ".exe"), (PDF, ".pdf"), (PNG, ".png"), (JPEG, ".jpg"), (office("docx"), ".docx"),
    (office("xlsx"), ".xlsx"), (office("pptx"), ".pptx"), (plain_zip(), ".zip"), (ole(MSI_CLSID), ".msi"),
    (LNK, ".lnk"), (ISO, ".iso"), (b"\x7fELF\x02\x01\x01" + bytes(64), ".elf"),
])
def test_sniff_names_the_real_type(data: bytes, ext: str) -> None:
    found = sniff(data)
    assert found is not None and found[0] == ext


def test_plain_text_and_a_non_msi_ole_file_sniff_as_nothing_blocked() -> None:
    assert sniff("Olá, segue o relatório.\n".encode()) is None
    assert blocked_reason(att("planilha.xls", ole(bytes(16))), SETTINGS) is None


def test_an_executable_named_pdf_is_blocked() -> None:
    why = blocked_reason(att("relatorio.pdf", pe(), "application/pdf"), SETTINGS)
    assert why is not None and ".exe" in why and "really" in why


@pytest.mark.parametrize(("name", "data"), [
    ("relatorio.pdf", PDF), ("print.png", PNG), ("foto.jpg", JPEG), ("contrato.docx", office("docx")),
    ("balancete.xlsx", office("xlsx")), ("treinamento.pptx", office("pptx")), ("log.txt", b"erro 42\n"),
    ("logs.zip", plain_zip()),
])
def test_real_documents_pass(name: str, data: bytes) -> None:
    assert blocked_reason(att(name, data), SETTINGS) is None


@pytest.mark.parametrize("name", [
    "evil.exe", "EVIL.EXE", "evil.exe.", "evil.exe. . ", "evil.exe::$DATA", "relatorio.pdf:evil.exe",
    "fatura_\u202efdp.exe", "evil\u200b.exe", "evil\uff0eexe", "script.ps1", "atalho.lnk", "pagina.hta",
    "disco.iso", "disco.img", "macro.vbs", "setup.msi", "x.js", "x.wsf",
])
def test_names_that_defeated_the_extension_list_are_blocked(name: str) -> None:
    assert blocked_reason(att(name, b"harmless bytes"), SETTINGS) is not None, name


def test_name_normalization() -> None:
    assert normalize_name("relatorio.pdf. ") == "relatorio.pdf"
    assert normalize_name("evil.exe::$DATA") == "evil.exe"
    assert normalize_name("fatura_\u202efdp.exe") == "fatura_fdp.exe"
    assert normalize_name("Relatório Março.pdf") == "Relatório Março.pdf"
    assert name_extensions("relatorio.pdf:evil.exe") == [".pdf", ".exe"]


def test_archives_by_setting_never_unpacked() -> None:
    logs = att("logs.zip", plain_zip())
    assert blocked_reason(logs, SETTINGS) is None
    block = AttachmentSettings(archives="block")
    assert blocked_reason(logs, block) is not None
    # The real type counts for archives too, and an Office document is not an archive.
    assert blocked_reason(att("logs.pdf", plain_zip()), block) is not None
    assert blocked_reason(att("contrato.docx", office("docx")), block) is None


def test_a_blocked_file_inside_winmail_dat_blocks_it() -> None:
    blob = tnef_blob({"leiame.txt": b"ok", "setup.exe": b"MZ not really"})
    why = blocked_reason(att("winmail.dat", blob, "application/ms-tnef"), SETTINGS)
    assert why is not None and "setup.exe" in why
    assert blocked_reason(att("winmail.dat", tnef_blob({"leiame.txt": b"ok"})), SETTINGS) is None


def inner_message(name: str, data: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "x@example.com"
    msg["Subject"] = "fwd"
    msg.set_content("veja o anexo")
    msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


def test_a_blocked_file_inside_an_attached_message_blocks_it() -> None:
    why = blocked_reason(att("encaminhada.eml", inner_message("nota.pdf", pe()), "message/rfc822"), SETTINGS)
    assert why is not None and "nota.pdf" in why
    inner = inner_message("nota.pdf", PDF)
    assert blocked_reason(att("encaminhada.eml", inner, "message/rfc822"), SETTINGS) is None
    # ...also a message inside the message.
    outer = EmailMessage()
    outer["From"] = "y@example.com"
    outer.set_content("fwd fwd")
    outer.add_attachment(inner_message("a.hta", b"<script>"), maintype="message", subtype="rfc822")
    assert blocked_reason(att("fwd.eml", outer.as_bytes(), "message/rfc822"), SETTINGS) is not None


def test_settings_accept_extensions_with_or_without_the_dot() -> None:
    s = AttachmentSettings(blocked_extensions=["EXE", ".Bat"])
    assert s.blocked_extensions == [".exe", ".bat"]
