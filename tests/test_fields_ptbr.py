"""Portal fields on every ptbr corpus message match NAME.expected.json `fields`."""
from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from tests.conftest import corpus_dir, corpus_files
from parsers import parse
from parsers.fields import extract_fields

PTBR = corpus_files("ptbr")


def expected_fields(path: Path) -> dict[str, object]:
    return json.loads(path.with_name(path.stem + ".expected.json").read_text(encoding="utf-8"))["fields"]


def test_corpus_present() -> None:
    assert len(list(corpus_dir("ptbr").glob("*.eml"))) >= 15


@pytest.mark.parametrize("path", PTBR, ids=[p.stem for p in PTBR])
def test_fields_match_expected(path: Path) -> None:
    expected = expected_fields(path)
    got = extract_fields(parse(path.read_bytes())).model_dump()
    # Only the keys the corpus states are compared (it has no request_type, country, ...).
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize("path", PTBR, ids=[p.stem for p in PTBR])
def test_fields_from_the_html_alternative_alone(path: Path) -> None:
    """The HTML part on its own yields the same fields (tables, blockquotes, Outlook blocks)."""
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    html = msg.get_body(preferencelist=("html",))
    if html is None:
        pytest.skip("no text/html part")
    parsed = parse(path.read_bytes()).model_copy(update={"body_text": "", "body_html": html.get_content()})
    expected = expected_fields(path)
    got = extract_fields(parsed).model_dump()
    assert {k: got[k] for k in expected} == expected


def test_usuarios_em_copia_become_cc_users() -> None:
    path = corpus_dir("ptbr") / "d01_outlook_cp1252_qp_pdf.eml"
    assert extract_fields(parse(path.read_bytes())).cc_users == [
        "mariana.teixeira@metalurgica-exemplo.com.br",
        "antonio.mendes@metalurgica-exemplo.com.br",
    ]
