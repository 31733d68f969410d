"""parse(): the model fields, attachments rules, key, headers and requester."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from parsers import ParseError, parse

FIXTURES = Path(__file__).parent / "fixtures" / "parse"

SIMPLE = (
    b"Received: from mx1.example.com by mx.example.com; Fri, 27 Nov 2026 08:00:01 -0300\r\n"
    b"From: =?utf-8?Q?Silva=2C_Jo=C3=A3o?= <Joao@Example.com>\r\n"
    b"To: Suporte <SUPORTE@example.com>\r\n"
    b'Cc: "Costa, Pedro" <pedro@example.com>, maria@example.com\r\n'
    b"Reply-To: Outro <outro@example.com>\r\n"
    b"Subject: =?utf-8?B?RMO6dmlkYSBzb2JyZQ==?=\r\n o produto\r\n"
    b"Date: Fri, 27 Nov 2026 08:00:00 -0300\r\n"
    b"Message-ID: <m1@example.com>\r\n"
    b"X-BSO-Route: vip\r\n"
    b"x-bso-skip: yes\r\n"
    b"\r\n"
    b"Corpo.\r\n"
)


def test_fields_of_a_simple_message() -> None:
    email = parse(SIMPLE)
    assert email.requester.name == "Silva, João" and email.requester.email == "joao@example.com"
    assert email.to == ["suporte@example.com"]
    assert email.cc == ["pedro@example.com", "maria@example.com"]
    assert [(a.name, a.email) for a in email.reply_to] == [("Outro", "outro@example.com")]
    assert email.subject == "Dúvida sobre o produto"
    assert email.message_id == "<m1@example.com>"
    assert email.date == datetime(2026, 11, 27, 8, 0, tzinfo=timezone(timedelta(hours=-3)))
    assert email.body_text == "Corpo."
    assert email.mime_type == "text/plain" and email.report_type is None


def test_forged_control_headers_are_stripped_and_noted() -> None:
    email = parse(SIMPLE)
    assert not [name for name in email.headers if name.startswith("x-bso-")]
    assert email.header("X-BSO-Route") is None
    assert any("x-bso-route" in d and "x-bso-skip" in d for d in email.defects)


def test_headers_are_decoded_lowercased_and_in_order() -> None:
    email = parse(SIMPLE)
    assert list(email.headers)[:3] == ["received", "from", "to"]
    assert email.header("Subject") == "Dúvida sobre o produto"
    assert email.header("from") == "Silva, João <Joao@Example.com>"


def test_same_mail_delivered_twice_keeps_its_key() -> None:
    again = b"Received: from mx2.example.net by mx.example.com; Sat, 28 Nov 2026 01:00:00 +0000\r\n" + SIMPLE
    assert parse(again).key == parse(SIMPLE).key
    # Maildir hands over LF line ends where IMAP gave CRLF.
    assert parse(SIMPLE.replace(b"\r\n", b"\n")).key == parse(SIMPLE).key


@pytest.mark.parametrize("change", [
    (b"Corpo.", b"Outro corpo."),
    (b"Subject: =?utf-8?B?RMO6dmlkYSBzb2JyZQ==?=", b"Subject: Outro assunto"),
    (b"maria@example.com", b"jose@example.com"),
    (b"Date: Fri, 27 Nov 2026 08:00:00", b"Date: Sat, 28 Nov 2026 08:00:00"),
])
def test_reused_message_id_with_other_content_gets_another_key(change: tuple[bytes, bytes]) -> None:
    changed = SIMPLE.replace(*change)
    assert changed != SIMPLE
    assert parse(changed).message_id == parse(SIMPLE).message_id
    assert parse(changed).key != parse(SIMPLE).key


def test_key_is_sha256_hex() -> None:
    key = parse(SIMPLE).key
    assert len(key) == 64 and int(key, 16) >= 0


@pytest.mark.parametrize(("headers", "expected"), [
    (b"Sender: Real Sender <sender@example.com>\r\n", "sender@example.com"),
    (b"From: not an address\r\nSender: sender@example.com\r\n", "sender@example.com"),
    (b"Return-Path: <bounces@example.com>\r\n", "bounces@example.com"),
])
def test_requester_falls_back_to_sender_then_return_path(headers: bytes, expected: str) -> None:
    email = parse(headers + b"Subject: x\r\n\r\nbody\r\n")
    assert email.requester.email == expected
    assert any("requester taken from" in d for d in email.defects)


@pytest.mark.parametrize("raw", [
    b"Subject: no sender at all\r\n\r\nbody\r\n",
    b"From: undisclosed\r\nReturn-Path: <>\r\nSubject: x\r\n\r\nbody\r\n",
    b"",
])
def test_no_sender_is_a_clear_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse(raw)
    assert str(info.value)


def test_reply_threading_ids_keep_angle_brackets() -> None:
    email = parse((FIXTURES / "forward_as_attachment.eml").read_bytes())
    assert email.in_reply_to == "<parent@example.com>"
    assert email.references == ["<root@example.com>", "<parent@example.com>"]


def test_split_body_around_inline_image() -> None:
    email = parse((FIXTURES / "iphone_split_body.eml").read_bytes())
    assert email.requester.name == "João Gonçalves"
    assert email.requester.email == "joao.goncalves@example.com.br"
    assert email.subject == "Erro na emissão"  # raw 8-bit Latin-1 header
    assert "A emissão da nota falha" in email.body_text
    assert "Enviado do meu iPhone" in email.body_text
    assert [(a.filename, a.content_type, a.inline) for a in email.attachments] == [
        ("IMG_0001.jpeg", "image/jpeg", True)]


def test_bounce_report_parts_are_not_attachments() -> None:
    email = parse((FIXTURES / "bounce_report.eml").read_bytes())
    assert email.mime_type == "multipart/report"
    assert email.report_type == "delivery-status"
    assert email.attachments == []
    assert email.body_text == "Não foi possível entregar a mensagem."
    assert email.header("auto-submitted") == "auto-replied"


def test_attached_message_becomes_an_eml_and_its_text_is_shown() -> None:
    email = parse((FIXTURES / "forward_as_attachment.eml").read_bytes())
    assert [(a.filename, a.content_type) for a in email.attachments] == [("attachment-1.eml", "message/rfc822")]
    assert email.attachments[0].content.startswith(b"From: Pedro <pedro@example.org>")
    assert email.body_text.startswith("Veja a mensagem abaixo.")
    assert "O fechamento do mês trava em 90%." in email.body_text
    assert "Subject: fechamento travado" in email.body_text
    assert email.cc == ["chefe@example.org"]


def _mixed(*parts: str) -> bytes:
    body = "".join(f"--b\r\n{p}\r\n" for p in parts)
    return ("From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/mixed; boundary="b"\r\n\r\n{body}--b--\r\n').encode()


def test_text_attachment_is_not_mistaken_for_body() -> None:
    email = parse(_mixed(
        "Content-Type: text/plain\r\n\r\nthe body",
        'Content-Type: text/plain; name="log.txt"\r\nContent-Disposition: attachment; filename="log.txt"\r\n\r\nERROR 1',
        "Content-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nunnamed file",
    ))
    assert email.body_text == "the body"
    assert [a.filename for a in email.attachments][0] == "log.txt"
    assert email.attachments[1].filename.endswith(".txt") and email.attachments[1].content == b"unnamed file"


def test_inline_is_true_for_parts_the_html_references_by_cid() -> None:
    email = parse(_mixed(
        'Content-Type: text/html\r\n\r\n<p>logo: <img src="cid:logo@x"></p>',
        "Content-Type: image/png; name=logo.png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw==",
        "Content-Type: image/png; name=other.png\r\nContent-ID: <other@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw==",
    ))
    by_name = {a.filename: a for a in email.attachments}
    assert by_name["logo.png"].inline is True and by_name["logo.png"].content_id == "logo@x"
    assert by_name["other.png"].inline is False
    assert email.body_text == "logo:"


def test_json_contract_field_names() -> None:
    data = parse(SIMPLE).model_dump(mode="json")
    for name in ("key", "message_id", "date", "requester", "reply_to", "subject", "body_text", "body_html",
                 "to", "cc", "in_reply_to", "references", "attachments", "defects", "mime_type", "report_type"):
        assert name in data
    assert "headers" not in data  # internal: not part of the CLI contract


def test_domainless_mailer_daemon_bounce_still_parses() -> None:
    # Old sendmail bounces: the classifier must see them, not a ParseError.
    raw = (b"Return-Path: <MAILER-DAEMON>\r\nFrom: Mail Delivery Subsystem <MAILER-DAEMON>\r\n"
           b"Subject: Returned mail\r\n\r\nUser unknown\r\n")
    email = parse(raw)
    assert email.requester.email == "mailer-daemon"
    assert email.requester.name == "Mail Delivery Subsystem"
    with pytest.raises(ParseError):
        parse(b"From: Someone <someone>\r\nSubject: x\r\n\r\nbody\r\n")


@pytest.mark.parametrize(("value", "expected"), [
    ("Mon, 30 Nov 2026 10:05:47 -0300 (BRT)", datetime(2026, 11, 30, 13, 5, 47, tzinfo=timezone.utc)),
    ("30 Nov 2026 10:05:47 GMT", datetime(2026, 11, 30, 10, 5, 47, tzinfo=timezone.utc)),
    ("Mon, 30 Nov 2026 10:05:47", datetime(2026, 11, 30, 10, 5, 47, tzinfo=timezone.utc)),
    ("yesterday at noon", None),
])
def test_dates_are_aware_or_none(value: str, expected: datetime | None) -> None:
    email = parse(f"From: a@example.com\r\nDate: {value}\r\n\r\nx\r\n".encode())
    assert email.date == expected
    if expected is not None:
        assert email.date is not None and email.date.tzinfo is not None
    else:
        assert any(d.startswith("date:") for d in email.defects)
