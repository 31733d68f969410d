"""Which attachments may go to Zendesk: by their real name and their real type.

Senders choose both the name and the Content-Type of a file, so neither is
trusted:

- the name is normalized the way Windows reads it before its extension is
  checked: bidirectional and zero-width controls removed (`"fdp.exe"` after
  U+202E displays as `exe.pdf`), NFKC (full-width `．ｅｘｅ`), NTFS alternate
  data streams (`evil.exe::$DATA`, `a.pdf:evil.exe`: every segment counts),
  trailing dots and spaces (`evil.exe. `);
- the real type is sniffed from the bytes (`filetype`, pure Python, no system
  libmagic; plus the few signatures it lacks: Windows shortcuts, ISO images,
  MSI installers) and `blocked_extensions` applies to it too, so an
  executable named `report.pdf` is left out;
- winmail.dat (TNEF) and attached messages (.eml) are looked into, never
  unpacked for the ticket: a blocked file inside leaves the container out;
- archives are blocked or allowed by `archives`; never unpacked.

Pure functions: the ticket builder (`ingest.tickets`) leaves a blocked file
out and says which and why in the ticket.
"""
from __future__ import annotations

import email
import email.policy
import unicodedata
from typing import Literal

import filetype
from pydantic import BaseModel, ConfigDict, Field, field_validator

from parsers.model import Attachment

# Script hosts, installers, shortcuts, disk images and the like: what Windows
# runs or mounts on a double click.
DEFAULT_BLOCKED = [
    ".exe", ".bat", ".cmd", ".com", ".scr", ".pif", ".cpl", ".dll", ".msi", ".msp", ".mst", ".jar",
    ".vbs", ".vbe", ".js", ".jse", ".wsf", ".wsh", ".wsc", ".ps1", ".psm1", ".psd1", ".ps1xml", ".hta",
    ".lnk", ".url", ".scf", ".reg", ".inf", ".chm", ".msc", ".gadget", ".application", ".appx", ".msix",
    ".iso", ".img", ".vhd", ".vhdx", ".elf",
]
ARCHIVE_EXTENSIONS = [
    ".zip", ".rar", ".7z", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".zst", ".cab", ".arj", ".lz", ".lzh",
    ".ace", ".z",
]

# Unicode "format" characters (bidi overrides and isolates, zero-width ones,
# the BOM) never belong in a file name; they only change how it is shown.
_FORMAT = "Cf"
# The sniffed type → the extension checked against the lists, when it differs
# from filetype's own name for it.
_CANONICAL = {"elf": ".elf", "jpx": ".jp2", "Z": ".z"}
_TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# CLSID of an MSI database's root storage ({000C1084-0000-0000-C000-000000000046}), as stored.
_MSI_CLSID = bytes.fromhex("84100c0000000000c000000000000046")
_LNK_HEADER = bytes.fromhex("4c0000000114020000000000c000000000000046")
# A message inside a message inside...: looked into this deep, no deeper.
MAX_NESTING = 3


