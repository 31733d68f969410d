"""Issue 9, class 2: mojibake written by the sender's own software, and the
no-regression guard for every repair of issue 9 over the whole shared corpus.

Fixtures are written byte by byte: correct text is encoded once; mojibake is
made the way broken ERP mailers make it, `text.encode("utf-8").decode("cp1252")`
sent again in a declared charset.  The pt-BR, Spanish and Czech sentences are
ordinary support phrases plus the classic pangrams ("Příliš žluťoučký kůň
úpěl ďábelské ódy", "El veloz murciélago hindú comía feliz cardillo y kiwi").
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from parsers import ParseError, parse
from parsers.mojibake import DEFECT, repair
from tests.conftest import corpus_files

CORRECT = [
    # pt-BR
    "Ação necessária: o conteúdo da nota fiscal não foi transmitido à SEFAZ.",
    "Prezados, bom dia! Não consigo emitir o relatório de férias; está dando erro na integração.",
    "SÃO PAULO – ÁREA DE ATENDIMENTO – ÓTIMO SERVIÇO, OBRIGADO. ÀS 10H, NÃO.",
    "Conexão, emissão, exceção, função, informações, razão social, endereço, nº 123, 1º andar, 2ª via",
    "Cotação em R$ 1.234,56 — “urgente” • Ângela, Ênio, Ígor, Úrsula, Ôscar, Õ",
    "Atenciosamente,\nJosé Conceição\nTOTVS® RM™ © 2026",
    # Spanish
    "El veloz murciélago hindú comía feliz cardillo y kiwi. ¿Dónde está la facturación? ¡Señor!",
    "AÑO FISCAL, PEQUEÑA EMPRESA, NIÑO, CAÑÓN, ÚLTIMO PAGO",
    # Czech
    "Příliš žluťoučký kůň úpěl ďábelské ódy. Účetní systém nefunguje, prosím o pomoc.",
    "PŘÍLIŠ ŽLUŤOUČKÝ KŮŇ ÚPĚL ĎÁBELSKÉ ÓDY",
    # Others that look like mojibake to a naive check
    "Grüße aus München, Größe; naïve café, à la carte; Ægir Ødegård; Ã (a-tilde) alone",
    "Preço: 10 × 2 ÷ 4 ± 1 ° ¹ ² ³ ¼ ½ ¾ ¿",
]

MOJIBAKE = [
    ("ConteÃºdo", "Conteúdo"),
    ("AÃ§Ã£o necessÃ¡ria", "Ação necessária"),
    ("NÃ£o consigo emitir a nota fiscal, estÃ¡ dando erro na integraÃ§Ã£o.",
     "Não consigo emitir a nota fiscal, está dando erro na integração."),
    ("Ã‰ urgente â€“ â€œcrÃ­ticoâ€\x9d", "É urgente – “crítico”"),
    # Mangled twice by two systems in a row.
    ("AÃƒÂ§ÃƒÂ£o", "Ação"),
    # Czech through the same broken mailer.
    ("PÅ™Ã­liÅ¡ Å¾luÅ¥ouÄ\x8dkÃ½ kÅ¯Åˆ", "Příliš žluťoučký kůň"),
]


def _mail(body: bytes, charset: str, subject: str = "Chamado") -> bytes:
    return (b"From: Cliente <cliente@example.com>\r\nSubject: " + subject.encode("ascii")
            + b"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=" + charset.encode("ascii")
            + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body + b"\r\n")


@pytest.mark.parametrize("text", CORRECT)
def test_correct_text_is_never_repaired(text: str) -> None:
    assert repair(text) == (text, False)


def _encodable(texts: list[str], charsets: list[str]) -> list[tuple[str, str]]:
    """Only the (text, charset) pairs the charset can hold: the others are not a case."""
    pairs = []
    for charset in charsets:
        for text in texts:
            try:
                text.encode(charset)
            except UnicodeEncodeError:
                continue
            pairs.append((text, charset))
    return pairs


_CHARSETS = ["utf-8", "windows-1252", "iso-8859-1", "iso-8859-15", "iso-8859-2", "windows-1250"]
_PASS_THROUGH = _encodable(CORRECT, _CHARSETS)


def test_every_charset_holds_some_of_the_correct_texts() -> None:
    # Guards the filter above: a charset that holds none of the texts would test nothing.
    assert {charset for _, charset in _PASS_THROUGH} == set(_CHARSETS)
    assert all((text, "utf-8") in _PASS_THROUGH for text in CORRECT)


@pytest.mark.parametrize(("text", "charset"), _PASS_THROUGH)
def test_correct_mail_passes_through_unchanged(text: str, charset: str) -> None:
    body = text.encode(charset)
    email = parse(_mail(body, charset))
    assert email.body_text == text
    assert DEFECT not in " ".join(email.defects)


@pytest.mark.parametrize(("broken", "fixed"), MOJIBAKE)
def test_mojibake_is_repaired_with_a_defect(broken: str, fixed: str) -> None:
    assert repair(broken) == (fixed, True)
    # Sent as windows-1252 (the bytes are what the broken mailer wrote) and as UTF-8.
    for charset in ("windows-1252", "utf-8"):
        try:
            body = broken.encode(charset)
        except UnicodeEncodeError:
            continue
        email = parse(_mail(body, charset))
        assert email.body_text == fixed
        assert any(DEFECT in d for d in email.defects)


def test_mojibake_in_an_encoded_word_subject_and_name() -> None:
    word = "=?utf-8?B?" + base64.b64encode("AÃ§Ã£o ConteÃºdo".encode()).decode() + "?="
    raw = _mail(b"x", "us-ascii", subject=word).replace(b"From: Cliente", b"From: " + word.encode())
    email = parse(raw)
    assert email.subject == "Ação Conteúdo" and email.requester.name == "Ação Conteúdo"


def test_a_reply_whose_quoted_part_is_mojibake() -> None:
    text = "Segue a correção.\n\n> Em 01/12, Ana escreveu:\n> O conteÃºdo da aÃ§Ã£o estÃ¡ errado."
    assert repair(text) == ("Segue a correção.\n\n> Em 01/12, Ana escreveu:\n> O conteúdo da ação está errado.", True)


def test_latin1_dense_text_is_not_pieced_into_cyrillic() -> None:
    # Big5 bytes read as Latin-1 (imap_tools' content_transfer_encoding_empty subject):
    # a piecewise UTF-8 reading would turn "Ñ±" into "ѱ".  Not a repair.
    text = "(¤j¸ÉªwÄÑ±M½æ) ¤j®a»¡\xad^»y ¨C¤éÅ¥MP3 ÁcÅé¤¤¤å¥úºÐª©"
    assert repair(text) == (text, False)


# ---- the no-regression guard over the shared corpus -------------------------------

# Each repair of issue 9 records a defect; this is every place one fires on the
# shared corpus, each checked by hand.  A new entry means a repair changed mail
# that needed none: look at it before adding it here.
REPAIRS = {
    "mojibake repaired": {
        # Declared iso-8859-1, but the bytes are UTF-8 (C3 86, "Æ"): the
        # file reads "DISCOVERÆ CARD" in any UTF-8 viewer.
        "imap_tools/error_emails__content_transfer_encoding_7-bit.eml",
    },
    "(detected)": set(),
    "stray windows-1252 bytes": set(),
    "header block:": {
        "imap_tools/plain_emails__raw_email_incorrect_header.eml",  # one malformed line
        "imap_tools/rfc2822__example13.eml",  # RFC 5322 A.6.3 obsolete syntax
    },
    "uuencoded": {
        "stalwart/legacy/049.eml",  # three uuencoded PNGs in Outlook 2000 text
        # An x-uuencode part whose payload is empty: reported, kept as it came.
        "imap_tools/error_emails__content_transfer_encoding_x_uuencode.eml",
    },
}


def _corpus_defects() -> dict[str, list[str]]:
    out = {}
    for path in corpus_files("imap_tools") + corpus_files("ptbr") + corpus_files("stalwart") + corpus_files("sisimai"):
        try:
            out[_rel(path)] = parse(path.read_bytes()).defects
        except ParseError:
            out[_rel(path)] = []
    return out


def _rel(path: Path) -> str:
    parts = path.parts
    for root in ("imap_tools", "ptbr", "stalwart", "sisimai"):
        if root in parts:
            return "/".join(parts[parts.index(root):])
    return str(path)


def test_repairs_fire_only_where_reviewed_on_the_shared_corpus() -> None:
    defects = _corpus_defects()
    assert len(defects) > 250, "shared corpus looks incomplete"
    fired = {marker: {name for name, found in defects.items() if any(marker in d for d in found)}
             for marker in REPAIRS}
    assert fired == REPAIRS, json.dumps({m: sorted(fired[m] ^ REPAIRS[m]) for m in REPAIRS}, indent=1)


def test_repair_changes_nothing_in_the_parsed_shared_corpus() -> None:
    """Run over every text the parser returns for the corpus: nothing left that the repair would change."""
    checked = 0
    for path in corpus_files("imap_tools") + corpus_files("ptbr") + corpus_files("stalwart") + corpus_files("sisimai"):
        try:
            email = parse(path.read_bytes())
        except ParseError:
            continue
        texts = [email.subject, email.requester.name, email.body_text, email.body_html or ""]
        texts += [a.filename for a in email.attachments]
        for text in texts:
            assert repair(text)[0] == text, f"{_rel(path)}: {text[:80]!r}"
        checked += 1
    assert checked > 250
