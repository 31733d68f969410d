"""ZendeskSink and DryRunSink against the emulator: request counts, lookups,
comments as the sender, ticket info, and the dry run's printed requests."""
from __future__ import annotations

import io
import json

import pytest

from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_OAUTH_TOKEN, Faults
from ingest.errors import TicketRefused, ZendeskRejected
from ingest.outcomes import Commented, Created
from ingest.sink import DryRunSink, ZendeskSink, build_sink
from routing.model import Route
from tests.zendesk_fixtures import SUPPORT, attachment, emulator_settings, make_email, zendesk_emulator  # noqa: F401


def no_sleep(_seconds: float) -> None:
    pass


def sink_for(emu, **kw) -> ZendeskSink:
    sink = build_sink(emulator_settings(emu, **kw), sleep=no_sleep)
    assert isinstance(sink, ZendeskSink) and not isinstance(sink, DryRunSink)
    return sink


def files(n: int) -> list:
    return [attachment(f"f{i}.bin", bytes([i]) * (i + 1)) for i in range(n)]


@pytest.mark.parametrize("n_attachments", [0, 1, 3])
def test_one_request_per_attachment_plus_one_and_no_user_lookups(zendesk_emulator, n_attachments):
    sink = sink_for(zendesk_emulator)
    email = make_email(1, cc=["ana@cliente.example"], attachments=files(n_attachments))
    created = sink.create(email, Route())
    log = zendesk_emulator.requests
    assert len(log) == 1 + n_attachments
    assert [r.path for r in log] == ["/api/v2/uploads.json"] * n_attachments + ["/api/v2/tickets.json"]
    assert not any("/users" in r.path for r in log)
    # One token chain: every upload after the first names the first one's token.
    tokens = [r.query.get("token", [None])[0] for r in log[:n_attachments]]
    assert tokens[:1] in ([], [None]) and len(set(tokens[1:])) <= 1
    ticket = zendesk_emulator.tickets[created.ticket_id]
    assert [a.content for a in ticket.comments[0].attachments] == [a.content for a in email.attachments]


def test_created_ticket_is_shaped_like_the_email_channel(zendesk_emulator):
    sink = sink_for(zendesk_emulator)
    email = make_email(4, to=[SUPPORT.upper()], cc=["Ana@Cliente.example", SUPPORT])
    t = zendesk_emulator.tickets[sink.create(email, Route(priority="high", tags=["rm"])).ticket_id]
    users = zendesk_emulator.users
    assert users[t.requester_id].email == "cliente4@cliente.example" and users[t.requester_id].name == "Cliente 4"
    assert t.submitter_id == t.requester_id == t.comments[0].author_id
    assert t.comments[0].public
    assert [users[i].email for i in t.email_cc_ids] == ["ana@cliente.example"]
    assert t.recipient == SUPPORT and t.external_id == f"bso-ingest:{email.key}"
    assert t.tags == ["bso_email", "rm"] and t.priority == "high"
    post = zendesk_emulator.requests[-1]
    assert post.headers["idempotency-key"] == email.key


def test_lookup_first_finds_the_existing_ticket_without_creating(zendesk_emulator):
    sink = sink_for(zendesk_emulator)
    email = make_email(1, attachments=files(2))
    first = sink.create(email, Route())
    zendesk_emulator.store.expire_idempotency_keys()  # an old claim: the key is gone
    zendesk_emulator.requests.clear()
    again = sink.create(email, Route(), lookup_first=True)
    assert again.ticket_id == first.ticket_id and again.reason == "found by external_id"
    assert [(r.method, r.path) for r in zendesk_emulator.requests] == [("GET", "/api/v2/tickets.json")]
    assert len(zendesk_emulator.tickets) == 1


def test_lookup_first_creates_when_nothing_is_found(zendesk_emulator):
    created = sink_for(zendesk_emulator).create(make_email(1), Route(), lookup_first=True)
    assert [r.method for r in zendesk_emulator.requests] == ["GET", "POST"]
    assert created.ticket_id in zendesk_emulator.tickets


def test_same_key_with_new_upload_token_is_the_same_ticket(zendesk_emulator):
    # A second run within the key's two hours uploads again (new token), so
    # the body differs: Zendesk answers IdempotentRequestError and the sink
    # finds the ticket the key made.
    sink = sink_for(zendesk_emulator)
    email = make_email(1, attachments=files(1))
    first = sink.create(email, Route())
    second = sink.create(email, Route())
    assert second.ticket_id == first.ticket_id and len(zendesk_emulator.tickets) == 1
    assert zendesk_emulator.requests[-2].status == 400


def test_followup_of_sets_via_followup_source_id(zendesk_emulator):
    sink = sink_for(zendesk_emulator)
    old = sink.create(make_email(1), Route()).ticket_id
    zendesk_emulator.tickets[old].status = "closed"
    new = sink.create(make_email(2), Route(), followup_of=old).ticket_id
    assert zendesk_emulator.tickets[new].via_followup_source_id == old