class AttachmentSettings(BaseModel):
    """The `[attachments]` section."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    # Checked against the normalized name and against the sniffed real type.
    blocked_extensions: list[str] = Field(default_factory=lambda: list(DEFAULT_BLOCKED))
    # "allow": archives go to the ticket as they came (never unpacked);
    # "block": left out like a blocked type.
    archives: Literal["allow", "block"] = "allow"
    archive_extensions: list[str] = Field(default_factory=lambda: list(ARCHIVE_EXTENSIONS))

    @field_validator("blocked_extensions", "archive_extensions")
    @classmethod
    def _dotted(cls, exts: list[str]) -> list[str]:
        return [e.strip().lower() if e.strip().startswith(".") else "." + e.strip().lower() for e in exts if e.strip()]

    def blocked(self) -> frozenset[str]:
        archives = self.archive_extensions if self.archives == "block" else []
        return frozenset([*self.blocked_extensions, *archives])


def normalize_name(name: str) -> str:
    """The name as Windows would store it: no format controls, NFKC, no stream, no trailing dots/spaces.

    The stream part (`:...`) is dropped here; `name_extensions` checks it too.
    """
    text = "".join(ch for ch in unicodedata.normalize("NFKC", name) if unicodedata.category(ch) != _FORMAT)
    text = text.split(":", 1)[0] if ":" in text else text
    return text.rstrip(". \t") or text


def name_extensions(name: str) -> list[str]:
    """Every extension Windows could act on: of the name and of each NTFS stream segment."""
    text = "".join(ch for ch in unicodedata.normalize("NFKC", name) if unicodedata.category(ch) != _FORMAT)
    exts = []
    for segment in text.split(":"):
        segment = segment.rstrip(". \t").lower()
        if segment.startswith("$"):  # a stream type such as $DATA
            continue
        stem, dot, ext = segment.rpartition(".")
        if dot and ext.strip():
            exts.append("." + ext.strip())
    return list(dict.fromkeys(exts))


def sniff(data: bytes) -> tuple[str, str] | None:
    """(extension, MIME type) of what the bytes really are, or None when unknown (plain text, say)."""
    if data.startswith(_LNK_HEADER):
        return ".lnk", "application/x-ms-shortcut"
    if any(data[offset:offset + 5] == b"CD001" for offset in (0x8001, 0x8801, 0x9001)):
        return ".iso", "application/x-iso9660-image"
    if data.startswith(_OLE_SIGNATURE) and _ole_root_clsid(data) == _MSI_CLSID:
        return ".msi", "application/x-msi"
    kind = filetype.guess(data[:8192] if len(data) > 8192 else data)
    if kind is None:
        return None
    return _CANONICAL.get(kind.extension, "." + kind.extension.lower()), kind.mime


def blocked_reason(att: Attachment, settings: AttachmentSettings, depth: int = 0) -> str | None:
    """Why this attachment must not reach Zendesk, or None."""
    blocked = settings.blocked()
    for ext in name_extensions(att.filename):
        if ext in blocked:
            return f"file type {ext} is blocked"
    real = sniff(att.content)
    if real is not None and real[0] in blocked:
        return f"it is really {real[0]} ({real[1]}), whatever its name says; that type is blocked"
    if depth < MAX_NESTING:
        for inner in _inner_files(att):
            why = blocked_reason(inner, settings, depth + 1)
            if why is not None:
                return f"it contains {inner.filename!r}: {why}"
    return None


def _inner_files(att: Attachment) -> list[Attachment]:
    """The files inside winmail.dat or an attached message; [] for anything else."""
    data = att.content
    if data.startswith(_TNEF_SIGNATURE):
        from parsers.tnef import expand

        return [_attachment(f.filename or "winmail-file", f.content_type, f.data) for f in expand(data) or []]
    if att.content_type in ("message/rfc822", "message/global") or att.filename.lower().endswith(".eml"):
        from parsers.parts import collect

        try:
            message = email.message_from_bytes(data, policy=email.policy.compat32)
            return collect(message).attachments()
        except Exception:  # an embedded message we cannot walk has no files we can name
            return []
    return []


def _attachment(name: str, content_type: str, data: bytes) -> Attachment:
    return Attachment(filename=name, content_type=content_type, size=len(data), sha256="", content=data)


def _ole_root_clsid(data: bytes) -> bytes | None:
    """The CLSID of an OLE2 compound file's root entry (its first directory entry)."""
    if len(data) < 0x50:
        return None
    shift = int.from_bytes(data[0x1E:0x20], "little")
    if shift not in (9, 12):
        return None
    first_dir = int.from_bytes(data[0x30:0x34], "little")
    offset = (first_dir + 1) * (1 << shift) + 0x50
    clsid = data[offset:offset + 16]
    return clsid if len(clsid) == 16 else None


__all__ = [
    "ARCHIVE_EXTENSIONS", "DEFAULT_BLOCKED", "AttachmentSettings", "blocked_reason", "name_extensions",
    "normalize_name", "sniff",
]
