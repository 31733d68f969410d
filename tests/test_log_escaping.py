"""Values from mail never forge a log line or drive a terminal.

A Subject or Message-ID with an encoded CR/LF (RFC 2047 `=0D=0A`) decodes to
real line breaks; the text log format and `quarantine list` show them escaped.
"""
from __future__ import annotations

import io
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.ledger import Ledger
from ingest.logs import TextFormatter, escape_controls
from ingest.outcomes import Quarantined
from ingest.pipeline import Pipeline
from ingest.settings import Settings
from ingest.sink import DryRunSink
from ingest.source import RawMessage

FORGED = "Pedido\r\n2026-12-02 07:00:00,000 ERROR ingest.service: forged line\x1b[2J"


def test_escape_controls() -> None:
    assert escape_controls("a\r\nb\x1b[31mc\u2028d\te\x85f\x7f") == "a\\r\\nb\\x1b[31mc\\u2028d\te\\x85f\\x7f"
    assert escape_controls("São Paulo – ação") == "São Paulo – ação"


def test_a_text_log_line_stays_one_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("test.escaping")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("quarantined subject=%s", FORGED)
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert out.count("\n") == 1 and "\x1b" not in out
    assert "Pedido\\r\\n2026-12-02" in out


def test_pipeline_log_of_an_encoded_crlf_message_id(caplog: pytest.LogCaptureFixture) -> None:
    raw = (b"From: Ana <ana@cliente.com.br>\r\nTo: atendimento.bsorm@totvs.com.br\r\n"
           b"Subject: =?utf-8?q?Oi=0D=0A2026-12-02_ERROR_forged?=\r\n"
           b"Message-ID: <a=0D=0Ab@cliente.com.br>\r\n\r\nTexto.\r\n")
    settings = Settings()
    pipe = Pipeline(Ledger.in_memory(), DryRunSink(settings, io.StringIO()), settings)
    caplog.set_level(logging.INFO, logger="ingest")
    handler = logging.StreamHandler(stream := io.StringIO())
    handler.setFormatter(TextFormatter("%(message)s"))
    logging.getLogger("ingest").addHandler(handler)
    try:
        pipe.process(RawMessage(ref="1:1", raw=raw, origin="test\r\nuid 1"))
    finally:
        logging.getLogger("ingest").removeHandler(handler)
    lines = [ln for ln in stream.getvalue().splitlines() if ln]
    assert lines and all(not ln.startswith("2026-12-02") for ln in lines)
    assert any("test\\r\\nuid 1" in ln for ln in lines)


def test_quarantine_list_shows_control_characters_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(key)
    db = tmp_path / "ledger.sqlite3"
    config = tmp_path / "settings.toml"
    config.touch()
    monkeypatch.setenv("BSO_INGEST_CONFIG", str(config))
    monkeypatch.setenv("BSO_INGEST_LEDGER__URL", f"sqlite:///{db}")
    now = datetime(2026, 12, 2, 7, 0, tzinfo=timezone.utc)
    ledger = Ledger.from_url(f"sqlite:///{db}")
    claim = ledger.claim("k1", message_id="<k1@x>", sender="ana@cliente.com.br", subject=FORGED, ref="1:1", now=now)
    assert claim.lease is not None
    ledger.record(claim.lease, Quarantined("Zendesk rejected: subject\x1b]0;pwned\x07"), now)
    ledger.close()

    assert main(["quarantine", "list"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "Pedido\\r\\n" in out and "\\x1b]0;pwned\\x07" in out
    assert len(out.splitlines()) == 3  # header, one row, the count
    assert main(["quarantine", "list", "--json"]) == 0
    assert "\x1b" not in capsys.readouterr().out
