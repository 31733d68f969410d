"""`bso-ingest send` end to end against the Zendesk emulator (a real HTTP server on loopback).

What ends up in the emulated account is asserted, not what our client meant
to send: one ticket per message, in the sender's name, attachments byte for
byte, and never a duplicate, also across retries, faults and stale claims.
"""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.commands.send import send_files
from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator, Faults
from ingest.ledger import Ledger
from ingest.outcomes import Created
from ingest.pipeline import IDEMPOTENCY_WINDOW, Pipeline
from ingest.pipeline import route_stage as route
from ingest.sink import build_sink
from ingest.source import RawMessage
from parsers import parse
from tests.conftest import corpus_dir
from tests.test_pipeline import make_raw
from tests.zendesk_fixtures import emulator_settings, zendesk_emulator  # noqa: F401 - the fixture

REPO = Path(__file__).resolve().parents[1]
SUPPORT = "atendimento.bsorm@totvs.com.br"


def write_config(tmp_path: Path, emu: Emulator) -> Path:
    cfg = tmp_path / "settings.toml"
    cfg.write_text(
        "[service]\ndry_run = false\n"
        f'[ledger]\nurl = "sqlite:///{tmp_path / "var" / "ledger.sqlite3"}"\n'
        f'[zendesk]\nurl = "{emu.url}"\nemail = "{DEFAULT_EMAIL}"\nretry_budget_seconds = 20\n',
        encoding="utf-8",
    )
    return cfg


def send(cfg: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str,
         token: str = DEFAULT_API_TOKEN) -> tuple[int, list[dict], str]:
    """Runs `bso-ingest send` in-process; returns (exit code, JSON lines, stderr)."""
    monkeypatch.setenv("BSO_INGEST_ZENDESK__API_TOKEN", token)
    code = main(["--config", str(cfg), "send", *args])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def outcome_lines(lines: list[dict]) -> list[dict]:
    """The per-file lines (a dry run also prints its requests as JSON lines)."""
    return [line for line in lines if "source" in line]


def eml(tmp_path: Path, name: str, **kwargs: object) -> str:
    path = tmp_path / name
    path.write_bytes(make_raw(**kwargs))
    return str(path)


def test_sending_a_file_twice_creates_one_ticket(tmp_path, zendesk_emulator, monkeypatch, capsys) -> None:
    cfg = write_config(tmp_path, zendesk_emulator)
    path = eml(tmp_path, "a.eml")

    code, [first], _ = send(cfg, monkeypatch, capsys, path)
    assert code == 0
    assert first == {"source": path, "outcome": "created", "ticket_id": first["ticket_id"], "reason": ""}
    requests_after_first = len(zendesk_emulator.requests)

    code, [again], _ = send(cfg, monkeypatch, capsys, path)
    assert code == 0
    assert again["outcome"] == "created" and again["ticket_id"] == first["ticket_id"]
    assert list(zendesk_emulator.tickets) == [first["ticket_id"]]
    # The second send answered from the ledger: not one more request.
    assert len(zendesk_emulator.requests) == requests_after_first
    assert (tmp_path / "var" / "ledger.sqlite3").is_file()


def test_bad_credentials_exit_3_with_a_clear_message(tmp_path, zendesk_emulator, monkeypatch, capsys) -> None:
    cfg = write_config(tmp_path, zendesk_emulator)
    code, lines, err = send(cfg, monkeypatch, capsys, eml(tmp_path, "a.eml"), eml(tmp_path, "b.eml", msgid="<b@x>"),
                            token="wrong-token")
    assert code == 3
    assert lines == []
    assert "credentials" in err and "Traceback" not in err and "wrong-token" not in err
    assert zendesk_emulator.tickets == {}


