"""Replies exactly once, into the right ticket: issue 10's reproductions through the emulator.

1. A comment PUT that outlives the client's timeout and lands anyway is not
   posted again (the emulator keeps processing after the client gave up).
2. Two `bso-ingest send` of one reply at once post one comment.
3. A reused Message-ID never moves a customer's reply into another person's
   ticket, and a stranger's In-Reply-To does not write into the customer's.
4. A ticket that refuses the update (403, deleted, closed, merged) turns the
   reply into a follow-up or new ticket; nothing stops.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator, Faults
from ingest.errors import ZendeskAuthError, ZendeskForbidden
from ingest.ledger import Ledger
from ingest.outcomes import Commented, Created, Outcome
from ingest.pipeline import Pipeline
from ingest.sink import build_sink
from ingest.source import RawMessage
from ingest.zendesk import ZendeskClient
from tests.zendesk_fixtures import emulator_settings, zendesk_emulator  # noqa: F401  (the fixture)

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)
SUPPORT = "atendimento.bsorm@totvs.com.br"
CUSTOMER = "fernanda@agro-exemplo.com.br"
STRANGER = "intruso@outra-empresa.example"
REPO = Path(__file__).resolve().parents[1]


def mail(subject: str, body: str, *, msgid: str, sender: str = CUSTOMER, in_reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Cliente <{sender}>"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Date"] = format_datetime(T0)
    msg["Message-ID"] = msgid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def comments_with(emu: Emulator, text: str) -> list[tuple[int, str]]:
    """(ticket id, body) of every comment whose body contains `text`, over all tickets."""
    return [(t.id, c.body) for t in emu.tickets.values() for c in t.comments if text in c.body]


@pytest.fixture
def pipeline(zendesk_emulator: Emulator) -> Iterator[Pipeline]:
    settings = emulator_settings(zendesk_emulator, zendesk={"timeout_seconds": 0.5})
    # Real sleeps: the retry must really come after the slow write started.
    pipe = Pipeline(Ledger.in_memory(), build_sink(settings), settings, now=lambda: datetime.now(timezone.utc))
    yield pipe
    pipe.close()


def process(pipe: Pipeline, raw: bytes) -> Outcome:
    return pipe.process(RawMessage(raw=raw, ref="1:1", origin="test"))


@pytest.mark.parametrize("run", [1, 2, 3])
def test_a_comment_that_lands_after_the_client_gave_up_is_posted_once(
    pipeline: Pipeline, zendesk_emulator: Emulator, run: int
) -> None:
    first = process(pipeline, mail("Erro no SPED", "O bloco C170 diverge.", msgid=f"<o{run}@agro>"))
    assert isinstance(first, Created)
    # The first comment PUT is held past the client's 0.5 s timeout, then processed anyway.
    zendesk_emulator.set_faults(Faults(slow_update_seconds=1.5, slow_updates=1))
    reply = process(pipeline, mail("Re: Erro no SPED", f"Segue o log {run}.", msgid=f"<r{run}@agro>",
                                   in_reply_to=f"<o{run}@agro>"))
    assert reply == Commented(ticket_id=first.ticket_id)
    # Wait for the slow PUT to be answered (into the void) before counting.
    deadline = time.monotonic() + 30
    while not any(r.fault == "slow_update" for r in zendesk_emulator.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    slow = [r for r in zendesk_emulator.requests if r.fault == "slow_update"]
    assert len(slow) == 1
    assert comments_with(zendesk_emulator, f"Segue o log {run}.") == [(first.ticket_id, f"Segue o log {run}.")]
    # It was refused by its old updated_stamp, or it was the one that landed and the retry was refused.
    puts = [r.status for r in zendesk_emulator.requests if r.method == "PUT"]
    assert sorted(puts) == [200, 409], puts


def _env(tmp_path: Path, emu: Emulator, **extra: str) -> dict[str, str]:
    config = tmp_path / "settings.toml"
    config.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BSO_INGEST_")}
    env.update({
        "BSO_INGEST_CONFIG": str(config),
        "BSO_INGEST_SERVICE__DRY_RUN": "false",
        "BSO_INGEST_LEDGER__URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        "BSO_INGEST_ZENDESK__URL": emu.url,
        "BSO_INGEST_ZENDESK__EMAIL": DEFAULT_EMAIL,
        "BSO_INGEST_ZENDESK__API_TOKEN": DEFAULT_API_TOKEN,
        "BSO_INGEST_ZENDESK__RETRY_BUDGET_SECONDS": "30",
        **{f"BSO_INGEST_{k.upper()}": v for k, v in extra.items()},
    })
    return env


def _send(env: dict[str, str], *files: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ingest.cli", "send", *map(str, files)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("run", [1, 2, 3])
def test_two_sends_of_one_reply_at_once_post_one_comment(
    tmp_path: Path, zendesk_emulator: Emulator, run: int
) -> None:
    env = _env(tmp_path, zendesk_emulator)
    original, reply = tmp_path / "original.eml", tmp_path / "reply.eml"
    original.write_bytes(mail("Erro na folha", "A folha não fecha.", msgid=f"<a{run}@agro>"))
    reply.write_bytes(mail("Re: Erro na folha", f"Mais detalhes {run}.", msgid=f"<b{run}@agro>",
                           in_reply_to=f"<a{run}@agro>"))
    done = _send(env, original)
    assert done.wait(120) == 0, done.stderr.read() if done.stderr else ""
    # Slow Zendesk: both sends are inside the comment at the same time.
    zendesk_emulator.set_faults(Faults(latency=0.3))
    procs = [_send(env, reply) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    lines = [json.loads(out.strip().splitlines()[-1]) for out, _err in outs]
    kinds = sorted(line["outcome"] for line in lines)
    # One commented it; the other found the lease (deferred) or the recorded outcome.
    assert kinds in (["commented", "commented"], ["commented", "deferred"]), (lines, [e for _o, e in outs])
    deferred = [line for line in lines if line["outcome"] == "deferred"]
    assert all("in progress elsewhere" in line["reason"] for line in deferred)
    assert len(comments_with(zendesk_emulator, f"Mais detalhes {run}.")) == 1
    assert len(zendesk_emulator.tickets) == 1


def test_a_reused_message_id_never_moves_a_customers_reply(pipeline: Pipeline, zendesk_emulator: Emulator) -> None:
    customer = process(pipeline, mail("Erro na folha", "A folha não fecha.", msgid="<same@agro>"))
    # A stranger's mail (or a broken mailer's) reuses the customer's Message-ID with other content.
    stranger = process(pipeline, mail("Oferta", "Compre agora.", msgid="<same@agro>", sender=STRANGER))
    assert isinstance(customer, Created) and isinstance(stranger, Created)
    assert customer.ticket_id != stranger.ticket_id
    # The customer's reply goes into the customer's ticket, not the latest row's.
    reply = process(pipeline, mail("Re: Erro na folha", "Segue o print.", msgid="<r1@agro>", in_reply_to="<same@agro>"))
    assert reply == Commented(ticket_id=customer.ticket_id)
    # A stranger naming the customer's Message-ID gets a ticket of their own, tagged.
    intruder = process(pipeline, mail("Re: Erro na folha", "Intromissão.", msgid="<r2@x>", sender=STRANGER,
                                      in_reply_to="<same@agro>"))
    assert isinstance(intruder, Created) and intruder.ticket_id not in (customer.ticket_id, stranger.ticket_id)
    assert f"mentions_ticket_{customer.ticket_id}" in zendesk_emulator.tickets[intruder.ticket_id].tags
    assert comments_with(zendesk_emulator, "Intromissão.") == [(intruder.ticket_id, "Intromissão.")]
    assert [c.body for c in zendesk_emulator.tickets[stranger.ticket_id].comments] == ["Compre agora."]


def _refused(pipeline: Pipeline, emu: Emulator, n: int, spoil) -> tuple[Created, Outcome]:
    first = process(pipeline, mail(f"Pedido {n}", "Preciso de ajuda.", msgid=f"<p{n}@agro>"))
    assert isinstance(first, Created)
    spoil(first.ticket_id)
    reply = process(pipeline, mail(f"Re: Pedido {n}", f"Resposta {n}.", msgid=f"<q{n}@agro>",
                                   in_reply_to=f"<p{n}@agro>"))
    return first, reply


def test_a_ticket_our_agent_may_not_update_gives_a_tagged_new_ticket(pipeline: Pipeline,
                                                                       zendesk_emulator: Emulator) -> None:
    def restrict(tid: int) -> None:
        zendesk_emulator.tickets[tid].forbidden = "read"

    first, reply = _refused(pipeline, zendesk_emulator, 1, restrict)
    assert isinstance(reply, Created) and reply.ticket_id != first.ticket_id
    assert {f"mentions_ticket_{first.ticket_id}", "bso_reply_forbidden"} <= set(
        zendesk_emulator.tickets[reply.ticket_id].tags)
    assert [r.status for r in zendesk_emulator.requests if r.method == "PUT"] == [403]


def test_a_ticket_hidden_from_our_agent_gives_a_tagged_new_ticket(pipeline: Pipeline,
                                                                    zendesk_emulator: Emulator) -> None:
    def hide(tid: int) -> None:
        zendesk_emulator.tickets[tid].forbidden = "none"

    first, reply = _refused(pipeline, zendesk_emulator, 2, hide)
    assert isinstance(reply, Created)
    assert "bso_reply_forbidden" in zendesk_emulator.tickets[reply.ticket_id].tags


def test_a_deleted_ticket_gives_a_tagged_new_ticket(pipeline: Pipeline, zendesk_emulator: Emulator) -> None:
    first, reply = _refused(pipeline, zendesk_emulator, 3, zendesk_emulator.tickets.pop)
    assert isinstance(reply, Created)
    assert "bso_reply_gone" in zendesk_emulator.tickets[reply.ticket_id].tags


def test_a_merged_ticket_takes_the_reply_in_its_target(pipeline: Pipeline, zendesk_emulator: Emulator) -> None:
    target = process(pipeline, mail("Pedido principal", "O principal.", msgid="<main@agro>"))

    def merge(tid: int) -> None:
        zendesk_emulator.merge(tid, target.ticket_id)

    first, reply = _refused(pipeline, zendesk_emulator, 4, merge)
    assert reply == Commented(ticket_id=target.ticket_id)
    assert comments_with(zendesk_emulator, "Resposta 4.") == [(target.ticket_id, "Resposta 4.")]


def test_a_ticket_closed_after_threading_gives_a_follow_up(zendesk_emulator: Emulator, tmp_path: Path) -> None:
    # The race: open when threading looked, closed when the comment PUT arrives.
    settings = emulator_settings(zendesk_emulator)
    sink = build_sink(settings, sleep=lambda s: None)
    pipe = Pipeline(Ledger.in_memory(), sink, settings, now=lambda: T0)
    first = process(pipe, mail("Pedido 5", "Preciso de ajuda.", msgid="<p5@agro>"))
    real_ticket = sink.ticket

    def ticket_then_close(ticket_id: int):  # type: ignore[no-untyped-def]
        info = real_ticket(ticket_id)
        zendesk_emulator.tickets[ticket_id].status = "closed"
        return info

    sink.ticket = ticket_then_close  # type: ignore[method-assign]
    reply = process(pipe, mail("Re: Pedido 5", "Resposta 5.", msgid="<q5@agro>", in_reply_to="<p5@agro>"))
    pipe.close()
    assert isinstance(reply, Created) and reply.ticket_id != first.ticket_id
    assert zendesk_emulator.tickets[reply.ticket_id].via_followup_source_id == first.ticket_id


def test_only_401_or_403_on_users_me_is_an_auth_failure(zendesk_emulator: Emulator) -> None:
    client = ZendeskClient(zendesk_emulator.url, email=DEFAULT_EMAIL, api_token=DEFAULT_API_TOKEN)
    tid = process_ticket(build_sink(emulator_settings(zendesk_emulator), sleep=lambda s: None))
    zendesk_emulator.tickets[tid].forbidden = "none"
    with pytest.raises(ZendeskForbidden):
        client.show_ticket(tid, client.budget("t"))
    zendesk_emulator.agent_suspended = True
    with pytest.raises(ZendeskAuthError):
        client.request("GET", "/api/v2/users/me.json", client.budget("me"))
    bad = ZendeskClient(zendesk_emulator.url, email=DEFAULT_EMAIL, api_token="wrong")
    with pytest.raises(ZendeskAuthError):
        bad.show_ticket(tid, bad.budget("t"))


def process_ticket(sink) -> int:  # type: ignore[no-untyped-def]
    from routing.model import Route
    from tests.zendesk_fixtures import make_email

    return sink.create(make_email(1), Route()).ticket_id


def test_the_marker_is_found_past_the_first_page_of_audits(zendesk_emulator: Emulator) -> None:
    # A stand-in that ignores sort_order lists the oldest audits first: page through.
    zendesk_emulator.audits_unsorted = True
    sink = build_sink(emulator_settings(zendesk_emulator), sleep=lambda s: None)
    tid = process_ticket(sink)
    from tests.zendesk_fixtures import make_email

    ticket = zendesk_emulator.tickets[tid]
    for _ in range(150):  # a long history of agents' updates, each an audit
        zendesk_emulator._audit(ticket, zendesk_emulator.store.agent, [], None)
    reply = make_email(1, key="late-marker", body_text="Depois de muitas mudanças.")
    sink.comment(reply, tid)
    assert sink.comment(reply, tid, lookup_first=True).reason == "found by its marker in the ticket's audits"
    assert len(comments_with(zendesk_emulator, "Depois de muitas mudanças.")) == 1
    pages = [r for r in zendesk_emulator.requests if r.path.endswith("/audits.json")]
    assert len(pages) == 2


def test_a_409_of_any_shape_on_an_update_is_a_conflict_not_a_blind_retry(zendesk_emulator: Emulator) -> None:
    from ingest.zendesk import UpdateConflict

    client = ZendeskClient(zendesk_emulator.url, email=DEFAULT_EMAIL, api_token=DEFAULT_API_TOKEN)
    tid = process_ticket(build_sink(emulator_settings(zendesk_emulator), sleep=lambda s: None))
    with pytest.raises(UpdateConflict):
        client.put(f"/api/v2/tickets/{tid}.json", {"ticket": {"status": "open", "safe_update": True,
                                                              "updated_stamp": "2001-01-01T00:00:00Z"}},
                   client.budget("put"))
    assert [r.status for r in zendesk_emulator.requests if r.method == "PUT"] == [409]


def test_every_comment_write_landing_late_still_gives_one_comment(zendesk_emulator: Emulator) -> None:
    # A stand-in that holds EVERY comment write past the client's timeout (OAuth
    # credentials this time: the comment path is the same safe update).
    settings = emulator_settings(zendesk_emulator, oauth=True, zendesk={"timeout_seconds": 0.5})
    pipe = Pipeline(Ledger.in_memory(), build_sink(settings), settings, now=lambda: datetime.now(timezone.utc))
    try:
        first = process(pipe, mail("Erro no SPED", "O bloco C170 diverge.", msgid="<slow-all@agro>"))
        zendesk_emulator.set_faults(Faults(slow_update_seconds=1.2, slow_update_rate=1.0))
        reply = process(pipe, mail("Re: Erro no SPED", "Todas lentas.", msgid="<slow-all-r@agro>",
                                   in_reply_to="<slow-all@agro>"))
    finally:
        pipe.close()
    assert isinstance(reply, Commented) and reply.ticket_id == first.ticket_id
    deadline = time.monotonic() + 30
    puts = lambda: [r for r in zendesk_emulator.requests if r.method == "PUT"]  # noqa: E731
    # Until every request read has been answered (the late writes too).
    while zendesk_emulator.received > len(zendesk_emulator.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert comments_with(zendesk_emulator, "Todas lentas.") == [(first.ticket_id, "Todas lentas.")]
    statuses = sorted(r.status for r in puts())
    assert statuses.count(200) == 1 and set(statuses) <= {200, 409}, statuses


def test_a_colleague_in_the_requesters_organization_replies_into_the_ticket(pipeline: Pipeline,
                                                                           zendesk_emulator: Emulator) -> None:
    first = process(pipeline, mail("Erro na folha", "A folha não fecha.", msgid="<org-1@agro>"))
    zendesk_emulator.tickets[first.ticket_id].organization_id = 77
    colleague = zendesk_emulator.store.add_user("gerente@agro-filial.example", "Gerente")
    colleague.organization_id = 77
    reply = process(pipeline, mail("Re: Erro na folha", "Sou da mesma empresa.", msgid="<org-2@agro>",
                                   sender="gerente@agro-filial.example", in_reply_to="<org-1@agro>"))
    assert isinstance(reply, Commented) and reply.ticket_id == first.ticket_id
    # Someone of another organization, same words: a ticket of their own.
    other = zendesk_emulator.store.add_user("alguem@outra.example", "Outro")
    other.organization_id = 78
    stranger = process(pipeline, mail("Re: Erro na folha", "Não sou de lá.", msgid="<org-3@x>",
                                      sender="alguem@outra.example", in_reply_to="<org-1@agro>"))
    assert isinstance(stranger, Created) and stranger.ticket_id != first.ticket_id


def test_a_ticket_refusing_the_reply_does_not_stop_the_mail_behind_it(
    tmp_path: Path, zendesk_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mailbox

    from ingest.cli import main

    for key in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(key)
    config = tmp_path / "settings.toml"
    config.touch()
    inbox = mailbox.Maildir(tmp_path / "inbox", create=True)
    for name, value in {"CONFIG": str(config), "SERVICE__DRY_RUN": "false",
                        "SERVICE__LOCK_PATH": str(tmp_path / "run.lock"),
                        "LEDGER__URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
                        "MAILDIR__PATH": str(tmp_path / "inbox"), "MAILDIR__SEED_DEMO": "false",
                        "ZENDESK__URL": zendesk_emulator.url, "ZENDESK__EMAIL": DEFAULT_EMAIL,
                        "ZENDESK__API_TOKEN": DEFAULT_API_TOKEN}.items():
        monkeypatch.setenv(f"BSO_INGEST_{name}", value)
    inbox.add(mail("Pedido", "Preciso de ajuda.", msgid="<svc-1@agro>"))
    assert main(["run", "--once"]) == 0
    [ticket] = zendesk_emulator.tickets.values()
    ticket.forbidden = "read"  # moved to a group our agent may not update
    inbox.add(mail("Re: Pedido", "Mais uma coisa.", msgid="<svc-2@agro>", in_reply_to="<svc-1@agro>"))
    inbox.add(mail("Outro pedido", "Outro problema.", msgid="<svc-3@agro>", sender="joana@outra.example"))
    capsys.readouterr()
    # Before: exit 3 (bad credentials) on every restart, the mail behind it never read.
    assert main(["run", "--once"]) == 0
    assert "created=2" in capsys.readouterr().out
    assert list(inbox.keys()) == []
    refused = [t for t in zendesk_emulator.tickets.values() if "bso_reply_forbidden" in t.tags]
    assert len(refused) == 1 and refused[0].comments[0].body.startswith("Mais uma coisa.")
    assert len(zendesk_emulator.tickets) == 3
