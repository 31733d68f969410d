"""Forged From: end to end through the real parser, ledger, Pipeline and the Zendesk emulator.

A stranger writes `From:` of a customer who has a ticket.  Our MX's
Authentication-Results says dmarc=fail.  Whatever threading path the mail
tries (the ticket number in the subject, In-Reply-To of our own Message-ID
that the stranger guessed, a reply to a closed ticket), it must never land in
the customer's ticket; it opens a new, tagged ticket with a private note.
DMARC-pass mail threads as before.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from ingest.emulator import Emulator
from ingest.ledger import Ledger
from ingest.outcomes import Commented, Created, Outcome, Quarantined, Skipped
from ingest.pipeline import Pipeline
from ingest.sink import build_sink
from ingest.source import RawMessage
from tests.zendesk_fixtures import emulator_settings, zendesk_emulator  # noqa: F401  (the fixture)

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)
SUPPORT = "atendimento.bsorm@totvs.com.br"
MX = "mx.totvs.com.br"
CUSTOMER = "fernanda@agro-exemplo.com.br"
PASS = f"{MX}; spf=pass smtp.mailfrom=agro-exemplo.com.br; dmarc=pass header.from=agro-exemplo.com.br"
FAIL = f"{MX}; spf=fail smtp.mailfrom=evil.example; dmarc=fail (p=none) header.from=agro-exemplo.com.br"


def make_pipeline(emulator: Emulator, clock: list[datetime] | None = None, **security: object) -> Pipeline:
    settings = emulator_settings(emulator, oauth=True, security={"trusted_authserv_ids": [MX], **security})
    now = (lambda: clock[0]) if clock is not None else (lambda: T0)
    return Pipeline(Ledger.in_memory(), build_sink(settings, sleep=lambda s: None), settings, now=now)


@pytest.fixture
def pipeline(zendesk_emulator: Emulator) -> Iterator[Pipeline]:
    pipe = make_pipeline(zendesk_emulator)
    yield pipe
    pipe.close()


def send(pipe: Pipeline, subject: str, body: str, *, auth: str | None, msgid: str, sender: str = CUSTOMER,
         in_reply_to: str | None = None) -> Outcome:
    msg = EmailMessage()
    if auth is not None:
        msg["Authentication-Results"] = auth
    msg["From"] = f"Fernanda <{sender}>"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Date"] = format_datetime(T0)
    msg["Message-ID"] = msgid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return pipe.process(RawMessage(raw=msg.as_bytes(), ref=msgid))


def opened(pipe: Pipeline, emulator: Emulator) -> Created:
    first = send(pipe, "Divergência no SPED", "O bloco C170 diverge.", auth=PASS, msgid="<orig@agro>")
    assert isinstance(first, Created)
    return first


def assert_untouched_and_new(emulator: Emulator, first: Created, forged: Outcome) -> None:
    assert isinstance(forged, Created), forged
    assert forged.ticket_id != first.ticket_id
    assert len(emulator.tickets[first.ticket_id].comments) == 1, "the customer's ticket got a comment"
    new = emulator.tickets[forged.ticket_id]
    assert "dmarc_fail" in new.tags
    notes = [c for c in new.comments if not c.public]
    assert len(notes) == 1 and "not verified" in notes[0].body
    assert new.via_followup_source_id is None


def test_forged_subject_number_reply_opens_a_new_tagged_ticket(pipeline: Pipeline, zendesk_emulator: Emulator) -> None:
    first = opened(pipeline, zendesk_emulator)
    forged = send(pipeline, f"RES: [BSO #{first.ticket_id}] Divergência", "Cancelem o contrato.", auth=FAIL,
                  msgid="<forged-1@evil>")
    assert_untouched_and_new(zendesk_emulator, first, forged)
    note = next(c for c in zendesk_emulator.tickets[forged.ticket_id].comments if not c.public)
    assert f"#{first.ticket_id}" in note.body


def test_forged_header_reply_with_a_guessed_message_id_opens_a_new_ticket(
    pipeline: Pipeline, zendesk_emulator: Emulator
) -> None:
    first = opened(pipeline, zendesk_emulator)
    forged = send(pipeline, "Re: Divergência no SPED", "Mudem a senha.", auth=FAIL, msgid="<forged-2@evil>",
                  in_reply_to="<orig@agro>")
    assert_untouched_and_new(zendesk_emulator, first, forged)


def test_forged_reply_to_a_closed_ticket_is_not_a_followup(pipeline: Pipeline, zendesk_emulator: Emulator) -> None:
    first = opened(pipeline, zendesk_emulator)
    zendesk_emulator.tickets[first.ticket_id].status = "closed"
    forged = send(pipeline, "Re: Divergência no SPED", "Reabram.", auth=FAIL, msgid="<forged-3@evil>",
                  in_reply_to="<orig@agro>")
    assert_untouched_and_new(zendesk_emulator, first, forged)


def test_forged_new_ticket_is_made_tagged_with_a_private_note(pipeline: Pipeline, zendesk_emulator: Emulator) -> None:
    forged = send(pipeline, "Urgente: troca de banco", "Paguem na conta nova.", auth=FAIL, msgid="<forged-4@evil>")
    assert isinstance(forged, Created)
    ticket = zendesk_emulator.tickets[forged.ticket_id]
    assert "dmarc_fail" in ticket.tags
    assert [c.public for c in ticket.comments] == [True, False]


def test_dmarc_pass_replies_thread_as_before(pipeline: Pipeline, zendesk_emulator: Emulator) -> None:
    first = opened(pipeline, zendesk_emulator)
    by_subject = send(pipeline, f"RES: [BSO #{first.ticket_id}] Divergência", "Ainda diverge.", auth=PASS,
                      msgid="<r1@agro>")
    by_header = send(pipeline, "Re: Divergência", "Segue o log.", auth=PASS, msgid="<r2@agro>",
                     in_reply_to="<orig@agro>")
    assert isinstance(by_subject, Commented) and isinstance(by_header, Commented)
    ticket = zendesk_emulator.tickets[first.ticket_id]
    assert len(ticket.comments) == 3 and all(c.public for c in ticket.comments)
    assert "dmarc_fail" not in ticket.tags


def test_missing_results_are_accepted_and_logged_once(
    pipeline: Pipeline, zendesk_emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ingest.trust")
    first = opened(pipeline, zendesk_emulator)
    r1 = send(pipeline, f"RES: [BSO #{first.ticket_id}]", "Um.", auth=None, msgid="<m1@agro>")
    r2 = send(pipeline, "Re: x", "Dois.", auth=None, msgid="<m2@agro>", in_reply_to="<orig@agro>")
    assert isinstance(r1, Commented) and isinstance(r2, Commented)
    said = [r for r in caplog.records if "sender authentication is off" in r.getMessage()]
    assert len(said) == 1


def test_quarantine_policy(zendesk_emulator: Emulator) -> None:
    pipe = make_pipeline(zendesk_emulator, on_dmarc_fail=["quarantine"])
    outcome = send(pipe, "Oi", "Olá.", auth=FAIL, msgid="<q@evil>")
    assert isinstance(outcome, Quarantined) and "dmarc=fail" in outcome.reason
    assert not zendesk_emulator.tickets


def test_tag_only_policy_threads_and_leaves_a_note(zendesk_emulator: Emulator) -> None:
    pipe = make_pipeline(zendesk_emulator, on_dmarc_fail=["tag"])
    first = opened(pipe, zendesk_emulator)
    reply = send(pipe, "Re: x", "Segue.", auth=FAIL, msgid="<t@evil>", in_reply_to="<orig@agro>")
    assert isinstance(reply, Commented) and reply.ticket_id == first.ticket_id
    assert [c.public for c in zendesk_emulator.tickets[first.ticket_id].comments] == [True, True, False]


def test_forged_mail_does_not_use_up_the_real_senders_loop_budget(zendesk_emulator: Emulator) -> None:
    clock = [T0]
    pipe = make_pipeline(zendesk_emulator, clock)
    limit = pipe.settings.classify.sender_limit
    outcomes = []
    for i in range(limit + 1):
        clock[0] = T0 + timedelta(seconds=i)
        outcomes.append(send(pipe, f"Forjado {i}", "x", auth=FAIL, msgid=f"<f{i}@evil>"))
    assert isinstance(outcomes[-1], Skipped) and "loop" in outcomes[-1].reason
    real = send(pipe, "Sistema parado", "Urgente: a folha não fecha.", auth=PASS, msgid="<real@agro>")
    assert isinstance(real, Created)


def test_the_verdict_is_counted_by_outcome_and_policy(pipeline: Pipeline, zendesk_emulator: Emulator) -> None:
    from ingest import metrics

    counter = metrics.SENDER_AUTH.labels(outcome="fail", policy="no_thread+tag")
    before = counter._value.get()
    send(pipeline, "x", "y", auth=FAIL, msgid="<count@evil>")
    assert counter._value.get() == before + 1


def test_bso_ingest_send_forged_and_disguised_mail(
    zendesk_emulator: Emulator, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As ops would check it: `bso-ingest send` files to the emulator, then look at the account."""
    import json

    from ingest.cli import main
    from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL
    from tests.test_attachment_safety import pe

    cfg = tmp_path / "settings.toml"
    cfg.write_text(
        "[service]\ndry_run = false\n"
        f'[ledger]\nurl = "sqlite:///{tmp_path / "ledger.sqlite3"}"\n'
        f'[zendesk]\nurl = "{zendesk_emulator.url}"\nemail = "{DEFAULT_EMAIL}"\nretry_budget_seconds = 20\n'
        f'[security]\ntrusted_authserv_ids = ["{MX}"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("BSO_INGEST_ZENDESK__API_TOKEN", DEFAULT_API_TOKEN)

    def write(name: str, auth: str, subject: str, msgid: str, in_reply_to: str | None = None,
              exe: bool = False) -> str:
        msg = EmailMessage()
        msg["Authentication-Results"] = auth
        msg["From"] = f"Fernanda <{CUSTOMER}>"
        msg["To"] = SUPPORT
        msg["Subject"] = subject
        msg["Message-ID"] = msgid
        if in_reply_to:
            msg["In-Reply-To"] = in_reply_to
        msg.set_content("Texto.")
        if exe:
            msg.add_attachment(pe(), maintype="application", subtype="pdf", filename="boleto.pdf")
        path = tmp_path / name
        path.write_bytes(msg.as_bytes())
        return str(path)

    def send(*files: str) -> list[dict]:
        assert main(["--config", str(cfg), "send", *files]) == 0
        return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]

    [first] = send(write("1.eml", PASS, "Erro", "<o@agro>"))
    n = first["ticket_id"]
    lines = send(
        write("2.eml", FAIL, f"RES: [BSO #{n}] Erro", "<f1@evil>"),
        write("3.eml", FAIL, "Re: Erro", "<f2@evil>", in_reply_to="<o@agro>"),
        write("4.eml", FAIL, "Boleto novo", "<f3@evil>", exe=True),
    )
    assert [line["outcome"] for line in lines] == ["created"] * 3
    assert len(zendesk_emulator.tickets[n].comments) == 1
    for line in lines:
        ticket = zendesk_emulator.tickets[line["ticket_id"]]
        assert "dmarc_fail" in ticket.tags
        assert not any(f.content.startswith(b"MZ") for c in ticket.comments for f in c.attachments)


def test_a_retried_claim_does_not_add_the_note_twice(zendesk_emulator: Emulator) -> None:
    from ingest.sink import build_sink as sink_for

    settings = emulator_settings(zendesk_emulator, oauth=True, security={"trusted_authserv_ids": [MX]})
    sink = sink_for(settings, sleep=lambda s: None)
    pipe = Pipeline(Ledger.in_memory(), sink, settings, now=lambda: T0)
    created = send(pipe, "Oi", "Olá.", auth=FAIL, msgid="<n@evil>")
    assert isinstance(created, Created)
    note = next(c.body for c in zendesk_emulator.tickets[created.ticket_id].comments if not c.public)
    sink.note(created.ticket_id, note, lookup_first=True)
    assert [c.public for c in zendesk_emulator.tickets[created.ticket_id].comments] == [True, False]
