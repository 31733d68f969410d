"""route(): first match wins, the default, impact → priority, Zendesk mapping and reasons."""
from __future__ import annotations

from typing import Any

import pytest

from ingest.pipeline import route_stage as route
from ingest.settings import Settings
from parsers.model import Address, Email, Fields

FORM = """Bom dia,
Organização: Metalúrgica Exemplo Ltda
Impacto: Mau funcionamento ou desempenho em atividades críticas sem procedimento paliativo
Tipo da Solicitação: Incidente
Ambiente: Produção
Produto: RM
Módulo: Folha de Pagamento
Agrupador de Rotina: Rescisão
Usuários em Cópia: mariana@metalurgica-exemplo.com.br; atendimento.bsorm@totvs.com.br
"""


def mail(text: str = FORM, *, sender: str = "jose@metalurgica-exemplo.com.br", subject: str = "Erro") -> Email:
    return Email(key="k", requester=Address(email=sender), subject=subject, body_text=text)


def settings(rules: list[dict[str, Any]] | None = None, **routing: Any) -> Settings:
    custom = routing.pop("custom_fields", {})
    return Settings(routing={"default_group_id": 100, "rules": rules or [], **routing},
                    zendesk={"custom_fields": custom})


def test_default_when_no_rule_matches() -> None:
    result = route(mail(), settings([{"name": "Fiscal", "when": {"module": "Fiscal"}, "set": {"group_id": 300}}]))
    assert result.rule is None
    assert result.group_id == 100
    assert "no rule matched; default group 100" in result.reasons
    assert "rule 'Fiscal' did not match: module is 'Folha de Pagamento', not 'Fiscal'" in result.reasons
    assert not any(tag.startswith("rule_") for tag in result.tags)


def test_first_match_wins_in_file_order() -> None:
    rules = [
        {"name": "Only Protheus", "when": {"product": "Protheus"}, "set": {"group_id": 150}},
        {"name": "RM Folha", "when": {"product": "RM", "module": ["Folha", "Folha de Pagamento"]},
         "set": {"group_id": 200}},
        {"name": "RM any", "when": {"product": "RM"}, "set": {"group_id": 250}},
    ]
    result = route(mail(), settings(rules))
    assert (result.rule, result.group_id) == ("RM Folha", 200)
    assert "rule_rm_folha" in result.tags
    swapped = route(mail(), settings([rules[2], rules[1]]))
    assert (swapped.rule, swapped.group_id) == ("RM any", 250)


def test_all_conditions_must_hold() -> None:
    rules = [{"name": "RM Fiscal", "when": {"product": "RM", "module": "Fiscal"}, "set": {"group_id": 300}}]
    assert route(mail(), settings(rules)).rule is None


def test_rule_without_conditions_is_a_catch_all() -> None:
    result = route(mail("sem formulário"), settings([{"name": "Tudo", "set": {"group_id": 999}}]))
    assert (result.rule, result.group_id) == ("Tudo", 999)
    assert "rule 'Tudo' matched: it has no conditions" in result.reasons


@pytest.mark.parametrize(
    ("impact_text", "priority"),
    [("Dúvida sobre o produto", "low"), ("com procedimento paliativo", "normal"),
     ("em atividade não crítica", "normal"), ("crítico, sem paliativo", "urgent")],
)
def test_priority_from_impact(impact_text: str, priority: str) -> None:
    result = route(mail(f"Impacto: {impact_text}"), settings())
    assert result.priority == priority
    assert f"priority {priority} from impact {result.fields.impact}" in result.reasons


def test_priority_by_impact_is_a_setting() -> None:
    result = route(mail("Impacto: dúvida"), settings(priority_by_impact={"question": "high"}))
    assert result.priority == "high"


def test_no_impact_no_priority() -> None:
    assert route(mail("Produto: RM"), settings()).priority is None


def test_rule_priority_overrides_impact() -> None:
    rules = [{"name": "RM", "when": {"product": "RM"}, "set": {"priority": "high"}}]
    result = route(mail(), settings(rules))
    assert result.priority == "high"
    assert "priority high set by rule 'RM' (impact critical alone gives urgent)" in result.reasons
    assert result.group_id == 100  # the rule sets no group: the default stays


def test_matching_ignores_case_and_accents_both_ways() -> None:
    rules = [{"name": "Folha", "when": {"module": "FOLHA DE PAGAMENTO", "environment": "producao",
                                        "routine_group": "rescisão"}, "set": {"group_id": 200}}]
    text = "Módulo: folha de  pagamento\nAmbiente: PRODUÇÃO\nAgrupador de Rotina: RESCISAO"
    assert route(mail(text), settings(rules)).rule == "Folha"


def test_organization_from_sender_domain_when_the_mail_names_none() -> None:
    rules = [{"name": "T12345", "when": {"organization": "t12345"}, "set": {"group_id": 400}}]
    cfg = settings(rules, organizations={"Metalurgica-Exemplo.com.br": "T12345"})
    result = route(mail("Produto: RM", sender="ana@filial.metalurgica-exemplo.com.br"), cfg)
    assert (result.rule, result.fields.organization) == ("T12345", "T12345")
    assert "organization 'T12345' from sender domain filial.metalurgica-exemplo.com.br (the mail names none)" in (
        result.reasons
    )
    # A named organization is kept in the fields, but the domain's code still matches rules.
    named = route(mail(), cfg)
    assert (named.rule, named.fields.organization) == ("T12345", "Metalúrgica Exemplo Ltda")


def test_zendesk_mapping() -> None:
    rules = [{"name": "RM Folha", "when": {"product": "RM"},
              "set": {"group_id": 200, "tags": ["rm_folha"], "type": "problem", "custom_fields": {"squad": "folha"}}}]
    cfg = settings(rules, custom_fields={"product": 11, "module": 12, "impact": 13, "bso": 14, "squad": 15})
    result = route(mail(), cfg)
    assert result.group_id == 200
    assert result.type == "problem"
    assert result.tags == ["rm_folha", "rule_rm_folha"]
    # bso is absent from the mail, so its field is left out.
    assert result.custom_fields == [
        {"id": 11, "value": "RM"}, {"id": 12, "value": "Folha de Pagamento"}, {"id": 13, "value": "critical"},
        {"id": 15, "value": "folha"},
    ]
    # The support address itself is never CC'd.
    assert result.extra_ccs == ["mariana@metalurgica-exemplo.com.br"]


def test_type_from_the_portal_request_type() -> None:
    assert route(mail(), settings()).type == "incident"


def test_missing_required_fields_tag_the_ticket() -> None:
    result = route(mail("Produto: RM\nImpacto: dúvida"), settings())
    assert result.missing_fields == ["organization", "module"]
    assert "dados_incompletos" in result.tags
    complete = route(mail(), settings())
    assert complete.missing_fields == [] and "dados_incompletos" not in complete.tags


def test_required_fields_and_tag_are_settings() -> None:
    result = route(mail(), settings(required_fields=["version"], incomplete_tag="falta_versao"))
    assert result.missing_fields == ["version"]
    assert result.tags == ["falta_versao"]


def test_fields_already_set_by_an_earlier_stage_are_used() -> None:
    email = mail("nada aqui").model_copy(update={"fields": Fields(product="RM")})
    rules = [{"name": "RM", "when": {"product": "RM"}, "set": {"group_id": 7}}]
    assert route(email, settings(rules)).group_id == 7
