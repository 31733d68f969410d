"""Raw RFC 5322 bytes → the validated `Email` model.

Who does what:
- mail-parser reads the address headers (its scanner splits mailboxes before
  decoding names and recovers from broken lists) and the Date;
- the stdlib `email` package (compat32: lenient, keeps raw 8-bit bytes)
  builds the MIME tree, which `parsers.parts` walks with our own rules for
  body vs attachment, because mail-parser's attachment choice is wrong for
  report parts, split bodies and embedded messages (issue 2 measured 8% of
  attachment sets and 14% of names wrong);
- `parsers.charsets`, `parsers.filenames`, `parsers.html_text` and
  `parsers.tnef` do decoding, naming, HTML→text and winmail.dat.
"""
from __future__ import annotations

import email
import email.parser
import email.policy
import email.utils
import re
from datetime import datetime, timedelta, timezone
from email.message import Message

from mailparser.dates import parse_mail_date

from parsers.addresses import parse_addresses
from parsers.charsets import decode_words, unescape_header
from parsers.header_block import recover
from parsers.html_text import html_to_text
from parsers.message_key import message_key
from parsers.model import Address, Email, ParseError
from parsers.parts import collect, content_type_of

# Our own control headers; a sender must never be able to set them.
CONTROL_PREFIX = "x-bso-"


