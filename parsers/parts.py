"""The MIME tree → body texts and attachments.

The rules (docs in the ptbr corpus README and issue 2):
- text/plain and text/html leaves without a filename and not marked
  `attachment` are body text, also when a body is split around an image
  (iPhone) and also when they carry a Content-ID;
- every other leaf is an attachment, including a named or `attachment`
  text/plain file;
- an attached message/rfc822 is one `.eml` attachment: its insides belong to
  it, not to this message;
- the machine parts of a report (delivery-status, rfc822-headers, …) are not
  customer attachments;
- winmail.dat is expanded into the files it carries.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import quopri
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from parsers.charsets import decode_bytes, decode_words, meta_charset, unescape_header
from parsers.flowed import unflow
from parsers.filenames import declared_filename, safe_filename
from parsers.html_text import html_to_text
from parsers.model import Attachment
from parsers.tnef import expand, is_tnef
from parsers.uuencode import CTE_NAMES, find_blocks
from parsers.uuencode import decode as uudecode

# Machine-readable report parts (RFC 3464, 6522, 8098, 5965): they are for
# the classifiers (which read mime_type/report_type), not for the customer.
REPORT_PARTS = frozenset({
    "message/delivery-status", "message/global-delivery-status", "text/rfc822-headers",
    "message/global-headers", "message/disposition-notification",
    "message/global-disposition-notification", "message/feedback-report",
})
_EMBEDDED_MESSAGES = frozenset({"message/rfc822", "message/global"})
_BODY_TYPES = frozenset({"text/plain", "text/html"})
# Other renderings of the same body inside multipart/alternative: the plain
# and HTML versions already carry the text.
_ALTERNATIVE_RENDERINGS = frozenset({"text/enriched", "text/richtext", "text/watch-html", "text/x-amp-html"})
# A crafted message can nest thousands of multiparts; past this depth the
# rest is ignored (and reported) instead of recursing further.
MAX_DEPTH = 50


_TOKEN = r"[a-z0-9!#$&^_.+-]+"
_VALID_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}")


def content_type_of(part: Message) -> str:
    """The part's content type; an unreadable one is text/plain (RFC 2045 §5.2)."""
    content_type = part.get_content_type()
    return content_type if _VALID_TYPE.fullmatch(content_type) else "text/plain"


@dataclass
class _Leaf:
    """An attachment before we know whether the HTML references it."""

    filename: str
    content_type: str
    data: bytes
    disposition: str | None
    content_id: str | None


@dataclass
class Parts:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    leaves: list[_Leaf] = field(default_factory=list)
    # Readable text of attached (forwarded) messages, for the ticket body.
    forwarded: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

    def attachments(self) -> list[Attachment]:
        html = "\n".join(self.html).lower()
        out = []
        for leaf in self.leaves:
            # RFC 2392: the HTML shows a part by "cid:<Content-ID>", which
            # makes it inline whatever its Content-Disposition says.
            referenced = leaf.content_id is not None and f"cid:{leaf.content_id.lower()}" in html
            out.append(Attachment(
                filename=leaf.filename,
                content_type=leaf.content_type,
                size=len(leaf.data),
                sha256=hashlib.sha256(leaf.data).hexdigest(),
                inline=leaf.disposition == "inline" or referenced,
                content_id=leaf.content_id,
                content=leaf.data,
            ))
        return out


def collect(message: Message) -> Parts:
    parts = Parts()
    _walk(message, parts, depth=0, in_report=False)
    return parts


