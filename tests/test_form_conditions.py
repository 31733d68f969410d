"""The form's conditions decide which child field holds a value, and hide the rest."""
from __future__ import annotations

from parsers.model import Fields
from routing.account import Account
from routing.fieldmap import FieldsSettings, map_fields
from routing.forms import visible
from tests.zendesk_fixtures import portal_data

ACCOUNT = Account.from_api(portal_data())
FORM = ACCOUNT.catalog.form("Suporte Técnico")
AMBIENTE, AMBIENTE_RM, AMBIENTE_PROTHEUS, VERSAO_RM = 360003, 360004, 360005, 360007


def mapped(**fields):
    return map_fields(Fields(**fields), {}, ACCOUNT.catalog, FieldsSettings())


def test_a_child_field_is_visible_only_under_its_parents_value() -> None:
    assert AMBIENTE_RM not in visible(FORM, {})
    assert AMBIENTE_RM in visible(FORM, {AMBIENTE: "ambiente_rm"})
    assert AMBIENTE_RM not in visible(FORM, {AMBIENTE: "ambiente_protheus"})
    assert AMBIENTE_PROTHEUS in visible(FORM, {AMBIENTE: "ambiente_protheus"})


def test_environment_goes_to_the_child_of_the_product_line() -> None:
    out = mapped(product="RM", environment="Produção")
    assert out.form_id == 9001
    assert out.values[AMBIENTE] == "ambiente_rm" and out.values[AMBIENTE_RM] == "ambiente_rm_producao"
    assert AMBIENTE_PROTHEUS not in out.values


def test_the_right_child_is_chosen_for_another_line() -> None:
    out = mapped(product="Protheus", environment="Homologação")
    assert out.values[AMBIENTE] == "ambiente_protheus"
    assert out.values[AMBIENTE_PROTHEUS] == "ambiente_protheus_homologacao"
    assert AMBIENTE_RM not in out.values


def test_a_value_the_conditions_would_hide_is_not_sent_and_is_reported() -> None:
    # A rule sets "Ambiente > RM" directly while the mail says Ambiente is Protheus.
    out = map_fields(Fields(environment="Protheus"), {"version": "12.1.2410"}, ACCOUNT.catalog,
                     FieldsSettings(map={"environment": "Ambiente", "version": "Versão > RM"}))
    assert out.values[AMBIENTE] == "ambiente_protheus"
    assert VERSAO_RM not in out.values
    assert [(u.field, u.reason) for u in out.unmatched] == [("Versão > RM", "hidden by the form's conditions")]


def test_an_environment_that_is_no_option_is_listed_not_sent_as_text() -> None:
    out = mapped(product="RM", environment="Nuvem privada")
    assert AMBIENTE_RM not in out.values
    assert [u.portal for u in out.unmatched] == ["environment"]
    assert all(isinstance(v, (bool, str)) for v in out.values.values())


def test_no_form_named_leaves_ticket_form_id_unset_with_a_reason() -> None:
    out = map_fields(Fields(product="RM"), {}, ACCOUNT.catalog, FieldsSettings(form="Inexistente"))
    assert out.form_id is None and any("not found" in r for r in out.reasons)


def test_a_value_that_also_names_the_line_still_finds_its_option() -> None:
    out = mapped(product="RM", version="RM 12.1.2410", environment="RM - Homologação")
    assert out.values[VERSAO_RM] == "versao_rm_12_1_2410"
    assert out.values[AMBIENTE_RM] == "ambiente_rm_homologacao"


def test_an_inactive_field_is_not_sent_and_says_why() -> None:
    data = portal_data()
    next(f for f in data["ticket_fields"] if f["title"] == "Módulo")["active"] = False
    out = map_fields(Fields(module="Fiscal"), {}, Account.from_api(data).catalog, FieldsSettings())
    assert 360012 not in out.values
    assert "module 'Fiscal': field 'Módulo' is inactive; not sent" in out.reasons
