"""`bso-ingest route FILE...`: one JSON line per file explaining the decision."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.cli import main
from tests.conftest import corpus_dir

REPO_SETTINGS = Path(__file__).resolve().parents[1] / "settings.toml"

SETTINGS = """
[zendesk.custom_fields]
product = 11
impact = 12
[routing]
default_group_id = 100
[routing.organizations]
"cliente.com.br" = "T777"
[[routing.rules]]
name = "Protheus"
when = { product = "Protheus" }
set = { group_id = 150 }
[[routing.rules]]
name = "RM Fiscal T777"
when = { organization = "T777", module = ["fiscal", "Livros Fiscais"] }
set = { group_id = 300, tags = ["rm_fiscal"] }
"""

EML = """From: Ana <ana@cliente.com.br>
To: atendimento.bsorm@totvs.com.br
Subject: Erro na apuracao
Message-ID: <cli-1@cliente.com.br>
Date: Tue, 24 Nov 2026 10:00:00 -0300
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Bom dia,
Impacto: Dúvida sobre o produto
Produto: RM
Módulo: Fiscal
""".replace("\n", "\r\n").encode("utf-8")


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *files: str, settings: str | Path = SETTINGS) -> tuple[int, list]:
    if isinstance(settings, str):
        path = tmp_path / "settings.toml"
        path.write_text(settings, encoding="utf-8")
        settings = path
    code = main(["--config", str(settings), "route", *files])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, lines


def test_route_explains_the_decision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eml = tmp_path / "fiscal.eml"
    eml.write_bytes(EML)
    code, lines = run(tmp_path, capsys, str(eml))
    assert code == 0 and len(lines) == 1
    line = lines[0]
    assert line["source"] == str(eml)
    assert line["fields"]["product"] == "RM" and line["fields"]["organization"] == "T777"
    assert line["rule"] == "RM Fiscal T777"
    assert line["conditions"] == [
        {"key": "organization", "holds": True, "why": "organization is 'T777' (from sender domain cliente.com.br)"},
        {"key": "module", "holds": True, "why": "module 'Fiscal' is one of ['fiscal', 'Livros Fiscais']"},
    ]
    assert line["reasons"][0] == "rule 'Protheus' did not match: product is 'RM', not 'Protheus'"
    assert "priority low from impact question" in line["reasons"]
    assert line["zendesk"]["group_id"] == 300
    assert line["zendesk"]["priority"] == "low"
    assert line["zendesk"]["tags"] == ["rm_fiscal", "rule_rm_fiscal_t777"]
    assert line["zendesk"]["custom_fields"] == [{"id": 11, "value": "RM"}, {"id": 12, "value": "question"}]
    assert line["zendesk"]["missing_fields"] == []


def test_one_line_per_file_and_errors_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eml = tmp_path / "fiscal.eml"
    eml.write_bytes(EML)
    missing = tmp_path / "missing.eml"
    code, lines = run(tmp_path, capsys, str(eml), str(missing))
    assert code == 1
    assert [line["source"] for line in lines] == [str(eml), str(missing)]
    assert lines[1]["error"].startswith("cannot read file")


def test_repo_example_rule_on_the_ptbr_folha_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The example rule in settings.toml routes the corpus's RM Folha mail via its domain's code."""
    eml = corpus_dir("ptbr") / "d01_outlook_cp1252_qp_pdf.eml"
    code, lines = run(tmp_path, capsys, str(eml), settings=REPO_SETTINGS)
    assert code == 0
    line = lines[0]
    assert line["rule"] == "RM Folha"
    assert line["zendesk"]["group_id"] == 200
    assert line["zendesk"]["priority"] == "high"
    assert "priority high set by rule 'RM Folha' (impact critical alone gives urgent)" in line["reasons"]


def test_route_shows_the_authentication_verdict_and_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forged = tmp_path / "forged.eml"
    forged.write_bytes(b"Authentication-Results: mx.totvs.com.br; dmarc=fail header.from=cliente.com.br\r\n" + EML)
    plain = tmp_path / "plain.eml"
    plain.write_bytes(EML)
    settings = SETTINGS.replace("[routing]\n", '[security]\ntrusted_authserv_ids = ["mx.totvs.com.br"]\n[routing]\n')
    code, lines = run(tmp_path, capsys, str(forged), str(plain), settings=settings)
    assert code == 0
    auth = lines[0]["authentication"]
    assert (auth["outcome"], auth["policy"], auth["authserv_id"]) == ("fail", "no_thread+tag", "mx.totvs.com.br")
    assert "dmarc=fail" in auth["reason"]
    assert "dmarc_fail" in lines[0]["zendesk"]["tags"]
    assert (lines[1]["authentication"]["outcome"], lines[1]["authentication"]["policy"]) == ("missing", "accept")