def test_rejected_ticket_raises_with_details(zendesk_emulator):
    sink = sink_for(zendesk_emulator)
    with pytest.raises(ZendeskRejected) as info:
        sink.create(make_email(1), Route(), followup_of=999)
    assert "via_followup_source_id" in info.value.details


@pytest.mark.parametrize("oauth", [True, False])
def test_a_comment_is_a_safe_update_marked_with_the_message_key(zendesk_emulator, oauth):
    sink = sink_for(zendesk_emulator, oauth=oauth)
    tid = sink.create(make_email(1), Route()).ticket_id
    zendesk_emulator.tickets[tid].status = "pending"
    stamp = zendesk_emulator.tickets[tid].as_json()["updated_at"]
    reply = make_email(1, key="reply-key", body_text="Ainda com erro.", attachments=files(1))
    assert sink.comment(reply, tid) == Commented(ticket_id=tid)
    put = zendesk_emulator.requests[-1]
    assert (put.method, put.path) == ("PUT", f"/api/v2/tickets/{tid}.json")
    sent = put.json()["ticket"]
    assert (sent["safe_update"], sent["updated_stamp"], sent["metadata"]) == (True, stamp,
                                                                            {"bso_ingest_key": "reply-key"})
    t = zendesk_emulator.tickets[tid]
    c = t.comments[-1]
    assert c.body == "Ainda com erro." and c.public
    assert c.author_id == t.requester_id
    assert t.status == "open"  # a customer's answer reopens it, as by e-mail
    assert c.attachments[0].content == reply.attachments[0].content
    # The marker is where Zendesk keeps it: the update's audit, metadata.custom.
    assert t.audits[-1].custom == {"bso_ingest_key": "reply-key"}


def test_comment_with_api_token_sets_author_id(zendesk_emulator):
    sink = sink_for(zendesk_emulator)
    tid = sink.create(make_email(1), Route()).ticket_id
    sink.comment(make_email(7, key="other", body_text="Sou CC e comento."), tid)
    t = zendesk_emulator.tickets[tid]
    author = zendesk_emulator.users[t.comments[-1].author_id]
    assert author.email == "cliente7@cliente.example" and t.comments[-1].public


def test_comment_retried_after_5xx_lands_once(zendesk_emulator):
    # A large account limit: the retries are the subject, not their pacing (7 s of it).
    sink = sink_for(zendesk_emulator, oauth=True, zendesk={"rate_limit_per_minute": 100_000})
    tid = sink.create(make_email(1), Route()).ticket_id
    zendesk_emulator.set_faults(Faults(seed=2, error_rate=0.5))
    sink.comment(make_email(1, key="r", body_text="uma vez só", attachments=files(2)), tid)
    assert [c.body for c in zendesk_emulator.tickets[tid].comments].count("uma vez só") == 1
    assert len(zendesk_emulator.tickets[tid].comments[-1].attachments) == 2
    assert any(r.fault == "error" and r.method == "PUT" for r in zendesk_emulator.requests)


@pytest.mark.parametrize("oauth", [True, False])
def test_comment_retried_after_a_crash_is_not_posted_twice(zendesk_emulator, oauth):
    # A crash after Zendesk took the comment, before the ledger recorded it:
    # the next run comments again with lookup_first (the claim is not fresh).
    sink = sink_for(zendesk_emulator, oauth=oauth)
    tid = sink.create(make_email(1), Route()).ticket_id
    reply = make_email(1, key="crashed", body_text="Segue o log pedido.")
    sink.comment(reply, tid)
    again = sink.comment(reply, tid, lookup_first=True)
    assert again.ticket_id == tid
    assert [c.body for c in zendesk_emulator.tickets[tid].comments].count("Segue o log pedido.") == 1
    # ...while a new reply with the same words is still added.
    sink.comment(make_email(1, key="second", body_text="Outro texto."), tid, lookup_first=True)
    assert zendesk_emulator.tickets[tid].comments[-1].body == "Outro texto."


def test_comment_on_missing_ticket_is_refused_as_gone(zendesk_emulator):
    with pytest.raises(TicketRefused) as refused:
        sink_for(zendesk_emulator).comment(make_email(1), 4242)
    assert (refused.value.why, refused.value.ticket_id) == ("gone", 4242)


def test_ticket_info(zendesk_emulator):
    sink = sink_for(zendesk_emulator)
    tid = sink.create(make_email(1, cc=["ana@cliente.example"]), Route()).ticket_id
    info = sink.ticket(tid)
    assert (info.id, info.status, info.requester_email, info.cc_emails) == (
        tid, "new", "cliente1@cliente.example", ["ana@cliente.example"])
    assert sink.ticket(999999) is None


