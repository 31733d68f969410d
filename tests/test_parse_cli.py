"""`bso-ingest parse FILE...` through ingest.cli.main: JSON Lines, error lines, exit 1, no traceback."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ingest.cli import main
from tests.conftest import CORPUS, corpus_dir

GOOD = b"From: Ana <ana@example.com>\r\nTo: sup@example.com\r\nSubject: Ol\xc3\xa1\r\n\r\nCorpo\r\n"
NO_SENDER = b"Subject: orphan\r\n\r\nbody\r\n"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Embedded default settings: no settings.toml here, no BSO_INGEST_* from the caller.
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(name)
    return tmp_path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict], str]:
    status = main(["parse", *argv])
    out, err = capsys.readouterr()
    return status, [json.loads(line) for line in out.splitlines()], err


def test_one_json_object_per_file_with_source_as_given(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "a.eml").write_bytes(GOOD)
    (workdir / "sub").mkdir()
    (workdir / "sub" / "b.eml").write_bytes(GOOD.replace(b"Corpo", b"Outro"))
    status, lines, err = _run(["a.eml", "./sub/b.eml"], capsys)
    assert status == 0 and err == ""
    assert [line["source"] for line in lines] == ["a.eml", "./sub/b.eml"]
    assert lines[0]["subject"] == "Olá" and lines[0]["requester"] == {"name": "Ana", "email": "ana@example.com"}
    assert lines[1]["body_text"] == "Outro"
    assert lines[0]["key"] != lines[1]["key"]


def test_unparseable_and_unreadable_files_give_error_lines_and_exit_1(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "good.eml").write_bytes(GOOD)
    (workdir / "orphan.eml").write_bytes(NO_SENDER)
    (workdir / "folder.eml").mkdir()
    status, lines, err = _run(["orphan.eml", "missing.eml", "folder.eml", "good.eml"], capsys)
    assert status == 1
    assert "Traceback" not in err
    assert [line["source"] for line in lines] == ["orphan.eml", "missing.eml", "folder.eml", "good.eml"]
    assert "sender" in lines[0]["error"]
    assert lines[1]["error"].startswith("cannot read file")
    assert lines[2]["error"].startswith("cannot read file")
    assert "error" not in lines[3] and lines[3]["requester"]["email"] == "ana@example.com"


def test_whole_corpus_prints_no_traceback_and_no_unexpected_error(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus_dir("imap_tools")  # skip with a clear message when the corpus is absent
    files = [str(p) for p in sorted(CORPUS.rglob("*.eml"))]
    status, lines, err = _run(files, capsys)
    assert "Traceback" not in err
    assert [line["source"] for line in lines] == files
    unexpected = [line for line in lines if line.get("error", "").startswith("unexpected")]
    assert unexpected == []
    # The only errors are messages with no sender at all.
    assert all("sender" in line["error"] for line in lines if "error" in line)
    assert status == (1 if any("error" in line for line in lines) else 0)


def test_fields_are_the_portal_fields_route_reads(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 9: `parse` printed every field null even for a complete form.
    form = ("Organização: ACME Ltda\nImpacto: Dúvida sobre o produto\nProduto: RM\n"
            "Módulo: Folha de Pagamento\nDireciona atendimento para BSO? Sim\n").encode("utf-8")
    (workdir / "form.eml").write_bytes(GOOD.replace(b"Corpo\r\n", form))
    status, lines, _err = _run(["form.eml"], capsys)
    assert status == 0
    fields = lines[0]["fields"]
    assert (fields["organization"], fields["impact"], fields["product"], fields["module"], fields["bso"]) == (
        "ACME Ltda", "question", "RM", "Folha de Pagamento", True)
