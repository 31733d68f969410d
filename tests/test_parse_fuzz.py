"""Fuzz: generated and mutated messages never crash the parser.

A crash is any exception other than ParseError.  Bounded for CI: a few
hundred examples, no per-example deadline, well under a minute in total.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import ParseError, parse

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "parse").glob("*.eml"))
SEEDS = [path.read_bytes() for path in FIXTURES]

FUZZ = settings(max_examples=int(os.environ.get("BSO_FUZZ_EXAMPLES", "200")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

HEADER_NAMES = st.sampled_from([
    "From", "To", "Cc", "Sender", "Return-Path", "Reply-To", "Subject", "Date", "Message-ID",
    "In-Reply-To", "References", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
    "Content-ID", "MIME-Version", "X-BSO-Route",
])
# Values that tend to break parsers: encoded-words, RFC 2231, odd charsets,
# unbalanced quotes and brackets, raw 8-bit bytes.
TRICKY = st.sampled_from([
    b"=?utf-8?B?", b"=?iso-8859-1?Q?a=E9?=", b"=?x-bogus?Q?x?=", b"=?utf-8?B?w6c?=", b"filename*0*=utf-8''%C3",
    b"boundary=\"b\"", b"multipart/mixed", b"message/rfc822", b"application/ms-tnef", b"base64", b"quoted-printable",
    b"<", b">", b"\"", b"(", b")", b"\\", b";", b",", b"@", b"\xe9", b"\xc3\xa7", b"\xff\xfe", b"\x00", b"\r\n", b"\n ",
    b"--b", b"--b--", b"cid:", b"report-type=delivery-status", b"uuencode", b"begin 644 x\n",
])
VALUE = st.lists(st.one_of(TRICKY, st.binary(max_size=12)), max_size=8).map(b"".join)


def _must_not_crash(raw: bytes) -> None:
    try:
        email = parse(raw)
    except ParseError as exc:
        assert str(exc)
        return
    json.loads(email.model_dump_json())  # what `bso-ingest parse` prints must serialise


@FUZZ
@given(headers=st.lists(st.tuples(HEADER_NAMES, VALUE), max_size=10), body=VALUE)
def test_generated_messages(headers: list[tuple[str, bytes]], body: bytes) -> None:
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body
    _must_not_crash(raw)


@FUZZ
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_mutated_fixtures(seed: bytes, data: st.DataObject) -> None:
    raw = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        position = data.draw(st.integers(0, len(raw)), label="position")
        action = data.draw(st.sampled_from(["insert", "delete", "flip"]), label="action")
        if action == "insert":
            raw[position:position] = data.draw(st.one_of(TRICKY, st.binary(max_size=8)), label="insert")
        elif action == "delete":
            del raw[position:position + data.draw(st.integers(1, 40), label="length")]
        elif position < len(raw):
            raw[position] ^= data.draw(st.integers(1, 255), label="xor")
    _must_not_crash(bytes(raw))


def test_deep_nesting_is_not_a_crash() -> None:
    depth = 400
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    raw = ("From: a@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + head + "\r\nx\r\n").encode()
    _must_not_crash(raw)


def test_unlookupable_charset_on_an_attached_message_is_not_a_crash() -> None:
    # Found by test_mutated_fixtures: get_payload() looks the declared charset
    # up in the codec registry and raises on a NUL in its name.
    for charset in (b"utf\x00-8", b"\xf5x"):
        raw = (b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
               b"Content-Type: message/rfc822\r\n\r\n"
               b"Subject: inner\r\nContent-Type: text/plain; charset=" + charset + b"\r\n\r\nol\xe1\r\n--b--\r\n")
        email = parse(raw)
        assert [a.filename.endswith(".eml") for a in email.attachments] == [True]
