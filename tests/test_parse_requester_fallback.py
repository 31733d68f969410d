"""Requester when From holds no address (issue 9, held-out Zammad mail019).

Outlook Express and some web mailers write `From: "name" <>`: a null mailbox.
The author's own mailbox is then in Reply-To; Return-Path is the envelope
sender (a bounce address), so it comes after Reply-To.  Messages written
byte by byte after zammad/test/data/mail/mail019.box.
"""
from __future__ import annotations

import pytest

from parsers import ParseError, parse

NULL_FROM = (
    b'From: "=?GB2312?B?ztI=?=" <>\r\n'
    b"To: someone@example.com\r\n"
    b"Reply-To: <vipyiming@126.com>\r\n"
    b"Return-Path: <bounce-123@mailer.example>\r\n"
    b"Subject: hi\r\n"
    b"\r\n"
    b"body\r\n"
)


def test_null_from_takes_reply_to_before_return_path() -> None:
    email = parse(NULL_FROM)
    assert email.requester.email == "vipyiming@126.com"
    assert any("requester taken from Reply-To" in d for d in email.defects)


def test_a_valid_from_wins_over_reply_to() -> None:
    raw = NULL_FROM.replace(b'"=?GB2312?B?ztI=?=" <>', b"Ana <ana@cliente.example>")
    email = parse(raw)
    assert email.requester.email == "ana@cliente.example"
    assert not any("requester taken" in d for d in email.defects)


def test_no_address_anywhere_is_still_a_parse_error() -> None:
    raw = NULL_FROM.replace(b"Reply-To: <vipyiming@126.com>\r\n", b"").replace(
        b"Return-Path: <bounce-123@mailer.example>\r\n", b"Return-Path: <>\r\n")
    with pytest.raises(ParseError, match="Reply-To"):
        parse(raw)


def test_a_dmarc_pass_does_not_vouch_for_a_reply_to_requester() -> None:
    from parsers.classify.authentication import authenticate
    from parsers.classify.security import SecuritySettings

    raw = (b"Authentication-Results: mx.totvs.com.br; dmarc=pass\r\n" + NULL_FROM)
    verdict = authenticate(parse(raw), SecuritySettings(trusted_authserv_ids=["mx.totvs.com.br"]))
    assert verdict.outcome == "none"
    assert "not the From author" in verdict.reason
