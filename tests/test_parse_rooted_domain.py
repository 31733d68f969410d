"""A sender domain written with the DNS root dot (issue 9, held-out Zammad mail044).

`From: "Clement.Si" <Claudia.Shu@yahoo.com.>` (Foxmail 4.1) was rejected by
the address scanner, so the requester fell back to Return-Path and lost the
name.  Header written after zammad/test/data/mail/mail044.box.
"""
from __future__ import annotations

from parsers import parse
from parsers.addresses import parse_addresses

RAW = (b'Return-Path: <other@bounce.example>\r\nFrom: "Clement.Si" <Claudia.Shu@yahoo.com.>\r\n'
       b"To: abuse@domain.com\r\nSubject: x\r\n\r\nbody\r\n")


def test_rooted_domain_keeps_the_from() -> None:
    email = parse(RAW)
    assert (email.requester.name, email.requester.email) == ("Clement.Si", "claudia.shu@yahoo.com")
    defects: list[str] = []
    parse_addresses('"Clement.Si" <Claudia.Shu@yahoo.com.>', defects)
    assert defects == ["address: trailing dot after the domain removed"]


def test_bare_and_commented_forms() -> None:
    assert [a.email for a in parse_addresses("Claudia.Shu@yahoo.com.")] == ["claudia.shu@yahoo.com"]
    assert [a.email for a in parse_addresses("x@y.example. (c), z@w.example")] == ["x@y.example", "z@w.example"]


def test_double_dot_is_still_invalid() -> None:
    assert parse_addresses("a@b.example..") == []
