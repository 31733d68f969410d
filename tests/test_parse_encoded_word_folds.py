"""An encoded-word cut by a line fold inside an escape (issue 9, held-out).

Sparrow folded `Subject: abc=?utf-8?Q?=C3=B6=C` / ` 3=B5=C3=BC?=`: the fold
lands inside "=C3".  Case from nodemailer/mailparser test/mailparser.js
("Mime Words with invalid linebreaks (Sparrow)", MIT), From line added.
A raw space elsewhere in a Q word is what broken encoders write for "_",
and stays a space.
"""
from __future__ import annotations

from parsers import parse
from parsers.charsets import decode_words


def test_sparrow_fold_inside_an_escape() -> None:
    raw = (b"From: a@example.com\r\nContent-type: text/plain; charset=utf-8\r\n"
           b"Subject: abc=?utf-8?Q?=C3=B6=C\r\n 3=B5=C3=BC?=")
    assert parse(raw).subject == "abcöõü"


def test_fold_right_after_the_equals_sign() -> None:
    assert decode_words("=?utf-8?Q?Relat=\t C3=B3rio?=") == "Relatório"


def test_a_raw_space_in_a_q_word_stays_a_space() -> None:
    assert decode_words("=?utf-8?Q?Ol=C3=A1 mundo?=") == "Olá mundo"


def test_filename_with_the_same_fold() -> None:
    raw = (b"From: a@example.com\r\nSubject: x\r\nContent-Type: application/pdf;\r\n"
           b' name="=?utf-8?Q?Relat=C3=B3rio_=C\r\n 3=A7=C3=A3o.pdf?="\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n')
    assert [a.filename for a in parse(raw).attachments] == ["Relatório ção.pdf"]
