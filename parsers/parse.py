"""PLACEHOLDER (issue 2 replaces this): a minimal stdlib parse so other stages can run."""
from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib

from parsers.model import Address, Attachment, Email, ParseError


def parse(raw: bytes) -> Email:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    name, addr = email.utils.parseaddr(str(msg.get("From", "")))
    if "@" not in addr:
        raise ParseError("no usable sender (From, Sender, Return-Path)")
    body = msg.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    atts = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True) or b""
        atts.append(Attachment(filename=part.get_filename() or "attachment.bin", content_type=part.get_content_type(),
                               size=len(data), sha256=hashlib.sha256(data).hexdigest(), content=data))
    mid = (msg.get("Message-ID") or "").strip() or None
    return Email(
        key=hashlib.sha256((mid or "").encode() + b"\0" + raw.split(b"\n\n", 1)[-1]).hexdigest()[:40],
        message_id=mid, requester=Address(name=name, email=addr.lower()), subject=str(msg.get("Subject", "")),
        to=[a.lower() for _, a in email.utils.getaddresses([str(v) for v in msg.get_all("To", [])])],
        cc=[a.lower() for _, a in email.utils.getaddresses([str(v) for v in msg.get_all("Cc", [])])],
        in_reply_to=(msg.get("In-Reply-To") or None), body_text=text, attachments=atts,
        headers={k.lower(): [str(v) for v in msg.get_all(k, [])] for k in msg.keys()},
        mime_type=msg.get_content_type(),
    )
