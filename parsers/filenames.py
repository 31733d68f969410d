"""Attachment filenames: decode what the sender wrote, or make a safe one.

Senders encode names every way the RFCs allow and several they don't:
RFC 2231 continuations with a charset (`filename*0*=utf-8''...`), RFC 2047
encoded-words inside a quoted `filename="=?utf-8?B?...?="` (Outlook, Gmail),
only the old `Content-Type: ...; name=` parameter, or raw 8-bit bytes.
"""
from __future__ import annotations

import mimetypes
import re
from email.message import Message

from parsers.charsets import decode_bytes, decode_words, unescape_header

# Extensions mimetypes gets wrong or picks oddly (".jpe", ".bat" for text/plain…).
_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "application/octet-stream": ".bin",
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "application/ms-tnef": ".dat",
}
# Path separators and control characters never reach a filename: the name is
# used on disk by whoever downloads the ticket's attachments.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")
_MAX_LENGTH = 255


def extension_for(content_type: str) -> str:
    return _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type, strict=False) or ".bin"


def declared_filename(part: Message, defects: list[str], *, location: bool = False) -> str | None:
    """The decoded name from Content-Disposition filename=, else Content-Type name=.

    With `location`, fall back to the last segment of Content-Location; that
    only names a part already known to be an attachment (a body part with a
    Content-Location is still body).
    """
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        raw = part.get_param(param, None, header=header)
        if raw is None:
            continue
        name = _decode_param(raw, defects)
        if name.strip():
            return name
    # Apple Mail and some web mailers name inline parts only by URL.
    url = part.get("Content-Location") if location else None
    if url:
        tail = str(url).strip().strip('"').split("?", 1)[0].rsplit("/", 1)[-1]
        if "." in tail:
            return unescape_header(tail).text
    return None


def safe_filename(name: str | None, content_type: str, index: int) -> str:
    """A name safe to store: no directories or control characters; made up when missing."""
    if name:
        name = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip().lstrip(".")
    if not name:
        return f"attachment-{index}{extension_for(content_type)}"
    if len(name) > _MAX_LENGTH:
        stem, dot, ext = name.rpartition(".")
        keep = f"{dot}{ext}" if dot and len(ext) < 16 else ""
        name = name[: _MAX_LENGTH - len(keep)] + keep
    return name


def _decode_param(raw: str | tuple[str | None, str | None, str], defects: list[str]) -> str:
    if isinstance(raw, tuple):
        # RFC 2231: (charset, language, value) where value holds the
        # %-decoded octets as Latin-1 code points.
        charset, _language, value = raw
        octets = value.encode("latin-1", "surrogateescape")
        decoded = decode_bytes(octets, charset or "utf-8")
        if decoded.defect:
            defects.append(f"filename: {decoded.defect}")
        text = decoded.text
    else:
        text = raw.strip('"')
        unescaped = unescape_header(text)
        if unescaped.defect:
            defects.append(f"filename: {unescaped.defect}")
        text = unescaped.text
    # Encoded-words are not allowed in parameters, but Outlook and Gmail put
    # them there and every mail client decodes them.
    return decode_words(text, defects)
