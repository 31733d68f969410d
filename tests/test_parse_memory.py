"""Parsing big mail without whole-size copies gives the same results as the plain stdlib way."""
from __future__ import annotations

import base64
import email
import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sys

import parsers.message_key as message_key_module
import parsers.parts as parts_module
from parsers import parse
from parsers.parse import _POLICY

parse_module = sys.modules["parsers.parse"]  # the package exports the function under the same name


def old_key_body(raw: bytes) -> bytes:
    return message_key_module.split_raw(raw)[1].replace(b"\r\n", b"\n")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300).map(lambda b: b.replace(b"x", b"\r").replace(b"y", b"\n")), st.integers(1, 7))
def test_the_key_hashes_the_body_slice_by_slice_as_it_would_whole(body: bytes, step: int) -> None:
    raw = b"From: a@b.c\r\nSubject: s\r\n\r\n" + body
    digest = hashlib.sha256()
    old = message_key_module._SLICE
    message_key_module._SLICE = step
    try:
        message_key_module._update_lf(digest, raw, raw.index(b"\r\n\r\n") + 4)
    finally:
        message_key_module._SLICE = old
    assert digest.digest() == hashlib.sha256(old_key_body(raw)).digest()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from([76, 64, 4, 13]), st.integers(4, 40))
def test_base64_slices_decode_as_the_stdlib_does(data: bytes, width: int, step: int) -> None:
    encoded = base64.b64encode(data).decode()
    text = "\r\n".join(encoded[i : i + width] for i in range(0, len(encoded), width)) + "\r\n"
    old = parts_module._SLICE
    parts_module._SLICE = step
    try:
        assert parts_module._decode_base64_slices(text) == data
    finally:
        parts_module._SLICE = old


@pytest.mark.parametrize("bad", ["QUJD*REVG\r\n", "QUJD\r\nRA==\r\nRUZH\r\n", "QUJDRA\r\n", "QUJDé\r\n"])
def test_base64_that_is_not_clean_is_left_to_the_stdlib(bad: str) -> None:
    assert parts_module._decode_base64_slices(bad) is None


def test_a_big_attachment_parses_to_the_same_email_as_the_whole_message_way(monkeypatch: pytest.MonkeyPatch) -> None:
    video = os.urandom(3 * 1024 * 1024 + 5)
    msg = email.message.EmailMessage()
    msg["From"] = "Cliente <c@empresa.com.br>"
    msg["To"] = "atendimento.bsorm@totvs.com.br"
    msg["Subject"] = "Vídeo"
    msg["Message-ID"] = "<v@empresa.com.br>"
    msg.set_content("Segue o vídeo.\n")
    msg.add_attachment(video, maintype="video", subtype="mp4", filename="erro.mp4")
    raw = msg.as_bytes(policy=email.policy.SMTP)
    sliced = parse(raw)
    monkeypatch.setattr(parse_module, "_message_tree", lambda r: email.message_from_bytes(r, policy=_POLICY))
    monkeypatch.setattr(parts_module, "_BIG_PAYLOAD", 1 << 62)
    whole = parse(raw)
    assert sliced == whole
    assert sliced.attachments[0].content == video
