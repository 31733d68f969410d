"""format=flowed text/plain (RFC 3676) reads as written (issue 9, held-out).

Cases from nodemailer/mailparser's test/mailparser.js ("Plaintext format":
Flowed, Fixed, DelSp; MIT), with a From line added; the rest byte by byte
after RFC 3676 §4 and what Apple Mail writes (delsp=yes on a long URL).
"""
from __future__ import annotations

from parsers import parse
from parsers.flowed import unflow

HEAD = b"From: Ana <ana@cliente.example>\r\nSubject: t\r\n"


def body(content_type: bytes, text: bytes) -> str:
    return parse(HEAD + b"Content-Type: " + content_type + b"\r\n\r\n" + text).body_text


def test_flowed_lines_join() -> None:
    assert body(b"text/plain; format=flowed", b"First line \r\ncontinued \r\nand so on").strip() == \
        "First line continued and so on"


def test_fixed_lines_stay() -> None:
    assert body(b"text/plain; format=fixed", b"First line \r\ncontinued \r\nand so on").strip() == \
        "First line \ncontinued \nand so on"


def test_delsp_removes_the_wrapping_space() -> None:
    assert body(b"text/plain; format=flowed; delsp=yes", b"First line \r\ncontinued \r\nand so on").strip() == \
        "First linecontinuedand so on"


def test_apple_mail_wrapped_url_is_whole_again() -> None:
    text = b"Veja https://portal.example/chamados/12345/anexos/ \r\nrelatorio-final.pdf\r\nObrigado\r\n"
    got = body(b'text/plain; charset="utf-8"; format="flowed"; DelSp="yes"', text)
    assert "https://portal.example/chamados/12345/anexos/relatorio-final.pdf" in got
    assert got.splitlines()[1] == "Obrigado"


def test_quote_depth_change_ends_a_paragraph() -> None:
    assert unflow("Hi \r\nthere\r\n\r\n> quoted \r\n> more\r\n>> deeper\r\n-- \r\nsig") == \
        "Hi there\n\n> quoted more\n>> deeper\n-- \nsig"


def test_space_stuffing_is_removed_and_quote_marks_kept() -> None:
    assert unflow(" From me\r\n>q") == "From me\n>q"


def test_signature_separator_is_a_hard_break() -> None:
    assert unflow("Regards\r\n-- \r\nAna") == "Regards\n-- \nAna"
