"""Portal form fields from small inline messages: labels, values, impact, bso, CCs, replies."""
from __future__ import annotations

import pytest

from parsers.fields import extract_fields, parse_bso, parse_impact, ticket_text
from parsers.model import Address, Email


def mail(text: str = "", *, html: str | None = None, subject: str = "Erro no RM", in_reply_to: str | None = None) -> Email:
    return Email(
        key="k", requester=Address(email="ana@cliente.com.br"), subject=subject,
        body_text=text, body_html=html, in_reply_to=in_reply_to,
    )


FORM = """Bom dia,

Organização: Metalúrgica Exemplo Ltda
Impacto: Dúvida sobre o produto
Tipo da Solicitação: Incidente
Ambiente: Produção
Versão: 12.1.2410
País: Brasil
Macrossegmento: Manufatura
Produto: RM
Módulo: Folha de Pagamento
Agrupador de Rotina: Rescisão
Direciona atendimento para BSO: Sim
Usuários em Cópia: Maria@Exemplo.com.br; joao@exemplo.com.br

Obrigado
"""


def test_every_portal_label() -> None:
    fields = extract_fields(mail(FORM))
    assert fields.model_dump() == {
        "organization": "Metalúrgica Exemplo Ltda", "impact": "question", "request_type": "Incidente",
        "environment": "Produção", "version": "12.1.2410", "country": "Brasil", "macrosegment": "Manufatura",
        "product": "RM", "module": "Folha de Pagamento", "routine_group": "Rescisão", "bso": True,
        "cc_users": ["maria@exemplo.com.br", "joao@exemplo.com.br"],
    }


@pytest.mark.parametrize(
    "line",
    ["Organização: ACME", "organizacao: ACME", "ORGANIZAÇÃO : ACME", "  Organização  :   ACME  ", "Organizacão:ACME",
     "- Organização: ACME", "*Organização:* ACME", "Organização\tACME", "ORGANIZAÇÃO\u00a0: ACME"],
)
def test_labels_ignore_case_accents_spacing_and_colon(line: str) -> None:
    assert extract_fields(mail(f"Olá\n{line}\nAtt")).organization == "ACME"


def test_unknown_labels_and_prose_are_not_fields() -> None:
    fields = extract_fields(mail("Assunto: erro\nObs.: o produto parou\nO Produto RM está lento: urgente"))
    assert fields.product is None and fields.organization is None


def test_empty_value_is_none_and_first_occurrence_wins() -> None:
    fields = extract_fields(mail("Produto:\nMódulo: Fiscal\nMódulo: Folha"))
    assert fields.product is None
    assert fields.module == "Fiscal"


@pytest.mark.parametrize(
    ("text", "impact"),
    [
        ("Dúvida sobre o produto", "question"),
        ("Mau funcionamento ou desempenho com procedimento paliativo", "workaround"),
        ("Mau funcionamento ou desempenho em atividade não crítica", "non_critical"),
        ("Mau funcionamento ou desempenho em atividades críticas sem procedimento paliativo", "critical"),
        ("crítico, sem paliativo", "critical"),
        ("CRITICO", "critical"),
        ("dúvida", "question"),
        ("duvida", "question"),
        ("nao critico", "non_critical"),
        ("com paliativo", "workaround"),
        ("critical", "critical"),
        ("não sei", None),
        ("", None),
    ],
)
def test_impact_texts(text: str, impact: str | None) -> None:
    assert parse_impact(text) == impact
    assert extract_fields(mail(f"Impacto: {text}")).impact == impact


@pytest.mark.parametrize(
    ("text", "bso"), [("Sim", True), ("sim", True), ("SIM", True), ("Não", False), ("NÃO", False), ("nao", False),
                      ("talvez", None)],
)
def test_bso_yes_no(text: str, bso: bool | None) -> None:
    assert parse_bso(text) is bso
    assert extract_fields(mail(f"Direciona atendimento para BSO: {text}")).bso is bso


def test_cc_users_lowercased_deduplicated_and_empty() -> None:
    text = "Usuários em cópia: A@X.com.br, b@x.com.br; a@x.com.br"
    assert extract_fields(mail(text)).cc_users == ["a@x.com.br", "b@x.com.br"]
    assert extract_fields(mail("Usuários em cópia: nenhum")).cc_users == []


HTML_TABLE = """<html><body><p>Prezados,</p><table>
<tr><td><b>ORGANIZAÇÃO</b></td><td> Colégio Exemplo </td></tr>
<tr><td>impacto</td><td>Mau funcionamento ou desempenho em atividade não crítica</td></tr>
<tr><td>Modulo:</td><td>Educacional</td></tr>
<tr><td>Agrupador de rotina </td><td>Matr&iacute;cula</td></tr>
<tr><td>Usuários em cópia</td><td>&nbsp;</td></tr>
</table><p>Produto: RM</p></body></html>"""


