"""x-uuencode parts without a `begin` line (issue 9, held-out Zammad mail078).

Eudora-era Mac mailers name the file in Content-Type/Content-Disposition and
send only the encoded lines.  The attachment kept its encoded text.  The
part below is zammad/test/data/mail/mail078-content_transfer_encoding_x_uuencode.box's,
cut to the part; prose mislabelled x-uuencode must stay as it came.
"""
from __future__ import annotations

from parsers import parse
from parsers.uuencode import decode

PART = (
    b'From: "Lon L. Peters" <lpeters@example.com>\r\nSubject: PGP\r\nMime-Version: 1.0\r\n'
    b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
    b"--B\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n"
    b'--B\r\nContent-Type: application/msword; name="PGP_Cmts.txt"\r\n'
    b'Content-Disposition: attachment; filename="PGP_Cmts.txt"\r\n'
    b"Content-Transfer-Encoding: x-uuencode\r\n\r\n"
    b",2&5L;&\\@6F%M;6%D\r\n`\r\n--B--\r\n"
)


def test_headless_uuencoded_part_is_decoded() -> None:
    email = parse(PART)
    assert [(a.filename, a.content) for a in email.attachments] == [("PGP_Cmts.txt", b"Hello Zammad")]
    assert not any("uuencoded part without" in d for d in email.defects)


def test_trailing_end_line_without_begin() -> None:
    assert decode(b",2&5L;&\\@6F%M;6%D\r\n`\r\nend\r\n").data == b"Hello Zammad"


def test_prose_labelled_x_uuencode_is_not_decoded() -> None:
    assert decode(b"Hello, this is just text.\r\nSecond line\r\n") is None