def _walk(part: Message, parts: Parts, depth: int, in_report: bool) -> None:
    if depth > MAX_DEPTH:
        parts.defects.append(f"MIME nesting deeper than {MAX_DEPTH}; inner parts ignored")
        return
    content_type = content_type_of(part)
    if content_type in _EMBEDDED_MESSAGES and depth > 0:
        _add_leaf(part, parts, _embedded_bytes(part), content_type)
        if not in_report:
            # A forwarded-as-attachment message: its text is part of what
            # the customer sent us, so the agent reads it in the ticket too
            # (a bounce's returned message is not: that is our own mail).
            _add_forwarded_text(part, parts, depth)
        return
    payload = _stored_payload(part)
    if isinstance(payload, list):
        in_report = in_report or content_type == "multipart/report"
        for child in payload:
            if isinstance(child, Message):
                _walk(child, parts, depth + 1, in_report)
        return
    if part.get_content_maintype() == "multipart":
        # A multipart without a single boundary line: mail clients show
        # the content as text, and so do we.
        parts.defects.append(f"{content_type} without parts: read as text")
        text = decode_bytes(_payload(part, parts), part.get_content_charset())
        if text.text.strip():
            parts.plain.append(text.text)
        return
    if content_type in REPORT_PARTS and depth > 0:
        return
    if _transfer_encoding(part) in CTE_NAMES:
        uufile = uudecode(_raw_payload(part))
        if uufile is not None:
            name = declared_filename(part, parts.defects, location=True) or uufile.filename
            _add_file(parts, name, _guess_type(name, content_type), uufile.data, part)
            return
        parts.defects.append(f"{content_type}: uuencoded part without a readable begin line; kept as it came")
    data = _payload(part, parts)
    if content_type in _ALTERNATIVE_RENDERINGS and _is_body(part, parts):
        return
    if content_type in _BODY_TYPES and _is_body(part, parts):
        charset = part.get_content_charset()
        if charset is None and content_type == "text/html":
            # No MIME charset: the document's own <meta charset>, as browsers read it.
            charset = meta_charset(data)
        text = decode_bytes(data, charset)
        if text.defect:
            parts.defects.append(f"{content_type} part: {text.defect}")
        body = text.text
        if content_type == "text/plain" and _is_flowed(part):
            body = unflow(body, delsp=str(part.get_param("delsp", "")).lower() == "yes")
        if content_type == "text/plain" and "begin " in body:
            body = _take_uuencoded(body, parts)
        (parts.plain if content_type == "text/plain" else parts.html).append(body)
        return
    _add_leaf(part, parts, data, content_type)


def _is_flowed(part: Message) -> bool:
    return str(part.get_param("format", "")).lower() == "flowed"


def _take_uuencoded(text: str, parts: Parts) -> str:
    """Moves `begin 644 name` … `end` blocks out of body text into attachments."""
    blocks = find_blocks(text)
    if not blocks:
        return text
    kept, pos = [], 0
    for block in blocks:
        kept.append(text[pos:block.start])
        pos = block.end
        name = block.file.filename
        _add_file(parts, name, _guess_type(name, "application/octet-stream"), block.file.data, None)
    parts.defects.append(f"{len(blocks)} uuencoded file(s) in the text body, taken as attachments")
    kept.append(text[pos:])
    # Where a block stood, one paragraph break.
    pieces = [p for p in (k.strip("\r\n") for k in kept) if p.strip()]
    return "\n\n".join(pieces)


def _guess_type(name: str, declared: str) -> str:
    if declared not in ("application/octet-stream", "text/plain"):
        return declared
    return mimetypes.guess_type(name, strict=False)[0] or declared


def _add_file(parts: Parts, name: str, content_type: str, data: bytes, part: Message | None) -> None:
    index = len(parts.leaves) + 1
    parts.leaves.append(_Leaf(
        filename=safe_filename(name, content_type, index),
        content_type=content_type,
        data=data,
        disposition=part.get_content_disposition() if part is not None else "attachment",
        content_id=_content_id(part) if part is not None else None,
    ))


def _add_forwarded_text(part: Message, parts: Parts, depth: int) -> None:
    inner = _stored_payload(part)
    if not (isinstance(inner, list) and inner and isinstance(inner[0], Message) and inner[0].keys()):
        return
    message = inner[0]
    nested = Parts()
    _walk(message, nested, depth + 1, in_report=False)
    text = "\n".join(nested.plain).strip() or html_to_text("\n".join(nested.html))
    lines = ["---------- Forwarded message ----------"]
    for name in ("From", "Date", "Subject", "To", "Cc"):
        value = message.get(name)
        if value is not None:
            lines.append(f"{name}: {' '.join(decode_words(unescape_header(str(value)).text).split())}")
    parts.forwarded.append("\n".join(lines) + "\n\n" + text + "".join(f"\n\n{t}" for t in nested.forwarded))


def _is_body(part: Message, parts: Parts) -> bool:
    disposition = part.get_content_disposition()
    return disposition != "attachment" and declared_filename(part, []) is None


def _add_leaf(part: Message, parts: Parts, data: bytes, content_type: str) -> None:
    name = declared_filename(part, parts.defects, location=True)
    if is_tnef(content_type, name):
        files = expand(data)
        if not files:
            # Unreadable, or only Outlook's rich-text body: keep it as it came.
            parts.defects.append("winmail.dat holds no readable files; attached as it came")
        else:
            for file in files:
                index = len(parts.leaves) + 1
                parts.leaves.append(_Leaf(safe_filename(file.filename, file.content_type, index),
                                          file.content_type, file.data, None, None))
            return
    index = len(parts.leaves) + 1
    parts.leaves.append(_Leaf(
        filename=safe_filename(name, content_type, index),
        content_type=content_type,
        data=data,
        disposition=part.get_content_disposition(),
        content_id=_content_id(part),
    ))


