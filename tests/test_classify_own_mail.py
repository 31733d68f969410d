"""Our own mail: support addresses, notification senders, our Zendesk."""
from __future__ import annotations

import pytest

from parsers.classify import classify, own_mail
from parsers.classify.config import ClassifyConfig
from parsers.model import Address, Email

SETTINGS = ClassifyConfig(
    support_addresses=frozenset({"atendimento.bsorm@totvs.com.br"}),
    notification_senders=frozenset({"notificacoes@totvs.com.br"}),
    zendesk_host="bsorm.zendesk.com",
)


def mail(sender: str, reply_to: str | None = None, **headers: str) -> Email:
    return Email(key="k", requester=Address(email=sender), subject="[Chamado 5] Atualização",
                 reply_to=[Address(email=reply_to)] if reply_to else [],
                 headers={k.replace("_", "-").lower(): [v] for k, v in headers.items()})


@pytest.mark.parametrize(
    "email",
    [
        mail("Atendimento.BSORM@totvs.com.br"),  # any case
        mail("notificacoes@totvs.com.br"),
        mail("support@bsorm.zendesk.com"),
        mail("noreply@totvs.com.br", reply_to="atendimento.bsorm@totvs.com.br", x_zendesk_from_account_id="42"),
    ],
)
def test_own_mail_is_recognised(email: Email) -> None:
    assert classify(email, SETTINGS).automated == "own_mail"


@pytest.mark.parametrize(
    "email",
    [
        mail("ana@cliente.com.br"),
        # Another company's help desk (also Zendesk) writing to us is a customer.
        mail("support@cliente.zendesk.com", reply_to="support@cliente.zendesk.com", x_zendesk_from_account_id="7"),
        mail("ana@cliente.com.br", reply_to="atendimento.bsorm@totvs.com.br"),
    ],
)
def test_customers_are_not_own_mail(email: Email) -> None:
    assert own_mail.check(email, SETTINGS) is None