def test_dry_run_prints_requests_and_touches_neither_zendesk_nor_the_ledger(
        tmp_path, zendesk_emulator, monkeypatch, capsys) -> None:
    cfg = write_config(tmp_path, zendesk_emulator)
    code, lines, _ = send(cfg, monkeypatch, capsys, "--dry-run", eml(tmp_path, "a.eml"))
    assert code == 0
    [line] = outcome_lines(lines)
    assert line["outcome"] == "created"
    posts = [r for r in lines if r.get("method") == "POST"]
    assert posts and posts[-1]["url"] == f"{zendesk_emulator.url}/api/v2/tickets.json"
    assert posts[-1]["json"]["ticket"]["requester"]["email"] == "ana@cliente.com.br"
    assert zendesk_emulator.requests == []
    assert not (tmp_path / "var").exists()


def test_the_command_never_prints_a_traceback(tmp_path, zendesk_emulator) -> None:
    """A real process: an unreadable file gives a JSON line and exit 1, not a traceback."""
    cfg = write_config(tmp_path, zendesk_emulator)
    env = {"PATH": "/usr/bin:/bin", "BSO_INGEST_ZENDESK__API_TOKEN": DEFAULT_API_TOKEN}
    proc = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "--config", str(cfg), "send", str(tmp_path / "missing.eml"),
         eml(tmp_path, "a.eml")],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    missing, created = [json.loads(line) for line in proc.stdout.splitlines()]
    assert missing["outcome"] == "error" and "cannot read file" in missing["reason"]
    assert created["outcome"] == "created" and created["ticket_id"] in zendesk_emulator.tickets


def test_every_ptbr_message_gives_one_ticket_in_the_senders_name(
        tmp_path, zendesk_emulator, monkeypatch, capsys) -> None:
    folder = corpus_dir("ptbr")
    files = sorted(folder.glob("*.eml"))
    expected = {str(f): json.loads(f.with_suffix(".expected.json").read_text(encoding="utf-8")) for f in files}
    cfg = write_config(tmp_path, zendesk_emulator)

    code, lines, err = send(cfg, monkeypatch, capsys, *map(str, files))
    assert code == 0, err
    by_source = {line["source"]: line for line in lines}
    assert set(by_source) == set(expected)

    emu = zendesk_emulator
    created_ids: list[int] = []
    attachments_sent = 0
    for source, exp in expected.items():
        line = by_source[source]
        if exp["automated"]:
            assert line["outcome"] == "skipped", (source, line)
            continue
        assert line["outcome"] == "created", (source, line)
        ticket = emu.tickets[line["ticket_id"]]
        created_ids.append(ticket.id)
        requester = emu.users[ticket.requester_id]
        assert requester.email == exp["from"]["email"].lower(), source
        # Without a display name Zendesk names the user after the address's local part.
        assert requester.name == (exp["from"]["name"] or exp["from"]["email"].partition("@")[0]), source
        first = ticket.comments[0]
        assert first.author_id == ticket.requester_id and first.public, source
        got = sorted((a.file_name, a.content_type, a.sha256) for a in first.attachments)
        want = sorted((a["filename"], a["content_type"], a["sha256"]) for a in exp["attachments"])
        assert got == want, source
        attachments_sent += len(want)
        cc_emails = {emu.users[i].email for i in ticket.email_cc_ids}
        assert SUPPORT not in cc_emails, source
        assert ticket.recipient == SUPPORT, source

    assert len(created_ids) == len(set(created_ids)) == len(emu.tickets)
    # The create path: one POST per ticket plus one upload per attachment, no user lookups.
    creates = [r for r in emu.requests if r.method == "POST" and r.path.startswith("/api/v2/tickets")]
    uploads = [r for r in emu.requests if r.path.startswith("/api/v2/uploads")]
    assert len(creates) == len(created_ids)
    assert len(uploads) == attachments_sent
    assert not [r for r in emu.requests if r.path.startswith("/api/v2/users")]

    # Everything again: answered by the ledger, not one new ticket or request.
    before = len(emu.requests)
    code, again, _ = send(cfg, monkeypatch, capsys, *map(str, files))
    assert code == 0
    first_ids = {src: line["ticket_id"] for src, line in by_source.items()}
    assert {line["source"]: line["ticket_id"] for line in again} == first_ids
    assert len(emu.requests) == before and len(emu.tickets) == len(created_ids)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def emulator_pipeline(tmp_path: Path, emu: Emulator, clock: Clock | None = None, **sections: object) -> Pipeline:
    """The real ZendeskSink on the emulator, without real waits between retries."""
    settings = emulator_settings(emu, ledger={"url": f"sqlite:///{tmp_path / 'ledger.sqlite3'}"}, **sections)
    sink = build_sink(settings, sleep=lambda _s: None)
    return Pipeline(Ledger.from_url(settings.ledger.url), sink, settings, now=clock)


