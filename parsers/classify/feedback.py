"""Feedback reports (ARF, RFC 5965): a mailbox provider reporting abuse."""
from __future__ import annotations

from parsers.classify.config import ClassifyConfig
from parsers.classify.signals import report_type
from parsers.model import Email


def check(email: Email, config: ClassifyConfig) -> str | None:
    """Reason when the message is an ARF feedback report, else None."""
    if report_type(email) == "feedback-report":
        return "multipart/report; report-type=feedback-report"
    # A report whose report-type parameter got lost still carries its
    # machine-readable part.
    if email.mime_type.lower() == "multipart/report" and any(
        a.content_type.lower() == "message/feedback-report" for a in email.attachments
    ):
        return "multipart/report with a message/feedback-report part"
    return None
