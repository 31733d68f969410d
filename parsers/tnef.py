"""Outlook's winmail.dat (application/ms-tnef) → the files it carries.

Outlook wraps attachments in TNEF when it sends "Rich Text"; Zendesk agents
cannot open winmail.dat, so we expand it.  A TNEF blob we cannot read stays
attached as it came, so nothing is lost.
"""
from __future__ import annotations

import logging
import mimetypes
from typing import NamedTuple

from tnefparse import TNEF

from parsers.charsets import decode_bytes

# tnefparse logs every unknown MAPI property at WARNING; that is noise here.
logging.getLogger("tnefparse").setLevel(logging.ERROR)

TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})


class TnefFile(NamedTuple):
    filename: str
    content_type: str
    data: bytes


def is_tnef(content_type: str, filename: str | None) -> bool:
    return content_type in TNEF_TYPES or (filename or "").lower() == "winmail.dat"


def expand(data: bytes) -> list[TnefFile] | None:
    """The files inside a TNEF blob, or None when it is not readable TNEF."""
    try:
        tnef = TNEF(data, do_checksum=False)
        files = []
        for attachment in tnef.attachments:
            name = _name(attachment, tnef.codepage)
            payload = attachment.data if isinstance(attachment.data, bytes) else b""
            content_type = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
            files.append(TnefFile(name, content_type, payload))
        return files
    except Exception:  # tnefparse raises struct.error, ValueError, UnboundLocalError… on bad blobs
        return None


def _name(attachment: object, codepage: str | None) -> str:
    """The file's long name, else its 8.3 title, in the blob's own code page.

    tnefparse reads the title as UTF-8 and raises on anything else, which
    would lose every file of a winmail.dat from a Portuguese Outlook
    (cp1252 titles); so the raw title is decoded here, by the blob's
    attOemCodepage, with the usual fallbacks.
    """
    try:
        long_name = attachment.long_filename()  # type: ignore[attr-defined]
    except (UnicodeDecodeError, ValueError):
        long_name = None
    if isinstance(long_name, str) and long_name.strip("\x00").strip():
        return long_name.strip("\x00").strip()
    raw = getattr(attachment, "_name", None)
    if isinstance(long_name, bytes) and long_name.strip(b"\x00").strip():
        raw = long_name
    return _text(raw, codepage)


def _text(value: str | bytes | None, codepage: str | None = None) -> str:
    if isinstance(value, bytes):
        value = decode_bytes(value.strip(b"\x00"), codepage or "utf-8").text
    return (value or "").strip("\x00").strip()
