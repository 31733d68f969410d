"""Feedback reports (ARF, RFC 5965)."""
from __future__ import annotations

from parsers.classify import classify, feedback
from parsers.classify.config import ClassifyConfig
from parsers.model import Address, Attachment, Email

SETTINGS = ClassifyConfig(support_addresses=frozenset({"atendimento.bsorm@totvs.com.br"}))


def report(report_type: str | None, attachments: list[Attachment] | None = None) -> Email:
    return Email(key="k", requester=Address(email="feedback@arf.mail.yahoo.com"), mime_type="multipart/report",
                 report_type=report_type, attachments=attachments or [], subject="Fw: oferta")


def test_arf_report_type_is_a_feedback_report() -> None:
    result = classify(report("feedback-report"), SETTINGS)
    assert result.automated == "feedback_report"
    assert "feedback-report" in (result.automated_reason or "")


def test_a_lost_report_type_is_found_from_the_machine_part() -> None:
    part = Attachment(filename="report", content_type="message/feedback-report", size=1, sha256="0" * 64)
    assert feedback.check(report(None, [part]), SETTINGS) is not None


def test_other_reports_and_plain_mail_are_not_feedback() -> None:
    assert feedback.check(report("delivery-status"), SETTINGS) is None
    plain = Email(key="k", requester=Address(email="ana@cliente.com.br"), subject="feedback-report do RM")
    assert feedback.check(plain, SETTINGS) is None
