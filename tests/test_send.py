"""`bso-ingest send`: JSON lines, exit codes and once-only sending, with a fake sink.

The emulator-backed end-to-end tests are in test_send_emulator.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.errors import ZendeskAuthError, ZendeskUnavailable
from ingest.ledger import Ledger
from ingest.pipeline import Pipeline
from ingest.commands.send import send_files
from ingest.settings import Settings
from tests.test_pipeline import FakeSink, make_raw


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def pipe(tmp_path: Path, sink: FakeSink) -> Pipeline:
    settings = Settings(service={"dry_run": False, "max_attempts": 2},
                        ledger={"url": f"sqlite:///{tmp_path / 'ledger.sqlite3'}"})
    p = Pipeline(Ledger.from_url(settings.ledger.url), sink, settings)
    yield p
    p.close()


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def eml(tmp_path: Path, name: str, **kwargs: object) -> str:
    path = tmp_path / name
    path.write_bytes(make_raw(**kwargs))
    return str(path)


def test_one_json_line_per_file_and_one_ticket_for_a_file_sent_twice(tmp_path, pipe, sink, capsys) -> None:
    a = eml(tmp_path, "a.eml")
    b = eml(tmp_path, "b.eml", msgid="<b@cliente.com.br>", body="outro\n")
    assert send_files(pipe, [a, b, a]) == 0

    out = lines(capsys)
    assert [line["source"] for line in out] == [a, b, a]
    assert all(set(line) == {"source", "outcome", "ticket_id", "reason"} for line in out)
    assert [line["outcome"] for line in out] == ["created", "created", "created"]
    assert out[0]["ticket_id"] == out[2]["ticket_id"] != out[1]["ticket_id"]
    assert sink.creates == 2


def test_an_unreadable_file_is_reported_and_the_rest_still_sent(tmp_path, pipe, sink, capsys) -> None:
    good = eml(tmp_path, "good.eml")
    missing = str(tmp_path / "missing.eml")
    assert send_files(pipe, [missing, good]) == 1
    out = lines(capsys)
    assert out[0]["outcome"] == "error" and "cannot read file" in out[0]["reason"]
    assert out[1]["outcome"] == "created"


def test_a_deferral_is_not_final_so_exit_1(tmp_path, pipe, sink, capsys) -> None:
    sink.errors.append(ZendeskUnavailable("503 Service Unavailable", status=503))
    path = eml(tmp_path, "a.eml")
    assert send_files(pipe, [path]) == 1
    [line] = lines(capsys)
    assert line["outcome"] == "deferred" and "503" in line["reason"]

    # Sent again it completes, on the same ticket key.
    assert send_files(pipe, [path]) == 0
    assert lines(capsys)[0]["outcome"] == "created"
    assert sink.creates == 2 and len(sink.tickets) == 1


def test_a_quarantine_is_final_so_exit_0(tmp_path, pipe, sink, capsys) -> None:
    path = tmp_path / "junk.eml"
    path.write_bytes(b"Subject: nobody sent this\r\n\r\nno sender\r\n")
    assert send_files(pipe, [str(path)]) == 0
    [line] = lines(capsys)
    assert line["outcome"] == "quarantined" and line["ticket_id"] is None and line["reason"]


def test_bad_credentials_stop_with_exit_3_and_a_clear_message(tmp_path, pipe, sink, capsys) -> None:
    sink.errors.append(ZendeskAuthError("401 Couldn't authenticate you", status=401))
    first, second = eml(tmp_path, "a.eml"), eml(tmp_path, "b.eml", msgid="<b@x>")
    assert send_files(pipe, [first, second]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing decided, nothing printed as an outcome
    assert "credentials" in captured.err and "Traceback" not in captured.err
    assert sink.creates == 1  # the second file was not tried


def test_missing_credentials_fail_clearly_before_any_state_is_written(tmp_path, monkeypatch, capsys) -> None:
    from ingest.cli import main

    cfg = tmp_path / "settings.toml"
    cfg.write_text(f'[service]\ndry_run = false\n[ledger]\nurl = "sqlite:///{tmp_path / "var" / "l.sqlite3"}"\n',
                   encoding="utf-8")
    for var in ("BSO_INGEST_ZENDESK__API_TOKEN", "BSO_INGEST_ZENDESK__OAUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    assert main(["--config", str(cfg), "send", eml(tmp_path, "a.eml")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "credentials missing" in captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "var").exists()
