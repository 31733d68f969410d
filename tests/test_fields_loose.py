"""Issue 9, class 7: portal fields written loosely.

Fixtures written byte by byte after the shapes the issue lists (and issue 5
left out): separators other than a colon, yes/no in any spelling, labels in
<th> cells over a row of answers, and the answer on the line after its label.
"""
from __future__ import annotations

import pytest

from parsers import parse
from parsers.fields import extract_fields, parse_bso
from parsers.model import Address, Email


def mail(text: str = "", *, html: str | None = None) -> Email:
    return Email(key="k", requester=Address(email="ana@cliente.com.br"), subject="Erro", body_text=text, body_html=html)


@pytest.mark.parametrize("line", [
    "Organização? ACME", "Organização ? ACME", "Organização?: ACME", "Organização - ACME", "Organização – ACME",
    "Organização = ACME", "Organização=ACME", "Organização -> ACME", "* Organização - ACME", "ORGANIZAÇÃO -ACME",
])
def test_separators_other_than_a_colon(line: str) -> None:
    assert extract_fields(mail(f"Bom dia\n{line}\nAtt")).organization == "ACME"


@pytest.mark.parametrize("line", [
    "Organização.........: ACME", "Organização……: ACME", "Organização____: ACME", "1) Organização: ACME",
    "2. Organização - ACME", "10 - Organização: ACME",
])
def test_leaders_and_numbered_labels(line: str) -> None:
    assert extract_fields(mail(f"Bom dia\n{line}\nAtt")).organization == "ACME"


def test_a_dash_inside_the_value_or_a_dashed_word_is_not_a_separator_problem() -> None:
    fields = extract_fields(mail("Produto - RM - Folha\nMódulo: Folha - Rescisão\nObs - Produto: X"))
    assert fields.product == "RM - Folha" and fields.module == "Folha - Rescisão"


def test_prose_with_a_dash_or_question_is_not_a_field() -> None:
    fields = extract_fields(mail("Qual o produto? RM está lento\nO módulo - folha - parou"))
    assert fields.product is None and fields.module is None


@pytest.mark.parametrize(("text", "value"), [
    ("Sim", True), ("SIM", True), ("sim.", True), ("S", True), ("s", True), ("X", True), ("Yes", True),
    ("Não", False), ("NÃO", False), ("nao", False), ("NAO", False), ("N", False), ("n", False), ("No", False),
    ("Sim, por favor", True), ("Não - apenas suporte padrão", False),
    ("( X ) Sim ( ) Não", True), ("( ) Sim (X) Não", False), ("[x] Não", False),
    ("Sim ( X )  Não ( )", True), ("Sim ( )  Não (X)", False), ("Sim [x]", True),
    ("Sim/Não", None), ("talvez", None), ("", None),
])
def test_yes_no_in_any_spelling(text: str, value: bool | None) -> None:
    assert parse_bso(text) is value


def test_bso_question_mark_label() -> None:
    assert extract_fields(mail("Direciona atendimento para BSO? NÃO")).bso is False
    assert extract_fields(mail("Direcionar atendimento para BSO ? sim")).bso is True


def test_answer_on_the_line_after_the_label() -> None:
    text = "Organização:\nACME Ltda\n\nProduto:\n\nRM\nMódulo:\nImpacto: Dúvida\nDireciona atendimento para BSO?\nSim"
    fields = extract_fields(mail(text))
    assert fields.organization == "ACME Ltda" and fields.product == "RM"
    assert fields.module is None  # the next line is a label of its own
    assert fields.impact == "question" and fields.bso is True


def test_labels_in_th_cells_over_a_row_of_answers() -> None:
    html = ("<table><tr><th>Organiza&ccedil;&atilde;o</th><th>Impacto</th><th>Produto</th></tr>"
            "<tr><td>ACME</td><td>Cr&iacute;tico, sem paliativo</td><td>RM</td></tr></table>")
    fields = extract_fields(mail(html=html))
    assert (fields.organization, fields.impact, fields.product) == ("ACME", "critical", "RM")


def test_labels_in_th_cells_beside_their_answers() -> None:
    html = "<table><tr><th>Produto:</th><td>RM</td></tr><tr><th>M&oacute;dulo</th><td>Folha</td></tr></table>"
    fields = extract_fields(mail(html=html))
    assert (fields.product, fields.module) == ("RM", "Folha")


def test_a_heading_row_that_is_not_labels_leaves_a_vertical_form_alone() -> None:
    html = ("<table><tr><th>Campo</th><th>Valor</th></tr><tr><td>Produto</td><td>RM</td></tr>"
            "<tr><td>M&oacute;dulo</td><td>Folha</td></tr></table>")
    fields = extract_fields(mail(html=html))
    assert (fields.product, fields.module) == ("RM", "Folha")


def test_loose_form_through_parse() -> None:
    raw = ("From: Ana <ana@cliente.com.br>\r\nSubject: Erro\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "Organização = ACME\r\nImpacto - Crítico\r\nProduto?\r\nRM\r\nDireciona atendimento para BSO? nao\r\n")
    fields = extract_fields(parse(raw.encode("utf-8")))
    assert (fields.organization, fields.impact, fields.product, fields.bso) == ("ACME", "critical", "RM", False)
