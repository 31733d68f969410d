"""Stateless classification of a parsed Email: automated mail never becomes a ticket.

One module per concern, each a pure check with one signature,
`check(email, config) -> reason | None`.  `CHECKS` is the order, as data:
first hit wins.  Reports before everything (a bounce often also carries
Auto-Submitted, and is a bounce); our own mail before auto-replies (Zendesk
notifications are auto-generated, "own_mail" says more); the null envelope
sender last, because auto-responders use it too.
"""
from __future__ import annotations

from collections.abc import Callable

from parsers.classify import auto_reply, bounce, feedback, own_mail
from parsers.classify.config import ClassifyConfig, ClassifySettings
from parsers.model import Automated, Email

Check = Callable[[Email, ClassifyConfig], "str | None"]

CHECKS: tuple[tuple[Automated, Check], ...] = (
    ("feedback_report", feedback.check),
    ("bounce", bounce.check),
    ("own_mail", own_mail.check),
    ("auto_reply", auto_reply.check),
    ("bounce", bounce.check_null_sender),
)


def classify(email: Email, config: ClassifyConfig) -> Email:
    """A copy with `automated` and `automated_reason` set on the first matching check; else `email` itself."""
    for kind, check in CHECKS:
        reason = check(email, config)
        if reason is not None:
            return email.model_copy(update={"automated": kind, "automated_reason": reason})
    return email


__all__ = ["CHECKS", "Check", "ClassifyConfig", "ClassifySettings", "classify"]
