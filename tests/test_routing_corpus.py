"""Every corpus message that parses can be routed: no crash on real-world shapes."""
from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import route_stage as route
from ingest.settings import load_settings
from parsers import ParseError, parse
from tests.conftest import corpus_dir

REPO_SETTINGS = Path(__file__).resolve().parents[1] / "settings.toml"


def test_route_every_corpus_message() -> None:
    settings = load_settings(REPO_SETTINGS, environ={})
    routed = 0
    for path in sorted(corpus_dir("").rglob("*.eml")):
        try:
            email = parse(path.read_bytes())
        except ParseError:
            continue  # the parser's tests own these
        result = route(email, settings)
        assert result.group_id == 100 or result.rule is not None, path.name
        assert result.reasons, path.name
        routed += 1
    assert routed > 200


@pytest.mark.parametrize(
    ("name", "rule", "priority", "missing"),
    [
        ("d01_outlook_cp1252_qp_pdf", "RM Folha", "high", []),
        ("d13_raw_8bit_subject_loose_impact", None, "urgent", []),
        ("d15_cpf_cnpj_question", None, "low", []),
        ("d03_outlook_res_reply", None, None, ["organization", "impact", "product", "module"]),
    ],
)
def test_ptbr_decisions_with_the_repo_settings(name: str, rule: str | None, priority: str | None,
                                               missing: list[str]) -> None:
    email = parse((corpus_dir("ptbr") / f"{name}.eml").read_bytes())
    result = route(email, load_settings(REPO_SETTINGS, environ={}))
    assert (result.rule, result.priority, result.missing_fields) == (rule, priority, missing)
    assert ("dados_incompletos" in result.tags) == bool(missing)