def _content_id(part: Message) -> str | None:
    value = part.get("Content-ID")
    if value is None:
        return None
    cid = decode_words(unescape_header(str(value)).text).strip()
    if cid.startswith("<") and cid.endswith(">"):
        cid = cid[1:-1].strip()
    return cid or None


def _transfer_encoding(part: Message) -> str:
    return str(part.get("Content-Transfer-Encoding", "")).strip().lower()


def _raw_payload(part: Message) -> bytes:
    raw = _stored_payload(part)
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


# RFC 2045 §6.7 rule 3: white space a relay added after a soft line break's
# "=" is not part of the data; binascii keeps the "=" and the break then.
_QP_PADDED_SOFT_BREAK = re.compile(rb"=[ \t]+(?=\r?\n)")


# A base64 body larger than this is decoded in slices (see _decode_base64_slices).
_BIG_PAYLOAD = 1 << 20
_SLICE = 1 << 20


def _decode_base64_slices(payload: str) -> bytes | None:
    """A large, clean base64 body decoded slice by slice; None when it is not clean.

    The stdlib's `get_payload(decode=True)` makes three whole-size copies of
    the encoded text (bytes, the lines joined, the padded string) before it
    decodes: for a 45 MB video, ~180 MB on top of the message.  Slices of
    whole 4-character groups decode to the same bytes.  Anything unusual
    (characters outside the alphabet, padding inside the data, a ragged end)
    gives None and the stdlib's lenient path decides, as for a small part.
    """
    out: list[bytes] = []
    carry = b""
    size = len(payload)
    for start in range(0, size, _SLICE):
        try:
            chunk = payload[start : start + _SLICE].encode("ascii")
        except UnicodeEncodeError:
            return None
        data = carry + chunk.translate(None, b" \t\r\n")
        cut = len(data) if start + _SLICE >= size else len(data) - len(data) % 4
        data, carry = data[:cut], data[cut:]
        try:
            out.append(binascii.a2b_base64(data, strict_mode=True))
        except binascii.Error:
            return None
    return None if carry else b"".join(out)


def _payload(part: Message, parts: Parts) -> bytes:
    """The decoded bytes of a leaf; bad transfer encodings are reported, not fatal."""
    data: object
    if _transfer_encoding(part) == "base64":
        stored = _stored_payload(part)
        if isinstance(stored, str) and len(stored) > _BIG_PAYLOAD:
            decoded = _decode_base64_slices(stored)
            if decoded is not None:
                return decoded
    if _transfer_encoding(part) == "quoted-printable":
        raw = _raw_payload(part)
        if _QP_PADDED_SOFT_BREAK.search(raw):
            return quopri.decodestring(_QP_PADDED_SOFT_BREAK.sub(b"=", raw))
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # e.g. a uuencode body the stdlib chokes on
        parts.defects.append(f"cannot decode {content_type_of(part)} part: {type(exc).__name__}")
        data = None
    if not isinstance(data, bytes):
        raw = _stored_payload(part)
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    for defect in part.defects:
        parts.defects.append(f"{content_type_of(part)}: {type(defect).__name__}")
    return data


def _embedded_bytes(part: Message) -> bytes:
    """The attached message as a .eml file."""
    payload = _stored_payload(part)
    inner = payload[0] if isinstance(payload, list) and payload and isinstance(payload[0], Message) else None
    if inner is None:
        return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    data = _as_bytes(inner)
    # RFC 2046 forbids encoding message/rfc822, but senders do; the stdlib
    # then "parses" the encoded text as a headerless message.
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    encoded = _stored_payload(inner)
    if encoding == "base64" and not inner.keys() and isinstance(encoded, str):
        try:
            data = base64.b64decode("".join(encoded.split()), validate=False)
        except (binascii.Error, ValueError):
            pass
    elif encoding == "quoted-printable":
        data = quopri.decodestring(data)
    return data


def _stored_payload(part: Message) -> Any:
    """The part's payload as stored (str or list of parts), without decoding.

    `get_payload()` re-decodes 8-bit text by the declared charset and raises
    on a charset name the codec registry can't even look up (a NUL or a lone
    surrogate in it); the stored payload is what we want in that case anyway.
    """
    try:
        return part.get_payload()
    except (LookupError, ValueError, UnicodeError):
        return part._payload  # noqa: SLF001 - the stdlib keeps no public accessor for it


def _as_bytes(message: Message) -> bytes:
    try:
        return message.as_bytes()
    except Exception:  # a broken embedded header the generator cannot write
        return message.as_string().encode("utf-8", "surrogateescape")
