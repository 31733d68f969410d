"""Charset decoding: declared first, then UTF-8, then windows-1252; never a silent U+FFFD."""
from __future__ import annotations

import pytest

from parsers.charsets import decode_bytes, decode_words, unescape_header


def test_declared_charset_wins() -> None:
    assert decode_bytes("ação".encode("utf-8"), "utf-8") == ("ação", None)
    assert decode_bytes("ação".encode("iso-8859-15"), "iso-8859-15").text == "ação"


def test_latin1_label_reads_windows1252_punctuation() -> None:
    # Outlook labels cp1252 text "iso-8859-1": 0x93/0x94 are curly quotes, not C1 controls.
    assert decode_bytes(b"\x93sim\x94 \x96 ok", "iso-8859-1").text == "\u201csim\u201d \u2013 ok"


def test_wrong_declaration_falls_back_to_utf8_then_cp1252() -> None:
    utf8 = decode_bytes("não".encode("utf-8"), "us-ascii")
    assert utf8.text == "não" and "utf-8" in (utf8.defect or "")
    cp1252 = decode_bytes("não".encode("cp1252"), "utf-8")
    assert cp1252.text == "não" and "cp1252" in (cp1252.defect or "")


@pytest.mark.parametrize("label", [None, "", "unknown-8bit", "x-no-such-charset"])
def test_missing_or_unknown_charset(label: str | None) -> None:
    decoded = decode_bytes("Produção".encode("cp1252"), label)
    assert decoded.text == "Produção"
    assert "\ufffd" not in decoded.text


def test_undecodable_everywhere_still_no_replacement_character() -> None:
    # 0x81 is undefined in cp1252 and invalid UTF-8: Latin-1 is the last resort.
    assert "\ufffd" not in decode_bytes(b"\x81\xff", "utf-8").text


def test_encoded_words_split_mid_word_are_joined() -> None:
    assert decode_words("=?iso-8859-1?Q?proporci?= =?iso-8859-1?Q?onais_=E0?=") == "proporcionais à"


def test_multibyte_character_split_across_b_words() -> None:
    # "ç" is C3 A7; each encoded-word holds one byte of it.
    assert decode_words("=?utf-8?Q?a=C3?= =?utf-8?Q?=A7b?=") == "açb"


def test_space_between_plain_word_and_encoded_word_is_kept() -> None:
    assert decode_words("Re: =?utf-8?Q?D=C3=BAvida?= sobre") == "Re: Dúvida sobre"


def test_bad_encoded_word_is_kept_as_written() -> None:
    assert decode_words("=?utf-8?B?!!!?=") == "=?utf-8?B?!!!?="


def test_raw_8bit_header_bytes_are_decoded() -> None:
    raw = "Relatório".encode("utf-8").decode("ascii", "surrogateescape")
    assert unescape_header(raw).text == "Relatório"
    raw = "Relatório".encode("cp1252").decode("ascii", "surrogateescape")
    decoded = unescape_header(raw)
    assert decoded.text == "Relatório" and decoded.defect