def test_html_form_table() -> None:
    fields = extract_fields(mail(html=HTML_TABLE))
    assert (fields.organization, fields.impact, fields.module, fields.routine_group, fields.product) == (
        "Colégio Exemplo", "non_critical", "Educacional", "Matrícula", "RM",
    )
    assert fields.cc_users == []


def test_html_sent_as_text_is_read_as_html() -> None:
    assert extract_fields(mail(HTML_TABLE)).organization == "Colégio Exemplo"


def test_plain_text_wins_over_html_and_html_fills_gaps() -> None:
    fields = extract_fields(mail("Produto: RM", html="<table><tr><td>Produto</td><td>Protheus</td></tr>"
                                 "<tr><td>Módulo</td><td>Fiscal</td></tr></table>"))
    assert (fields.product, fields.module) == ("RM", "Fiscal")


OUTLOOK_QUOTE = """Segue o tempo de processamento.

De: Atendimento BSO RM <atendimento.bsorm@totvs.com.br>
Enviada em: terça-feira, 24 de novembro de 2026 14:15
Para: Ricardo <ricardo@cliente.com.br>
Assunto: [Chamado 1] Lentidão

Organização: Transportes Exemplo S.A.
Produto: RM
"""


def test_reply_ignores_fields_in_outlook_quoted_history() -> None:
    fields = extract_fields(mail(OUTLOOK_QUOTE, subject="RES: [Chamado 1] Lentidão"))
    assert fields.organization is None and fields.product is None
    assert "Transportes" not in ticket_text(mail(OUTLOOK_QUOTE, subject="RES: x"))


def test_reply_detected_by_in_reply_to_alone() -> None:
    fields = extract_fields(mail(OUTLOOK_QUOTE, subject="Lentidão", in_reply_to="<a@b>"))
    assert fields.product is None


@pytest.mark.parametrize(
    "quote",
    [
        "Em qua., 25 de nov. de 2026 às 10:02, Atendimento BSO <\natendimento.bsorm@totvs.com.br> escreveu:\n\n> Produto: RM\n",
        "On Wed, Nov 25, 2026 at 10:02 AM Suporte <s@t.com> wrote:\nProduto: RM\n",
        "-----Original Message-----\nFrom: s@t.com\nProduto: RM\n",
        "-----Mensagem original-----\nProduto: RM\n",
        "> Produto: RM\n",
    ],
)
def test_reply_quote_markers(quote: str) -> None:
    text = "Obrigada, segue o log.\nMódulo: Fiscal\n\n" + quote
    fields = extract_fields(mail(text, subject="Re: [Chamado 2] erro"))
    assert fields.product is None
    assert fields.module == "Fiscal"  # the reply's own text still counts


def test_reply_quote_in_html_blockquote() -> None:
    html = "<div>Segue.</div><blockquote><table><tr><td>Produto</td><td>RM</td></tr></table></blockquote>"
    assert extract_fields(mail(html=html, subject="Re: x")).product is None
    assert extract_fields(mail(html=html, subject="Erro novo")).product == "RM"


@pytest.mark.parametrize("subject", ["ENC: Lentidão", "Enc: Lentidão", "Fwd: Lentidão", "FW: Lentidão"])
def test_forward_keeps_forwarded_text(subject: str) -> None:
    assert extract_fields(mail(OUTLOOK_QUOTE, subject=subject)).product == "RM"


def test_forward_marker_in_body_keeps_forwarded_text_despite_in_reply_to() -> None:
    text = "Vejam abaixo.\n---------- Mensagem encaminhada ---------\nDe: x <x@y.com>\nDate: hoje\nProduto: RM\n"
    assert extract_fields(mail(text, subject="Chamado", in_reply_to="<a@b>")).product == "RM"


def test_reply_to_a_forward_is_a_reply() -> None:
    assert extract_fields(mail(OUTLOOK_QUOTE, subject="RES: ENC: Lentidão")).product is None


def test_html_rows_without_end_tags_and_nested_layout_tables() -> None:
    html = ("<table><tr><td>Produto<td>RM<tr><td>Módulo</td><td>Fiscal</table>"
            "<table><tr><td><table><tr><td>Versão</td><td>12.1</td></tr></table></td><td>logo</td></tr></table>")
    fields = extract_fields(mail(html=html))
    assert (fields.product, fields.module, fields.version) == ("RM", "Fiscal", "12.1")
