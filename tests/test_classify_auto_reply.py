"""Auto-replies: RFC 3834 headers, Exchange hints, responder subjects in PT/EN/ES."""
from __future__ import annotations

import pytest

from parsers.classify import auto_reply, classify
from parsers.classify.config import ClassifyConfig
from parsers.model import Address, Email

SETTINGS = ClassifyConfig(support_addresses=frozenset({"atendimento.bsorm@totvs.com.br"}))


def mail(subject: str = "Erro no cálculo da folha", body: str = "Bom dia, o cálculo está errado.", **headers: str) -> Email:
    return Email(key="k", requester=Address(email="ana@cliente.com.br"), subject=subject, body_text=body,
                 headers={k.replace("_", "-").lower(): [v] for k, v in headers.items()})


@pytest.mark.parametrize(
    "email",
    [
        mail(auto_submitted="auto-replied"),
        mail(auto_submitted="auto-generated (failure)"),
        mail(auto_submitted="Auto-Replied; owner-email=x@y"),
        mail(x_autoreply="yes"),
        mail(x_autorespond="Out of office"),
        mail(precedence="bulk"),
        mail(precedence="Junk"),
        mail(precedence="list"),
        mail(precedence="auto_reply"),
        mail(subject="Resposta automática: [Chamado 18455120] Aguardando retorno"),
        mail(subject="RES: Ausência temporária: [Chamado 1] Erro"),
        mail(subject="Automatic reply: Nyaan"),
        mail(subject="Auto reply: Nyaan"),
        mail(subject="Out of Office"),
        mail(subject="Out of office: back on Monday"),
        mail(subject="Respuesta automática: consulta"),
        mail(x_apple_action="VACATION", subject="Away until May 5"),
        mail(subject="Re: [Chamado 7] Erro", body="Estou fora do escritório até 02/12.", x_auto_response_suppress="All"),
        mail(subject="Away", body="I am out of the office this week.", x_auto_response_suppress="OOF, AutoReply"),
    ],
)
def test_auto_replies_are_recognised(email: Email) -> None:
    result = classify(email, SETTINGS)
    assert result.automated == "auto_reply", result.automated_reason


@pytest.mark.parametrize(
    "email",
    [
        mail(),
        mail(auto_submitted="no"),
        mail(x_autoreply="no"),
        mail(precedence="first-class"),
        # Customers write about automatic replies and offices.
        mail(subject="Automatic reply not sent by the RM workflow"),
        mail(subject="Resposta automática do portal não chega aos alunos"),
        mail(subject="Out of office hours support"),
        # X-Auto-Response-Suppress alone: Outlook sets it on ordinary mail too.
        mail(x_auto_response_suppress="All"),
        # Out-of-office words alone: a customer may mention their vacation.
        mail(body="Estarei fora do escritório amanhã, por favor liguem no celular."),
    ],
)
def test_customer_mail_is_not_an_auto_reply(email: Email) -> None:
    assert auto_reply.check(email, SETTINGS) is None


def test_classify_leaves_customer_mail_unchanged() -> None:
    email = mail()
    result = classify(email, SETTINGS)
    assert result is email and result.automated is None and result.automated_reason is None


def test_a_read_receipt_is_an_auto_reply_not_a_bounce() -> None:
    # MDNs come from the null sender too; they are answered by software, not people.
    email = Email(key="k", requester=Address(email="ana@cliente.com.br"), subject="Lida: Erro no RM",
                  mime_type="multipart/report", report_type="disposition-notification",
                  headers={"return-path": ["<>"]})
    result = classify(email, SETTINGS)
    assert result.automated == "auto_reply" and "read receipt" in (result.automated_reason or "")
