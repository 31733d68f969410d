"""Issue 9, class 5: header blocks that do not start at byte 0, one bad line, obsolete syntax.

Sources: RFC 5322 appendix A.6.3 (obsolete white space and comments) as
shipped in the shared corpus (imap_tools rfc2822/example13.eml) and
imap_tools' raw_email_incorrect_header.eml; the other fixtures are written
byte by byte after the shapes in the issue (an mbox export, a forward saved
with a separator line on top).
"""
from __future__ import annotations

import pytest

from parsers import ParseError, parse
from parsers.header_block import recover
from tests.conftest import corpus_dir

HEADERS = (
    b"From: =?utf-8?Q?Jo=C3=A3o?= <joao@cliente.example>\n"
    b"To: suporte@example.com\n"
    b"Subject: Erro na folha\n"
    b"Date: Fri, 27 Nov 2026 08:00:00 -0300\n"
    b"Message-ID: <m1@cliente.example>\n"
)
BODY = b"\nA folha parou.\n"


def _sender(raw: bytes) -> tuple[str, str]:
    email = parse(raw)
    return email.requester.name, email.requester.email


@pytest.mark.parametrize("prefix", [
    b"From joao@cliente.example Fri Nov 27 08:00:00 2026\n",          # mbox envelope
    b"------------------------------------------------------------\n",  # separator line
    b"\n",                                                            # a blank line first
    b"-------- Mensagem original --------\n",
    b"From joao@cliente.example Fri Nov 27 08:00:00 2026\n=====================\n",
])
def test_header_block_after_leading_lines(prefix: bytes) -> None:
    raw = prefix + HEADERS + BODY
    email = parse(raw)
    assert (email.requester.name, email.requester.email) == ("João", "joao@cliente.example")
    assert email.subject == "Erro na folha" and email.body_text == "A folha parou."
    if not prefix.startswith(b"From "):
        assert any(d.startswith("header block: skipped") for d in email.defects)


def test_one_malformed_line_among_valid_headers() -> None:
    raw = b"Received: by mx.example.com; Fri, 27 Nov 2026 08:00:01 -0300\nquite Delivered-To: x@example.com\n" + HEADERS + BODY
    email = parse(raw)
    assert email.requester.email == "joao@cliente.example"
    assert "header block: line 2 is not a header; read as a continuation" in email.defects
    assert email.body_text == "A folha parou."
    assert email.header("received") == ("by mx.example.com; Fri, 27 Nov 2026 08:00:01 -0300 "
                                        "quite Delivered-To: x@example.com")


def test_a_folded_line_that_lost_its_white_space_stays_with_its_header() -> None:
    raw = (b"From: Ana <ana@cliente.example>\nTo: suporte@example.com,\noutro@example.com\n"
           b"Subject: Erro na emissao\nda nota\nDate: Fri, 27 Nov 2026 08:00:00 -0300\n\ncorpo\n")
    email = parse(raw)
    assert email.to == ["suporte@example.com", "outro@example.com"]
    assert email.subject == "Erro na emissao da nota"
    assert email.body_text == "corpo"


def test_obsolete_white_space_before_the_colon() -> None:
    raw = HEADERS.replace(b"From:", b"From  :").replace(b"Subject:", b"Subject\t:") + BODY
    email = parse(raw)
    assert email.requester.email == "joao@cliente.example" and email.subject == "Erro na folha"
    assert any("obsolete white space" in d and "From, Subject" in d for d in email.defects)


def test_rfc5322_appendix_a_6_3() -> None:
    email = parse((corpus_dir("imap_tools") / "rfc2822__example13.eml").read_bytes())
    assert email.requester.email == "jdoe@machine.example"
    assert email.to == ["mary@example.net"]
    assert email.subject == "Saying Hello"
    assert email.message_id == "<1234@local.machine.example>"
    assert email.body_text.startswith("This is a message just to say hello.")


def test_imap_tools_incorrect_header() -> None:
    email = parse((corpus_dir("imap_tools") / "plain_emails__raw_email_incorrect_header.eml").read_bytes())
    assert (email.requester.name, email.requester.email) == ("xxx xxx", "xxx@xxx.xxx")
    assert email.subject == "Stop adware/spyware once and for all."
    assert email.body_text.startswith("You are infected with:")


def test_correct_mail_is_returned_as_the_same_bytes() -> None:
    raw = b"From sender@example Fri Nov 27 08:00:00 2026\n" + HEADERS + b"X-Folded: a\n b\n" + BODY
    repaired, defects = recover(raw)
    assert repaired is raw and defects == []


def test_body_without_a_blank_line_stays_body() -> None:
    # "Obs: ..." is not a known header name: no header block continues after the prose.
    raw = HEADERS + b"Oi, a folha parou.\nObs: urgente\n"
    email = parse(raw)
    assert email.body_text == "Oi, a folha parou.\nObs: urgente"
    assert not any(d.startswith("header block") for d in email.defects)


def test_no_address_is_guessed_from_a_phrase() -> None:
    raw = b"----\nFrom: Joao da Silva joao at cliente\nSubject: x\nDate: Fri, 27 Nov 2026 08:00:00 -0300\n\nbody\n"
    with pytest.raises(ParseError, match="no usable sender"):
        parse(raw)


def test_prose_with_colons_is_not_taken_for_a_header_block() -> None:
    # Headerless text: no header block with two known names anywhere in its first lines.
    raw = b"Bom dia\nSegue: o erro\nAtt: Ana\n\nFrom: Ana\n"
    assert recover(raw) == (raw, [])