def test_a_claim_that_crashed_after_zendesk_created_the_ticket_gives_no_duplicate(tmp_path, zendesk_emulator) -> None:
    """Crash after the POST, before record: within 2 h the Idempotency-Key answers, later the external_id."""
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    clock = Clock(t0)
    pipe = emulator_pipeline(tmp_path, zendesk_emulator, clock)
    raws = [make_raw(body=f"mensagem {i}\n", msgid=f"<crash{i}@cliente.com.br>") for i in range(2)]
    try:
        for raw in raws:
            email = parse(raw)
            pipe.ledger.claim(email.key, message_id=email.message_id, sender=email.requester.email,
                              subject=email.subject, ref="1:1", now=t0)
            # The process created the ticket and died before recording it.
            pipe.sink.create(email, route(email, pipe.settings))
        assert len(zendesk_emulator.tickets) == 2

        clock.now = t0 + timedelta(minutes=30)
        within = pipe.process(RawMessage(ref="1:1", raw=raws[0], origin="a.eml"))
        hit = [r for r in zendesk_emulator.requests if r.method == "POST" and r.path.startswith("/api/v2/tickets")][-1]
        assert hit.headers.get("idempotency-key") == parse(raws[0]).key

        zendesk_emulator.store.expire_idempotency_keys()
        clock.now = t0 + IDEMPOTENCY_WINDOW + timedelta(minutes=1)
        later = pipe.process(RawMessage(ref="1:2", raw=raws[1], origin="b.eml"))
    finally:
        pipe.close()
    assert isinstance(within, Created) and isinstance(later, Created)
    assert len(zendesk_emulator.tickets) == 2
    assert {within.ticket_id, later.ticket_id} == set(zendesk_emulator.tickets)
    assert zendesk_emulator.requests[-1].method == "GET"  # found by external_id, no second POST


def test_faults_give_one_ticket_per_message_and_no_duplicates(tmp_path, zendesk_emulator, capsys) -> None:
    n = 200
    zendesk_emulator.set_faults(Faults(seed=7, error_rate=0.1, throttle_rate=0.05, reset_after_create_rate=0.1,
                                       retry_after=0))
    # A large account limit: faults are the subject here, not the 700/min pacing
    # (tests/test_ratelimit.py), which made this test wait ~20 s.
    pipe = emulator_pipeline(tmp_path, zendesk_emulator, zendesk={"rate_limit_per_minute": 100_000})
    files = [eml(tmp_path, f"m{i}.eml", msgid=f"<fault{i}@cliente.com.br>", body=f"problema {i}\n",
                 sender=f"Cliente {i} <cliente{i}@cliente.com.br>")
             for i in range(n)]
    try:
        # Whatever a run defers, the next run of the same files finishes.
        for _ in range(5):
            if send_files(pipe, files) == 0:
                break
    finally:
        pipe.close()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    final = {line["source"]: line for line in lines}
    assert all(line["outcome"] == "created" for line in final.values())
    assert len(zendesk_emulator.tickets) == n
    external_ids = [t.external_id for t in zendesk_emulator.tickets.values()]
    assert len(set(external_ids)) == n
    assert len({line["ticket_id"] for line in final.values()}) == n
    faults = {r.fault for r in zendesk_emulator.requests if r.fault}
    # Without a reset after create the no-duplicates claim would prove nothing.
    assert {"reset_after_create", "error"} <= faults, faults
