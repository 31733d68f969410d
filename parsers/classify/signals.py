"""Small header readers the classifiers share.

They read only the parsed `Email` (decoded headers, `mime_type`,
`report_type`), never MIME: parsing happened once, at the edge.
"""
from __future__ import annotations

import re

from parsers.model import Email

# RFC 6522 report-type parameter, for when the parser left `report_type` unset
# (the placeholder parser does); the header value may be folded over lines.
_REPORT_TYPE = re.compile(r"""report-type\s*=\s*"?([\w.-]+)"?""", re.IGNORECASE)

# Reply and forward prefixes in the languages our customers write in, possibly
# stacked ("RES: ENC: Re:").  Shared by the subject checks and threading.
REPLY_PREFIXES = ("re", "res", "resp", "enc", "fw", "fwd", "tr", "aw", "wg", "rv")
_PREFIX = re.compile(r"^\s*(?:(?:" + "|".join(REPLY_PREFIXES) + r")\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def header(email: Email, name: str) -> str | None:
    """First value of a header, stripped; None when absent."""
    value = email.header(name)
    return value.strip() if value is not None else None


def has_header(email: Email, name: str) -> bool:
    return name.lower() in email.headers


def report_type(email: Email) -> str | None:
    """The multipart/report report-type, lowercased; None for other mail."""
    if email.mime_type.lower() != "multipart/report":
        return None
    if email.report_type:
        return email.report_type.lower()
    match = _REPORT_TYPE.search(header(email, "content-type") or "")
    return match.group(1).lower() if match else None


def envelope_sender(email: Email) -> str | None:
    """The Return-Path address without brackets ("" for the null sender <>), None when absent."""
    value = header(email, "return-path")
    if value is None:
        return None
    return value.strip().strip("<>").strip().lower()


def local_part(address: str) -> str:
    return address.rpartition("@")[0].lower() if "@" in address else address.lower()


def strip_reply_prefixes(subject: str) -> str:
    """'RES: ENC: Resposta automática: x' -> 'Resposta automática: x'."""
    return _PREFIX.sub("", subject, count=1)
