"""Bounce check: structure and sender first, weak signs only together."""
from __future__ import annotations

import pytest

from parsers.classify import bounce, classify
from parsers.classify.config import ClassifyConfig
from parsers.model import Address, Email


def mail(sender: str = "ana@cliente.com.br", subject: str = "Erro no RM", mime: str = "text/plain",
         report_type: str | None = None, **headers: str) -> Email:
    names = {k.replace("_", "-").lower(): [v] for k, v in headers.items()}
    return Email(key="k", requester=Address(email=sender), subject=subject, mime_type=mime,
                 report_type=report_type, headers=names)


SETTINGS = ClassifyConfig(support_addresses=frozenset({"atendimento.bsorm@totvs.com.br"}))


@pytest.mark.parametrize(
    "email, reason_part",
    [
        (mail(mime="multipart/report", report_type="delivery-status"), "delivery-status"),
        # The placeholder parser leaves report_type unset; the folded header still says it.
        (mail(mime="multipart/report", content_type='multipart/report;\n boundary="b";\n report-type="delivery-status"'),
         "delivery-status"),
        (mail(x_failed_recipients="joao@cliente.com.br"), "X-Failed-Recipients"),
        (mail(sender="MAILER-DAEMON@mx.cliente.com.br", subject="failure notice"), "MAILER-DAEMON"),
        (mail(return_path="<MAILER-DAEMON@mx.example.jp>", sender="postmaster@example.jp"), "Return-Path"),
        (mail(sender="postmaster@cliente.com.br", subject="Undeliverable: Erro no RM"), "postmaster"),
        (mail(sender="postmaster@cliente.com.br", return_path="<>"), "postmaster"),
        (mail(subject="Mensagem não entregue: [Chamado 1]", return_path="<>"), "bounce subject"),
    ],
)
def test_bounces_are_recognised(email: Email, reason_part: str) -> None:
    reason = bounce.check(email, SETTINGS)
    assert reason is not None and reason_part.lower() in reason.lower()


@pytest.mark.parametrize(
    "email",
    [
        mail(),
        # A person may write from postmaster@ about a real problem...
        mail(sender="postmaster@cliente.com.br", subject="Erro ao emitir NF-e", return_path="<postmaster@cliente.com.br>"),
        # ...or use the word in a subject.
        mail(subject="Undeliverable invoices in RM report", return_path="<ana@cliente.com.br>"),
        mail(subject="Mensagem não entregue ao fornecedor", return_path="<ana@cliente.com.br>"),
        # A read receipt or a feedback report is a report, but not a bounce.
        mail(mime="multipart/report", report_type="feedback-report"),
    ],
)
def test_customer_mail_is_not_a_bounce(email: Email) -> None:
    assert bounce.check(email, SETTINGS) is None


def test_null_sender_alone_is_a_weak_bounce_sign() -> None:
    email = mail(return_path="<>")
    assert bounce.check(email, SETTINGS) is None
    assert bounce.check_null_sender(email, SETTINGS) is not None
    assert classify(email, SETTINGS).automated == "bounce"


def test_bounce_wins_over_auto_submitted() -> None:
    # ptbr d10: Postfix DSNs carry Auto-Submitted: auto-replied, and are bounces.
    email = mail(sender="MAILER-DAEMON@mail.totvs.com.br", mime="multipart/report", report_type="delivery-status",
                 auto_submitted="auto-replied", return_path="<>")
    result = classify(email, SETTINGS)
    assert (result.automated, result.automated_reason) == ("bounce", "multipart/report; report-type=delivery-status")
