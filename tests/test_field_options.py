"""Written values → drop-down options (exact, synonym, prefix, fuzzy with a margin) and typed fields."""
from __future__ import annotations

import pytest

from routing.catalog import Option, TicketField
from routing.options import checkbox, convert, match_option

ROUTINES = [Option(i, name, tag) for i, (name, tag) in enumerate([
    ("Cálculo", "agrupador_calculo"), ("Férias", "agrupador_ferias"),
    ("Emissão de NF-e", "agrupador_emissao_de_nf_e"), ("Emissão de NFS-e", "agrupador_emissao_de_nfs_e"),
    ("Contas a Pagar", "agrupador_contas_a_pagar"), ("Contas a Receber", "agrupador_contas_a_receber"),
    ("Integração Contábil", "agrupador_integracao_contabil"), ("Integração Financeira", "x_fin"),
])]
MODULES = [Option(1, "Folha de Pagamento", "rm_modulo_folha_de_pagamento"), Option(2, "Fiscal", "rm_modulo_fiscal")]
VERSIONS = [Option(i, v, "versao_rm_" + v.replace(".", "_")) for i, v in enumerate(
    ["12.1.2402", "12.1.2406", "12.1.2410", "12.1.2502"])]


@pytest.mark.parametrize("written", ["folha de pagamento", "FOLHA DE  PAGAMENTO", "Fólha de Pagaménto",
                                     "rm_modulo_folha_de_pagamento"])
def test_exact_ignores_case_accents_spacing_and_takes_the_tag_itself(written) -> None:
    m = match_option(written, MODULES)
    assert (m.option.value, m.reason) == ("rm_modulo_folha_de_pagamento", "exact")


def test_a_synonym_names_an_option() -> None:
    m = match_option("folha", MODULES, synonyms={"Folha": "Folha de Pagamento"})
    assert m.option.value == "rm_modulo_folha_de_pagamento" and m.how == "synonym"
    assert match_option("folha", MODULES).option is None


def test_fuzzy_takes_a_typo_and_says_how_close() -> None:
    m = match_option("Contas a Pagr", ROUTINES)
    assert m.option.value == "agrupador_contas_a_pagar"
    assert m.reason == "fuzzy 0.96"


def test_fuzzy_refuses_a_near_miss_between_two_real_options() -> None:
    # "Emissão de NF" is 0.93 from NF-e and 0.90 from NFS-e: too close to call.
    m = match_option("Emissão de NF", ROUTINES)
    assert m.option is None and m.how == "no match"
    assert "NF-e" in m.note and "NFS-e" in m.note
    # With no margin the closer one would win: the margin is what refuses.
    assert match_option("Emissão de NF", ROUTINES, margin=0.0).option.value == "agrupador_emissao_de_nf_e"


def test_fuzzy_below_the_threshold_is_no_match() -> None:
    assert match_option("Integração", ROUTINES).option is None
    assert match_option("Contas a Pagr", ROUTINES, threshold=0.99).option is None


def test_numbers_never_match_fuzzily_but_a_release_maps_to_its_version() -> None:
    assert match_option("12.1.2411", VERSIONS).option is None
    m = match_option("12.1.2410.146", VERSIONS)
    assert m.option.value == "versao_rm_12_1_2410" and m.how == "prefix"


@pytest.mark.parametrize("text,want", [("Sim", True), ("SIM", True), ("s", True), ("Yes", True), ("X", True),
                                       ("Não", False), ("nao", False), ("N", False), ("no", False), ("talvez", None)])
def test_checkbox_words(text, want) -> None:
    assert checkbox(text) is want


@pytest.mark.parametrize("kind,written,value", [
    ("integer", "1.234", 1234), ("integer", "42", 42), ("decimal", "1.234,56", "1234.56"), ("decimal", "3.5", "3.5"),
    ("date", "2026-11-25", "2026-11-25"), ("date", "25/11/2026", "2026-11-25"), ("text", "  a  b ", "a b"),
])
def test_typed_fields_are_converted(kind, written, value) -> None:
    got = convert(TicketField(1, kind, "f"), written)
    assert got.ok and got.value == value


@pytest.mark.parametrize("kind,written", [("integer", "12a"), ("integer", "1234567890123"), ("decimal", "abc"),
                                          ("date", "31/02/2026"), ("date", "amanhã"), ("checkbox", "talvez")])
def test_malformed_values_are_refused_never_sent(kind, written) -> None:
    got = convert(TicketField(1, kind, "f"), written)
    assert not got.ok and got.value is None and got.reason


def test_regexp_field_checks_its_pattern() -> None:
    field = TicketField(1, "regexp", "CNPJ", regexp=r"\d{14}")
    assert convert(field, "12345678000195").ok
    assert not convert(field, "12.345.678/0001-95").ok


def test_a_value_that_contains_exactly_one_option_names_it() -> None:
    m = match_option("Cálculo da folha", ROUTINES)
    assert (m.option.value, m.how) == ("agrupador_calculo", "contains")
    # The longest contained option wins over a shorter one inside it.
    assert match_option("Contas a Pagar em atraso", ROUTINES).option.value == "agrupador_contas_a_pagar"


def test_a_value_containing_two_options_names_neither() -> None:
    m = match_option("erro no cálculo de férias", ROUTINES)
    assert m.option is None and "Cálculo" in m.note and "Férias" in m.note
