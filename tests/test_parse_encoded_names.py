"""Issue 9, class 3: display names whose encoded-words hold specials (a comma).

Outlook/Exchange writes "Sobrenome, Nome" as one Q- or B-encoded word, with the
comma inside it.  The fixtures are written byte by byte after the shape in
the issue; RFC 2047 §5 forbids the comma there, but mail clients decode it.
"""
from __future__ import annotations

import pytest

from parsers import parse
from parsers.addresses import parse_addresses


@pytest.mark.parametrize("header", [
    "=?iso-8859-1?Q?Ara=FAjo,=20Jos=E9?= <jose@cliente.example>",
    "=?iso-8859-1?B?QXJh+mpvLCBKb3Pp?= <jose@cliente.example>",
    "=?iso-8859-1?Q?Ara=FAjo,?= =?iso-8859-1?Q?_Jos=E9?= <jose@cliente.example>",
    '"=?iso-8859-1?Q?Ara=FAjo,=20Jos=E9?=" <jose@cliente.example>',
    "=?windows-1252?Q?Ara=FAjo=2C_Jos=E9?= <JOSE@cliente.example>",
])
def test_one_person_whose_name_holds_a_comma(header: str) -> None:
    defects: list[str] = []
    assert [(a.name, a.email) for a in parse_addresses(header, defects)] == [("Araújo, José", "jose@cliente.example")]
    assert defects == []


def test_a_list_of_such_names_splits_between_people() -> None:
    header = ("=?iso-8859-1?Q?Ara=FAjo,=20Jos=E9?= <jose@cliente.example>, "
              "=?utf-8?Q?Concei=C3=A7=C3=A3o,_Maria?= <maria@cliente.example>,ana@cliente.example")
    assert [(a.name, a.email) for a in parse_addresses(header)] == [
        ("Araújo, José", "jose@cliente.example"),
        ("Conceição, Maria", "maria@cliente.example"),
        ("", "ana@cliente.example"),
    ]


def test_requester_and_cc_of_a_whole_message() -> None:
    raw = (
        b"From: =?iso-8859-1?Q?Ara=FAjo,=20Jos=E9?= <jose@cliente.example>\r\n"
        b"To: suporte@example.com\r\n"
        b"Cc: =?iso-8859-1?Q?Ara=FAjo,=20Jo=E3o?= <joao@cliente.example>, outro@cliente.example\r\n"
        b"Subject: erro\r\n\r\ncorpo\r\n"
    )
    email = parse(raw)
    assert (email.requester.name, email.requester.email) == ("Araújo, José", "jose@cliente.example")
    assert email.cc == ["joao@cliente.example", "outro@cliente.example"]
    assert not any(d.startswith("address:") for d in email.defects)


def test_an_encoded_word_cannot_inject_an_address() -> None:
    # The decoded text looks like a second mailbox; it is a name, not an address.
    header = "=?utf-8?Q?evil=40attacker.example,_x?= <real@cliente.example>"
    assert [(a.name, a.email) for a in parse_addresses(header)] == [("evil@attacker.example, x", "real@cliente.example")]
