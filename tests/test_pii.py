"""CPF/CNPJ masking (parsers.pii): valid numbers masked, everything else untouched.

Valid numbers here are the public examples the Receita Federal and SERPRO
use (CPF 529.982.247-25 and 123.456.789-09, CNPJ 11.222.333/0001-81, the
alphanumeric CNPJ 12.ABC.345/01DE-35 of SERPRO's check-digit manual); the
bodies are written as pt-BR customers write.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from parsers import ParseError, parse
from parsers.pii import cnpj_valid, cpf_valid, mask_documents, mask_email
from tests.conftest import CORPUS


@pytest.mark.parametrize("number", ["529.982.247-25", "52998224725", "123.456.789-09", "12345678909"])
def test_valid_cpfs(number: str) -> None:
    assert cpf_valid(number)


@pytest.mark.parametrize("number", ["529.982.247-26", "123.456.789-00", "111.111.111-11", "00000000000", "1234567890"])
def test_invalid_cpfs(number: str) -> None:
    assert not cpf_valid(number)


@pytest.mark.parametrize("number", [
    "11.222.333/0001-81", "11222333000181", "12.345.678/0001-95", "12.ABC.345/01DE-35", "12ABC34501DE35",
])
def test_valid_cnpjs_numeric_and_alphanumeric(number: str) -> None:
    assert cnpj_valid(number)


@pytest.mark.parametrize("number", [
    "11.222.333/0001-82", "12.ABC.345/01DE-36", "12.abc.345/01de-35", "12ABC34501DEA5", "00000000000000",
])
def test_invalid_cnpjs(number: str) -> None:
    assert not cnpj_valid(number)


def test_masks_keep_punctuation_and_the_last_digits() -> None:
    assert mask_documents("CPF 123.456.789-09") == "CPF ***.***.789-09"
    assert mask_documents("CPF 12345678909.") == "CPF ******78909."
    assert mask_documents("CNPJ 11.222.333/0001-81") == "CNPJ **.***.***/0001-81"
    assert mask_documents("CNPJ: 11222333000181") == "CNPJ: ********000181"
    assert mask_documents("novo CNPJ 12.ABC.345/01DE-35") == "novo CNPJ **.***.***/01DE-35"
    assert mask_documents("CNPJ nº 12ABC34501DE35") == "CNPJ nº ********01DE35"


BODY = """Bom dia,

A colaboradora Joana Martins (CPF 529.982.247-25) não aparece no relatório
de férias. O CPF do gestor é 12345678909 e a filial tem o CNPJ 11.222.333/0001-81.
Nosso novo estabelecimento já saiu com o CNPJ alfanumérico 12.ABC.345/01DE-35.

Versão: 12.1.2410.123 | Patch 12.1.2310.186
Telefone: (11) 98765-4321 / +55 11 3456-7890 / 11987654321
NF-e 35.190.612.345-67, pedido 000123456789, boleto 23790.12345 60000.123456
Chamado anterior: 12345678901 (protocolo), IP 10.222.333.0001
Chave de licença: ABCD1234EFGH56

Att,
Carlos
"""


def test_a_realistic_body_masks_only_the_valid_numbers() -> None:
    masked = mask_documents(BODY)
    assert "***.***.247-25" in masked and "******78909" in masked
    assert "**.***.***/0001-81" in masked and "**.***.***/01DE-35" in masked
    for kept in ["12.1.2410.123", "12.1.2310.186", "(11) 98765-4321", "3456-7890", "11987654321",
                 "35.190.612.345-67", "000123456789", "23790.12345", "12345678901", "10.222.333.0001",
                 "ABCD1234EFGH56"]:
        assert kept in masked, kept
    assert masked.count("*") == 6 + 6 + 8 + 8


def test_bare_letters_need_a_label_or_punctuation() -> None:
    # A product key shaped like an alphanumeric CNPJ, with valid check digits by chance.
    assert mask_documents("Chave 12ABC34501DE35 ativada") == "Chave 12ABC34501DE35 ativada"


def test_mask_email_touches_subject_and_texts_only() -> None:
    email = parse((
        "From: Ana <ana@cliente.com.br>\r\nTo: atendimento.bsorm@totvs.com.br\r\n"
        "Subject: CPF 529.982.247-25 bloqueado\r\nMessage-ID: <p1@cliente.com.br>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nO CPF 529.982.247-25 foi bloqueado.\r\n"
    ).encode())
    masked = mask_email(email)
    assert masked.subject == "CPF ***.***.247-25 bloqueado"
    assert "***.***.247-25" in masked.body_text and "529.982" not in masked.body_text
    assert masked.key == email.key and masked.requester == email.requester
    unchanged = parse(b"From: a@b.com\r\nSubject: oi\r\n\r\nnada aqui 12.1.2410\r\n")
    assert mask_email(unchanged) is unchanged


_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Z][0-9A-Z./-]{9,18}[0-9](?![0-9A-Za-z])")


def _corpus_texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted(CORPUS.rglob("*.eml")):
        try:
            email = parse(path.read_bytes())
        except ParseError:
            continue
        texts += [(f"{path.name}:subject", email.subject), (f"{path.name}:body", email.body_text)]
    return texts


def test_over_the_whole_shared_corpus_no_number_failing_its_check_digits_changes() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    texts = _corpus_texts()
    assert len(texts) > 400
    changed = 0
    for where, text in texts:
        masked = mask_documents(text)
        if masked == text:
            continue
        changed += 1
        # Only stars replace characters, one for one: everything else is as written.
        assert len(masked) == len(text), where
        assert all(a == b or b == "*" for a, b in zip(text, masked)), where
        for match in _CANDIDATE.finditer(text):
            token = match.group()
            compact = token.replace(".", "").replace("-", "").replace("/", "")
            if not (cpf_valid(compact) or cnpj_valid(compact)):
                assert masked[match.start():match.end()] == token, f"{where}: {token} changed"
    # The fixture with a CPF and a CNPJ (d15) is masked, in its body.
    assert changed >= 1


def test_the_corpus_fixture_with_documents_is_masked() -> None:
    path = CORPUS / "ptbr" / "d15_cpf_cnpj_question.eml"
    if not path.is_file():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    email = mask_email(parse(Path(path).read_bytes()))
    assert "123.456.789-09" not in email.body_text and "***.***.789-09" in email.body_text
    assert "12.345.678/0001-95" not in email.body_text and "**.***.***/0001-95" in email.body_text
    assert "12.345.678/0001-95" not in (email.body_html or "")
    assert "Versão: 12.1.2410" in email.body_text
