"""Header shapes Roundcube's tests pin down (issue 9, held-out).

Values from roundcube/roundcubemail tests/Framework/Mime.php
(test_decode_single_address #23, #26, #27; test_header_decode_qp (1), (2)),
each one a mailer bug Roundcube met in the field; the messages around them
are ours.
"""
from __future__ import annotations

import pytest

from parsers import parse
from parsers.addresses import parse_addresses
from parsers.charsets import decode_words


def sender(value: str) -> tuple[str, str]:
    email = parse(f"From: {value}\r\nSubject: s\r\n\r\nb\r\n".encode())
    return email.requester.name, email.requester.email


def test_encoded_word_holding_the_quoted_phrase() -> None:
    assert sender("=?UTF-8?B?IlRlc3QsVGVzdCI=?= <test@domain.tld>") == ("Test,Test", "test@domain.tld")


def test_sobrenome_nome_encoded_with_its_quotes() -> None:
    # The Outlook "Sobrenome, Nome" of issue 9 class 3, by a mailer that encodes the quotes too.
    assert sender("=?iso-8859-1?Q?=22Ara=FAjo,_Jos=E9=22?= <jose@cliente.example>") == \
        ("Araújo, José", "jose@cliente.example")


@pytest.mark.parametrize(("value", "name"), [('"Test.org"<test@domain.tld', "Test.org"), ("<test@domain.tld", "")])
def test_angle_address_missing_its_closing_bracket(value: str, name: str) -> None:
    assert sender(value) == (name, "test@domain.tld")
    defects: list[str] = []
    parse_addresses(value, defects)
    assert "address: missing '>' after the last address added" in defects


def test_a_bracket_in_the_middle_is_not_closed_for_it() -> None:
    assert parse_addresses("<a@x.example b@y.example") == []


def test_literal_question_mark_before_the_close() -> None:
    assert decode_words("=?utf-8?Q?Certifica=C3=A7=C3=A3??=") == "Certificaçã?"


def test_escape_split_across_two_words() -> None:
    assert decode_words("=?utf-8?Q?Certifica=?= =?utf-8?Q?C3=A7=C3=A3?=") == "Certificaçã"
    assert decode_words("=?utf-8?Q?x=C?= =?UTF-8?q?3=A7y?=") == "xçy"


def test_words_in_different_charsets_are_not_joined() -> None:
    assert decode_words("=?iso-8859-1?Q?x=?= =?utf-8?Q?C3=A7?=") != "xç"
