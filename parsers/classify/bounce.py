"""Bounces: delivery status notifications from a mail server.

Structure first (RFC 3464 delivery-status reports, X-Failed-Recipients, a
MAILER-DAEMON sender); postmaster senders and bounce subjects only together
with a second sign, because a person can write from postmaster@ or use the word
"undeliverable" in a subject.  `check_null_sender` is the weak, last-resort
sign and runs after the auto-reply check, because RFC 3834 asks auto-responders
to use the null sender too.
"""
from __future__ import annotations

import re

from parsers.classify.config import ClassifyConfig
from parsers.classify.signals import (
    envelope_sender,
    has_header,
    header,
    local_part,
    report_type,
)
from parsers.model import Email

_DAEMONS = {"mailer-daemon", "mailer_daemon", "mailerdaemon"}
_POSTMASTERS = {"postmaster", "mail-delivery-subsystem"}

# Subjects of the non-RFC 3464 bounces that Exchange, Notes, qmail, Yahoo,
# Gmail and Postfix send in EN/PT/ES.  Anchored at the start: a customer
# quoting such a subject in a forward starts with "Fw:"/"ENC:".
_SUBJECT = re.compile(
    r"^\s*(?:undeliverable|undelivered mail|delivery status notification|mail delivery failed"
    r"|delivery failure|failure notice|returned mail|delivery notification|postmaster notify"
    r"|email bounce notification|mail system error|non[- ]?delivery"
    r"|mensagem não entregue|não foi possível entregar|falha na entrega|notificação de status de entrega"
    r"|no se puede entregar|no se pudo entregar|mensaje no entregado|notificación de estado de entrega)",
    re.IGNORECASE,
)


def check(email: Email, config: ClassifyConfig) -> str | None:
    """Reason when the message is a bounce by structure or sender, else None."""
    if report_type(email) == "delivery-status":
        return "multipart/report; report-type=delivery-status"
    if has_header(email, "x-failed-recipients"):
        return f"X-Failed-Recipients: {header(email, 'x-failed-recipients')}"
    sender = local_part(email.requester.email)
    if sender in _DAEMONS:
        return f"sender {email.requester.email}"
    envelope = envelope_sender(email) or ""
    if local_part(envelope) in _DAEMONS:
        return f"Return-Path: <{envelope}>"
    bounce_subject = bool(_SUBJECT.match(email.subject))
    null_sender = envelope_sender(email) == ""
    if sender in _POSTMASTERS and (bounce_subject or null_sender or has_header(email, "auto-submitted")):
        return f"sender {email.requester.email} with a bounce subject or null sender"
    if bounce_subject and null_sender:
        return f"bounce subject {email.subject!r} from the null sender"
    return None


def check_null_sender(email: Email, config: ClassifyConfig) -> str | None:
    """Return-Path: <> (RFC 5321 4.5.5: only notifications use the null sender)."""
    if envelope_sender(email) == "":
        return "Return-Path: <> (null envelope sender)"
    return None