class _RawHeaders(email.policy.Compat32):
    """compat32 that hands header values back as stored.

    Plain compat32 wraps a value holding raw 8-bit bytes in a Header object
    whose str() turns those bytes into U+FFFD; we want the bytes (kept as
    surrogates) so `charsets.unescape_header` can decode them properly.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawHeaders()
_BLANK = re.compile(rb"\s*")
_LOCAL_DAEMON = re.compile(r"<?\s*(mailer-daemon|postmaster)\s*>?\s*$", re.IGNORECASE)


def parse(raw: bytes) -> Email:
    """Parse one message.  Raises `ParseError` when it cannot become a ticket."""
    if not isinstance(raw, (bytes, bytearray)):
        raise ParseError(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if _BLANK.fullmatch(raw):  # not raw.strip(): that copies a 60 MB message to look
        raise ParseError("empty message")
    # The key is over the bytes as received; the parser reads the repaired ones.
    repaired, recovered = recover(raw)
    try:
        message = _message_tree(repaired)
    except RecursionError:
        raise ParseError("MIME structure nested too deeply to parse") from None

    defects: list[str] = recovered + [f"message: {type(d).__name__}" for d in message.defects]
    headers = _headers(message, defects)

    def first(name: str) -> str:
        values = headers.get(name)
        return values[0] if values else ""

    requester = _requester(message, defects)
    try:
        parts = collect(message)
    except RecursionError:
        raise ParseError("MIME structure nested too deeply to parse") from None
    defects.extend(parts.defects)
    html = "\n".join(parts.html) if parts.html else None

    return Email(
        key=message_key(raw),
        message_id=_message_id(first("message-id")),
        date=_date(message, defects),
        requester=requester,
        reply_to=_addresses(message, "Reply-To", defects),
        to=[a.email for a in _addresses(message, "To", defects)],
        cc=[a.email for a in _addresses(message, "Cc", defects)],
        subject=" ".join(first("subject").split()),
        in_reply_to=next(iter(_message_ids(first("in-reply-to"))), None),
        references=_message_ids(" ".join(headers.get("references", []))),
        body_text=_body_text(parts.plain, html, parts.forwarded),
        body_html=html,
        attachments=parts.attachments(),
        defects=_unique(defects),
        mime_type=content_type_of(message),
        report_type=_report_type(message),
        headers=headers,
    )


# Bytes handed to the MIME parser at a time.
_FEED = 1 << 20


def _message_tree(raw: bytes) -> Message:
    """The stdlib MIME tree, fed a slice at a time.

    `email.message_from_bytes` decodes the whole message into one string and
    reads it back through a StringIO (4 bytes per character once read): for a
    60 MB message, ~300 MB before parsing starts.  Fed in slices, the parser
    builds the same tree (it is made to take data in arbitrary pieces).
    """
    parser = email.parser.BytesFeedParser(policy=_POLICY)
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED):
        parser.feed(bytes(view[start : start + _FEED]))
    return parser.close()


def _body_text(plain: list[str], html: str | None, forwarded: list[str]) -> str:
    """The human-readable text: the plain parts, else the HTML rendered, then forwarded mail."""
    # A body split around an image (iPhone) is one text; CRLF from the wire
    # is not part of what the customer wrote.
    texts = [t.replace("\r\n", "\n").replace("\r", "\n").strip("\n") for t in plain]
    text = "\n".join(t for t in texts if t)
    if not text.strip() and html:
        text = html_to_text(html)
    return "\n\n".join([text, *forwarded]).strip("\n") if forwarded else text


def _raw_values(message: Message, name: str) -> list[str]:
    """Unfolded header values with raw 8-bit bytes decoded, not yet RFC 2047-decoded."""
    return [" ".join(unescape_header(str(value)).text.split()) for value in message.get_all(name, [])]


def _headers(message: Message, defects: list[str]) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    forged = []
    for name, value in message.raw_items():
        key = name.strip().lower()
        if key.startswith(CONTROL_PREFIX):
            forged.append(key)
            continue
        text = unescape_header(str(value))
        if text.defect:
            defects.append(f"{key}: {text.defect}")
        unfolded = " ".join(text.text.replace("\r", "").replace("\n", " ").split())
        headers.setdefault(key, []).append(decode_words(unfolded, defects))
    if forged:
        # Worth keeping: a mail that tries to set our control headers is
        # either a loop of our own mail or an attempt to steer routing.
        defects.append("stripped incoming control header(s): " + ", ".join(sorted(set(forged))))
    return headers


def _addresses(message: Message, name: str, defects: list[str]) -> list[Address]:
    out: list[Address] = []
    for value in _raw_values(message, name):
        out.extend(parse_addresses(value, defects))
    return out


# Who the ticket is for, in order.  Reply-To comes before Return-Path: when
# From holds no address (Outlook Express writes `From: "name" <>`) the
# author's own stated mailbox is Reply-To, while Return-Path is the envelope
# sender, often a list's or mass mailer's bounce address, never a person.
_REQUESTER_HEADERS = ("From", "Sender", "Reply-To", "Return-Path")


def _requester(message: Message, defects: list[str]) -> Address:
    for name in _REQUESTER_HEADERS:
        found = _addresses(message, name, [])
        if found:
            if name != "From":
                defects.append(f"requester taken from {name}: From is missing or invalid")
            return found[0]
    # Old sendmail bounces say "From: Mail Delivery Subsystem <MAILER-DAEMON>"
    # with no domain.  They are not tickets, but they must reach the bounce
    # classifier rather than fail here.
    for value in _raw_values(message, "From") + _raw_values(message, "Return-Path"):
        match = _LOCAL_DAEMON.search(value)
        if match:
            defects.append("requester is a bare mailer-daemon/postmaster without a domain")
            name = decode_words(value[: match.start()]).strip().strip('"').strip()
            return Address(name=name, email=match.group(1).lower())
    raise ParseError("no usable sender: From, Sender, Reply-To and Return-Path are all missing or invalid")


_BRACKETED = re.compile(r"<[^<>]*[\s(][^<>]*>")
_CFWS = re.compile(r"\([^()]*\)|\s+")


def _message_ids(value: str) -> list[str]:
    """Message ids with angle brackets, in order; bare ids are bracketed."""
    if "<" in value:
        # RFC 5322 §4.5.4 obs-id: comments and folding white space inside the brackets.
        value = _BRACKETED.sub(lambda m: _CFWS.sub("", m.group(0)), value)
    ids = []
    for token in value.replace(",", " ").split():
        token = token.strip()
        if token.startswith("<") and ">" in token:
            token = token[: token.index(">") + 1]
        elif "@" in token and "<" not in token and ">" not in token:
            token = f"<{token}>"
        else:
            continue
        if len(token) > 2 and token not in ids:
            ids.append(token)
    return ids


def _message_id(value: str) -> str | None:
    ids = _message_ids(value)
    if ids:
        return ids[0]
    return value.strip() or None


def _date(message: Message, defects: list[str]) -> datetime | None:
    raw = message.get("Date")
    if raw is None:
        return None
    value = unescape_header(str(raw)).text
    result = parse_mail_date(value)
    if result.value is not None:
        # mail-parser returns UTC; keep the sender's offset, it tells the
        # agent the customer's local time.
        try:
            offset = timedelta(hours=float(result.timezone))
            return result.value.astimezone(timezone(offset))
        except (ValueError, OverflowError):
            return result.value
    # mail-parser is strict about syntax; the stdlib accepts more variants.
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"date: cannot read {value!r}")
        return None
    defects.append(f"date: non-standard syntax {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _report_type(message: Message) -> str | None:
    if content_type_of(message) != "multipart/report":
        return None
    value = message.get_param("report-type")
    if isinstance(value, tuple):
        value = email.utils.collapse_rfc2231_value(value)
    return unescape_header(value).text.strip().lower() or None if value else None


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
