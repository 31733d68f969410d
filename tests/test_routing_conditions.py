"""Each `when` condition on its own: holds, fails, and says why in words."""
from __future__ import annotations

import pytest

from parsers.model import Fields
from routing.conditions import CONDITIONS, Facts

FACTS = Facts(
    sender="ana.souza@mail.metalurgica-exemplo.com.br",
    subject="Erro na Emissão de Nota Fiscal",
    body="A rotina de apuração trava ao gerar o SPED.",
    fields=Fields(
        organization="Metalúrgica Exemplo Ltda", impact="critical", environment="Produção", product="RM",
        module="Folha de Pagamento", routine_group="Rescisão", macrosegment="Manufatura", bso=True,
    ),
    organizations=(("Metalúrgica Exemplo Ltda", "named in the mail"), ("T12345", "from sender domain x")),
)

# key -> (values that hold, values that fail), written as ops would in settings.toml.
CASES: dict[str, tuple[list, list]] = {
    "sender": (["ANA.SOUZA@mail.metalurgica-exemplo.com.br"], ["ana@metalurgica-exemplo.com.br"]),
    "sender_domain": (["metalurgica-exemplo.com.br"], ["exemplo.com", "outra.com.br"]),
    "organization": (["metalurgica exemplo ltda"], ["T99999"]),
    "product": (["rm"], ["Protheus"]),
    "module": (["Folha", "FOLHA DE PAGAMENTO"], ["Folha"]),
    "routine_group": (["rescisao"], ["Férias"]),
    "macrosegment": (["MANUFATURA"], ["Varejo"]),
    "environment": (["producao"], ["Homologação"]),
    "impact": (["critical"], ["question", "workaround"]),
    "bso": ([True], [False]),
    "subject_contains": (["nota fiscal"], ["boleto"]),
    "body_contains": (["APURACAO"], ["eSocial"]),
}


def test_every_condition_key_is_covered() -> None:
    assert set(CASES) == set(CONDITIONS)


@pytest.mark.parametrize("key", sorted(CASES))
def test_condition_holds_and_fails(key: str) -> None:
    holding, failing = CASES[key]
    check = CONDITIONS[key].check(FACTS, holding)
    assert check.holds, check.sentence
    check = CONDITIONS[key].check(FACTS, failing)
    assert not check.holds, check.sentence
    assert check.key == key


def test_organization_matches_the_domain_code_when_the_name_differs() -> None:
    check = CONDITIONS["organization"].check(FACTS, ["t12345"])
    assert check.holds
    assert check.sentence == "organization is 'T12345' (from sender domain x)"


def test_missing_field_never_holds_and_says_so() -> None:
    facts = Facts(sender="a@b.com", subject="", body="", fields=Fields())
    check = CONDITIONS["product"].check(facts, ["RM"])
    assert not check.holds
    assert check.sentence == "product is not given (rule wants 'RM')"
    assert not CONDITIONS["bso"].check(facts, [False]).holds


def test_sentences_read_as_plain_words() -> None:
    assert CONDITIONS["product"].check(FACTS, ["RM"]).sentence == "product is 'RM'"
    assert CONDITIONS["module"].check(FACTS, ["Folha de Pagamento", "Folha"]).sentence == (
        "module 'Folha de Pagamento' is one of ['Folha de Pagamento', 'Folha']"
    )
    assert CONDITIONS["product"].check(FACTS, ["Protheus"]).sentence == "product is 'RM', not 'Protheus'"
    assert CONDITIONS["subject_contains"].check(FACTS, ["boleto", "pix"]).sentence == (
        "subject does not contain any of ['boleto', 'pix']"
    )
