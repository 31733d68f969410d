"""HTML-only mail → readable text: paragraphs, breaks, lists and tables kept; no CSS or script."""
from __future__ import annotations

from parsers import parse
from parsers.html_text import html_to_text

PAGE = """<html><head><style>p.MsoNormal { color: red; }</style>
<script>alert('x')</script></head><body>
<p class=MsoNormal>Bom dia,</p><p>O erro ocorre&nbsp;ao salvar.<br>Segunda linha.</p>
<ul><li>primeiro passo</li><li>segundo passo</li></ul>
<table><tr><td>Organização</td><td>ACME Ltda</td></tr><tr><td>Impacto</td><td>Crítico</td></tr></table>
</body></html>"""


def test_structure_is_kept_and_css_script_are_dropped() -> None:
    text = html_to_text(PAGE)
    lines = [line.strip() for line in text.splitlines()]
    assert "Bom dia," in lines
    assert "O erro ocorre ao salvar." in lines and "Segunda linha." in lines
    assert any(line.endswith("primeiro passo") for line in lines)
    assert any(line.endswith("segundo passo") for line in lines)
    # A table row stays one line, cells in order.
    assert any(line.startswith("Organização") and line.endswith("ACME Ltda") for line in lines)
    assert "color" not in text and "alert" not in text and "\xa0" not in text


def test_paragraphs_are_separated() -> None:
    text = html_to_text("<p>um</p><p>dois</p>")
    assert text.index("dois") > text.index("um")
    assert "\n" in text[text.index("um"):text.index("dois")]


def test_broken_markup_never_raises() -> None:
    assert "texto" in html_to_text("<div><p>texto<table><tr><td>sem fim")
    assert html_to_text("") == ""
    assert html_to_text("<?xml version='1.0' encoding='utf-8'?><p>x</p>").strip() == "x"


def test_html_only_message_gets_body_text_and_keeps_html() -> None:
    raw = ("From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           "<p>Produ=E7=E3o parada</p>\r\n").encode()
    email = parse(raw)
    assert email.body_text == "Produção parada"
    assert email.body_html is not None and "<p>Produção parada</p>" in email.body_html


def test_plain_part_is_preferred_over_html() -> None:
    raw = ("From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
           "--b\r\nContent-Type: text/plain\r\n\r\nplain version\r\n"
           "--b\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n--b--\r\n").encode()
    email = parse(raw)
    assert email.body_text == "plain version"
    assert "html version" in (email.body_html or "")
