"""Issue 9, class 6: HTML-only bodies whose text an HTML tokenizer takes for tags.

Fixtures written byte by byte after the issue's example: webmail editors and
ERP mailers paste typed text into HTML without escaping it, so the markup
holds `<https://...>` and `<user@host>` as literal text.
"""
from __future__ import annotations

import pytest

from parsers import parse
from parsers.html_text import html_to_text


def _html_mail(html: str) -> bytes:
    return ("From: Ana <ana@cliente.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + html + "\r\n").encode("utf-8")


@pytest.mark.parametrize(("html", "text"), [
    ("<p>Veja <https://portal.example/chamados>.</p>", "Veja <https://portal.example/chamados>."),
    ("<div>Escreva para <suporte@cliente.example></div>", "Escreva para <suporte@cliente.example>"),
    ("<p>Ana <mailto:ana@cliente.example> e <HTTP://X.EXAMPLE/A?b=1&amp;c=2></p>",
     "Ana <mailto:ana@cliente.example> e <HTTP://X.EXAMPLE/A?b=1&c=2>"),
])
def test_bracketed_urls_and_addresses_stay_text(html: str, text: str) -> None:
    email = parse(_html_mail(html))
    assert email.body_text == text
    assert email.body_html is not None and html in email.body_html  # the HTML itself is kept as sent


def test_real_tags_are_still_tags() -> None:
    html = '<p>Ana &lt;<a href="mailto:ana@x.example">ana@x.example</a>&gt; <b>urgente</b><o:p></o:p></p>'
    assert html_to_text(html) == "Ana <ana@x.example> urgente"


def test_th_headings_and_entities_in_a_table_without_attributes() -> None:
    html = ("<table><tr><th>Produto</th><td>RM</td></tr>"
            "<tr><th>M&oacute;dulo</th><td>Folha &amp; Ponto &#8211; &quot;novo&quot;</td></tr></table>")
    text = parse(_html_mail(html)).body_text
    assert text.split() == ["Produto", "RM", "Módulo", "Folha", "&", "Ponto", "–", '"novo"']
    assert len(text.splitlines()) == 2


def test_br_only_layout_keeps_its_lines() -> None:
    html = "Bom dia,<br>Produto: RM<br/>M&oacute;dulo: Folha<br><br>Att,<BR>Ana &lt;ana@x&gt;"
    assert parse(_html_mail(html)).body_text == "Bom dia,\nProduto: RM\nMódulo: Folha\n\nAtt,\nAna <ana@x>"
