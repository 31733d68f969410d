"""Quoted history out of reply comments: pt-BR shapes, the library's shapes, and the keep-all fallback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsers import parse
from parsers.quotes import strip_quoted
from tests.conftest import corpus_files


def _collapse(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


def _replies() -> list[Path]:
    return [p for p in corpus_files("ptbr") if "text_excludes" in json.loads(p.with_suffix(".expected.json").read_text())]


@pytest.mark.parametrize("path", _replies(), ids=lambda p: p.stem)
def test_ptbr_replies_lose_their_history_and_keep_the_new_text(path: Path) -> None:
    expected = json.loads(path.with_suffix(".expected.json").read_text())
    email = parse(path.read_bytes())
    comment = _collapse(strip_quoted(email.body_text))
    for snippet in expected["text_excludes"]:
        assert _collapse(snippet) in _collapse(email.body_text), "fixture changed: the quote is not in the body"
        assert _collapse(snippet) not in comment
    for snippet in expected["text_contains"]:
        assert _collapse(snippet) in comment


def test_there_are_ptbr_replies_to_check() -> None:
    if not corpus_files("ptbr"):
        pytest.skip("shared corpus not found")
    assert {p.stem[:3] for p in _replies()} >= {"d02", "d03"}


GMAIL_PT = """Segue o log em anexo.

Em qua., 25 de nov. de 2026 às 10:02, Atendimento BSO <atendimento@x.com.br>
escreveu:

> Poderia enviar o log?
"""

OUTLOOK_PT = """Bom dia, não resolveu.

________________________________
De: Atendimento <atendimento@x.com.br>
Enviado: segunda-feira, 23 de novembro de 2026 17:45
Para: Ana <ana@cliente.com.br>
Assunto: [Chamado 5] Erro

Reinicie o serviço.
"""

ORIGINAL_MESSAGE = """Still broken after the restart.

-----Original Message-----
From: Support <support@x.com>
Sent: Monday, November 23, 2026 5:45 PM
To: Ana <ana@cliente.com>
Subject: [Chamado 5] Error

Please restart the service.
"""

ENGLISH_WROTE = """It works now, thanks.

On Wed, Nov 25, 2026 at 10:02 AM Support <support@x.com> wrote:
> Please restart the service.
"""

MOBILE = "Funcionou, obrigado.\n\nEnviado do meu iPhone\n"


@pytest.mark.parametrize(
    "text, kept, dropped",
    [
        (GMAIL_PT, "Segue o log em anexo.", "Poderia enviar o log?"),
        (OUTLOOK_PT, "Bom dia, não resolveu.", "Reinicie o serviço."),
        (ORIGINAL_MESSAGE, "Still broken after the restart.", "Please restart the service."),
        (ENGLISH_WROTE, "It works now, thanks.", "Please restart the service."),
        (MOBILE, "Funcionou, obrigado.", "Enviado do meu iPhone"),
        ("Ok, testei.\n> linha citada\n> outra\n", "Ok, testei.", "linha citada"),
    ],
)
def test_history_is_dropped(text: str, kept: str, dropped: str) -> None:
    stripped = strip_quoted(text)
    assert dropped not in stripped
    assert stripped == kept


def test_indentation_of_the_new_text_is_kept() -> None:
    text = "Veja o log:\n    ERRO 42 em RM.exe\n        at Folha.Calcular()\n\n> anterior\n"
    assert strip_quoted(text) == "Veja o log:\n    ERRO 42 em RM.exe\n        at Folha.Calcular()"


def test_only_quotes_keeps_the_whole_text() -> None:
    text = "> Poderia enviar o log?\n> Obrigado\n"
    assert strip_quoted(text) == text


def test_customer_prose_that_looks_like_a_header_stays() -> None:
    text = "Em resumo, o cliente escreveu:\nO cálculo do INSS está zerado.\nDe: qual versão é a correção?"
    assert strip_quoted(text) == text


def test_plain_text_without_history_is_unchanged() -> None:
    text = "Bom dia,\n\nO cálculo do 13º está zerado.\n\nAtt.,\nAna"
    assert strip_quoted(text) == text