def test_dry_run_prints_the_exact_requests_without_network_or_secrets(zendesk_emulator):
    out = io.StringIO()
    settings = emulator_settings(zendesk_emulator, service={"dry_run": True})
    sink = build_sink(settings, out=out)
    assert isinstance(sink, DryRunSink)
    email = make_email(1, attachments=files(2))
    assert sink.create(email, Route(priority="low")) == Created(ticket_id=0, reason="dry-run")
    assert zendesk_emulator.requests == []
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["method"], x["url"].split("?")[0]) for x in lines] == [
        ("POST", zendesk_emulator.url + "/api/v2/uploads.json")] * 2 + [
        ("POST", zendesk_emulator.url + "/api/v2/tickets.json")]
    assert lines[0]["headers"] == {"Content-Type": "application/octet-stream"}
    assert lines[0]["body"]["bytes"] == 1 and "token=" in lines[1]["url"]
    post = lines[-1]
    assert post["headers"]["Idempotency-Key"] == email.key
    assert post["json"]["ticket"]["priority"] == "low"
    assert post["json"]["ticket"]["requester"]["email"] == "cliente1@cliente.example"
    text = out.getvalue()
    assert DEFAULT_API_TOKEN not in text and "Authorization" not in text
    # The same request a real run sends, byte for byte apart from the token.
    real = sink_for(zendesk_emulator)
    real.create(email, Route(priority="low"))
    sent = zendesk_emulator.requests[-1].json()
    sent["ticket"]["comment"]["uploads"] = ["<upload token>"]
    assert sent == post["json"]


def test_dry_run_comment_and_oauth_secret_not_printed(zendesk_emulator):
    out = io.StringIO()
    sink = DryRunSink(emulator_settings(zendesk_emulator, oauth=True), out=out)
    assert sink.comment(make_email(1), 12) == Commented(ticket_id=12, reason="dry-run")
    assert sink.ticket(12) is None
    line = json.loads(out.getvalue().splitlines()[-1])
    assert line["method"] == "PUT" and line["url"].endswith("/api/v2/tickets/12.json")
    assert line["json"]["ticket"]["safe_update"] is True
    assert DEFAULT_OAUTH_TOKEN not in out.getvalue()
    assert zendesk_emulator.requests == []


def test_comment_that_landed_before_the_connection_dropped_is_not_repeated(zendesk_emulator):
    sink = sink_for(zendesk_emulator, oauth=True)
    tid = sink.create(make_email(1), Route()).ticket_id
    zendesk_emulator.set_faults(Faults(reset_after_update_rate=1.0))
    sink.comment(make_email(1, key="r", body_text="chegou?"), tid)
    assert [c.body for c in zendesk_emulator.tickets[tid].comments].count("chegou?") == 1
    # After the drop: the ticket, then its audits, where our marker is found.
    assert [(r.method, r.path.rsplit("/", 1)[-1], r.fault) for r in zendesk_emulator.requests[-3:]] == [
        ("PUT", f"{tid}.json", "reset_after_update"), ("GET", f"{tid}.json", None), ("GET", "audits.json", None)]


def test_an_agent_answering_by_mail_comments_in_their_name(zendesk_emulator):
    sink = sink_for(zendesk_emulator, oauth=True)
    tid = sink.create(make_email(1), Route()).ticket_id
    zendesk_emulator.store.add_user("agente@bso.example", "Agente", role="agent")
    sink.comment(make_email(9, key="a", requester={"name": "Agente", "email": "agente@bso.example"},
                            body_text="nota"), tid)
    c = zendesk_emulator.tickets[tid].comments[-1]
    assert zendesk_emulator.users[c.author_id].email == "agente@bso.example"
    assert [r.status for r in zendesk_emulator.requests if r.method == "PUT"] == [200]


def test_upload_refused_by_zendesk_leaves_the_file_out_with_a_note(zendesk_emulator):
    zendesk_emulator.refused_extensions = {"zip"}
    sink = sink_for(zendesk_emulator)
    email = make_email(1, attachments=[attachment("logs.zip", b"PK"), attachment("ok.txt", b"ok", "text/plain")])
    created = sink.create(email, Route())
    first = zendesk_emulator.tickets[created.ticket_id].comments[0]
    assert [a.file_name for a in first.attachments] == ["ok.txt"]
    assert "logs.zip: Zendesk refused the upload" in first.body
    assert created.reason == "1 attachment(s) left out"
    sink.comment(make_email(1, key="c", body_text="de novo", attachments=[attachment("b.zip", b"PK")]),
                 created.ticket_id)
    last = zendesk_emulator.tickets[created.ticket_id].comments[-1]
    assert last.attachments == [] and "b.zip: Zendesk refused the upload" in last.body
