"""Routing with the account: organizations from Zendesk's directory, the field
mapping's reasons, and values that map to nothing (tagged, listed, never sent)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest import metrics
from ingest.cli import main
from ingest.pipeline import route_stage
from ingest.settings import Settings
from ingest.sink import build_sink
from parsers.model import Address, Email
from routing import route
from routing.account import Account
from tests.zendesk_fixtures import PORTAL_FORM, emulator_settings, portal_data, portal_emulator  # noqa: F401

ACCOUNT = Account.from_api(portal_data())
MODULO = 360012


def mail(text: str, sender: str = "jose@metalurgica-exemplo.com.br", key: str = "k") -> Email:
    return Email(key=key, message_id=f"<{key}@x>", requester=Address(email=sender), subject="Erro",
                 to=["atendimento.bsorm@totvs.com.br"], body_text=text)


def settings(**routing) -> Settings:
    return Settings(routing={"default_group_id": 100, **routing})


def test_the_organization_code_comes_from_the_directory_by_sender_domain() -> None:
    rules = [{"name": "Metalurgica", "when": {"organization": "T12345"}, "set": {"group_id": 400}}]
    result = route(mail("Produto: RM", sender="ana@filial.metalurgica-exemplo.com.br"), settings(rules=rules).routing,
                   None, ACCOUNT)
    assert (result.rule, result.group_id, result.fields.organization) == ("Metalurgica", 400, "T12345")
    assert any("Zendesk organization 'Metalúrgica Exemplo Ltda', id 8008" in r for r in result.reasons)


def test_an_organization_named_in_the_mail_matches_by_its_code() -> None:
    rules = [{"name": "Agro", "when": {"organization": "T20411"}, "set": {"group_id": 410}}]
    text = "Organização: Agropecuária Exemplo S.A.\nProduto: RM"
    result = route(mail(text, sender="ana@agro-exemplo.com.br"), settings(rules=rules).routing, None, ACCOUNT)
    assert result.rule == "Agro"
    # From outside the organization's domains the name is not believed (issue 15, routing.sender_org).
    stranger = route(mail(text, sender="x@gmail.com"), settings(rules=rules).routing, None, ACCOUNT)
    assert stranger.rule is None and stranger.fields.organization is None


def test_the_settings_table_overrides_the_directory() -> None:
    cfg = settings(organizations={"metalurgica-exemplo.com.br": "T99999"}).routing
    result = route(mail("Produto: RM"), cfg, None, ACCOUNT)
    assert result.fields.organization == "T99999"


def test_an_unknown_domain_gets_no_organization() -> None:
    result = route(mail("Produto: RM", sender="a@desconhecida.com.br"), settings().routing, None, ACCOUNT)
    assert result.fields.organization is None


def test_a_synonym_and_a_fuzzy_match_say_why() -> None:
    text = "Produto: RM\nMódulo: Folha\nAgrupador de Rotina: Contas a Pagr\n"
    result = route(mail(text), settings().routing, None, ACCOUNT)
    got = {f["id"]: f["value"] for f in result.custom_fields}
    assert got[MODULO] == "rm_modulo_folha_de_pagamento" and got[360013] == "agrupador_contas_a_pagar"
    assert "module 'Folha' → Módulo: 'rm_modulo_folha_de_pagamento' (synonym ('Folha' → 'Folha de Pagamento'))" in (
        result.field_reasons)
    assert "routine_group 'Contas a Pagr' → Agrupador de Rotina: 'agrupador_contas_a_pagar' (fuzzy 0.96)" in (
        result.field_reasons)
    assert result.unmatched == [] and result.unmatched_note is None


def test_unmatched_values_are_tagged_listed_and_not_sent() -> None:
    result = route(mail("Impacto: Dúvida\nProduto: RM\nMódulo: Folhinha de ponto\nAgrupador de Rotina: Emissão de NF\n"
                        "Ambiente: Nuvem"), settings().routing, None, ACCOUNT)
    got = {f["id"]: f["value"] for f in result.custom_fields}
    assert MODULO not in got and 360013 not in got and 360004 not in got
    assert "dados_incompletos" in result.tags
    assert [u.split(":")[0] for u in result.unmatched] == ["environment", "module", "routine_group"]
    assert "Folhinha de ponto" in result.unmatched_note and "Emissão de NF" in result.unmatched_note
    assert result.ticket_form_id == 9001


def test_unmatched_values_in_a_text_field_need_no_note() -> None:
    cfg = settings(fields={"unmatched_field": "Release", "map": {"module": "Módulo"}}).routing
    result = route(mail("Módulo: Folhinha"), cfg, None, ACCOUNT)
    got = {f["id"]: f["value"] for f in result.custom_fields}
    assert got[360015].startswith("module: Folhinha (no match (closest ")
    assert result.unmatched_note is None and "dados_incompletos" in result.tags


def test_the_note_costs_one_request_only_for_tickets_that_need_it(portal_emulator) -> None:
    s = emulator_settings(portal_emulator)
    sink = build_sink(s, sleep=lambda _s: None)
    good = mail("Produto: RM\nMódulo: Fiscal", key="good")
    bad = mail("Produto: RM\nMódulo: Folhinha", key="bad", sender="ana@agro-exemplo.com.br")
    ok = sink.create(good, route_stage(good, s, ACCOUNT))
    assert len(portal_emulator.requests) == 1
    before = metrics.REGISTRY.get_sample_value("bso_ingest_unmatched_fields_total", {"field": "module"}) or 0
    noted = sink.create(bad, route_stage(bad, s, ACCOUNT))
    assert metrics.REGISTRY.get_sample_value("bso_ingest_unmatched_fields_total", {"field": "module"}) == before + 1
    assert [r.method for r in portal_emulator.requests] == ["POST", "POST", "PUT"]
    ticket = portal_emulator.tickets[noted.ticket_id]
    note = ticket.comments[-1]
    assert not note.public and "Folhinha" in note.body
    assert MODULO not in {f["id"] for f in ticket.custom_fields}
    assert "Folhinha" in ticket.comments[0].body  # the customer's text stays in the description
    assert len(portal_emulator.tickets[ok.ticket_id].comments) == 1


def test_a_sender_who_already_belongs_to_an_organization_keeps_it(portal_emulator) -> None:
    # An existing user of another organization writes from a mapped domain.
    portal_emulator.add_user("jose@metalurgica-exemplo.com.br", "José", organization_id=8004)
    s = emulator_settings(portal_emulator)
    email = mail("Produto: RM")
    created = build_sink(s, sleep=lambda _s: None).create(email, route_stage(email, s, ACCOUNT))
    assert portal_emulator.tickets[created.ticket_id].organization_id == 8004
    sent = portal_emulator.requests[0].json()["ticket"]
    assert "organization_id" not in sent  # Zendesk sets it from the requester's membership


def test_route_cli_prints_each_mappings_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"From: Ana <ana@contabil-exemplo.com.br>\r\nTo: atendimento.bsorm@totvs.com.br\r\n"
                    b"Subject: x\r\nMessage-ID: <r1@x>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                    + "Produto: RM\r\nAmbiente: Produção\r\nMódulo: Contabilidae\r\nAgrupador de Rotina: Emissão de NF\r\n"
                    .encode())
    config = tmp_path / "settings.toml"
    config.write_text(f'[zendesk]\nmetadata_seed = "{PORTAL_FORM}"\n', encoding="utf-8")
    assert main(["--config", str(config), "route", str(eml)]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    mapping = "\n".join(line["field_mapping"])
    assert "environment 'Produção' → Ambiente > RM: 'ambiente_rm_producao' (exact)" in mapping
    assert "module 'Contabilidae' → Módulo: 'rm_modulo_contabilidade' (fuzzy 0.96)" in mapping
    assert "routine_group 'Emissão de NF' → Agrupador de Rotina: not sent (no match (as close to" in mapping
    assert line["zendesk"]["ticket_form_id"] == 9001
    assert "dados_incompletos" in line["zendesk"]["tags"]
