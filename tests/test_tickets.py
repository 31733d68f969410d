"""Email + Route → ticket payload, shaped as Zendesk's email channel makes it."""
from __future__ import annotations

from ingest import tickets
from ingest.settings import Settings
from routing.model import Route
from tests.zendesk_fixtures import SUPPORT, attachment, make_email

SETTINGS = Settings(routing={"support_addresses": [SUPPORT, "suporte@bso.example"], "default_group_id": 77})


def payload(email, route=None, settings=SETTINGS, token="tok", **kw):
    route = route or Route()
    p = tickets.plan(email, route, settings)
    return tickets.ticket_payload(email, route, settings, p, token, **kw)["ticket"], p


def test_requester_is_the_sender_and_no_submitter():
    t, _ = payload(make_email(3))
    assert t["requester"] == {"name": "Cliente 3", "email": "cliente3@cliente.example"}
    assert "submitter_id" not in t and "requester_id" not in t
    assert t["comment"]["public"] is True
    assert t["comment"]["body"].startswith("Olá, o sistema falhou no passo 3.")


def test_requester_without_display_name_sends_only_the_address():
    email = make_email(1, requester={"name": "", "email": "bare@cliente.example"})
    t, _ = payload(email)
    assert t["requester"] == {"email": "bare@cliente.example"}


def test_dedupe_fields_come_from_the_key():
    email = make_email(9)
    t, _ = payload(email)
    assert t["external_id"] == f"bso-ingest:{email.key}"


def test_subject_falls_back_to_first_body_line():
    t, _ = payload(make_email(1, subject="  ", body_text="\n\n  Primeira   linha útil \nsegunda"))
    assert t["subject"] == "Primeira linha útil"


def test_ccs_without_support_addresses_or_requester_any_case():
    email = make_email(
        1,
        to=[SUPPORT.upper(), "Ana@Cliente.example"],
        cc=["cliente1@CLIENTE.example", "suporte@bso.example", "ana@cliente.example", "bob@cliente.example"],
    )
    t, _ = payload(email, Route(extra_ccs=["carla@cliente.example"]))
    assert [c["user_email"] for c in t["email_ccs"]] == ["ana@cliente.example", "bob@cliente.example",
                                                         "carla@cliente.example"]
    assert all(c["action"] == "put" for c in t["email_ccs"])


def test_ccs_beyond_the_limit_are_listed_in_the_comment():
    many = [f"p{i}@cliente.example" for i in range(52)]
    t, p = payload(make_email(1, cc=many))
    assert len(t["email_ccs"]) == 48
    assert p.extra_ccs == many[48:]
    for addr in many[48:]:
        assert addr in t["comment"]["body"]
    assert many[0] not in t["comment"]["body"]


def test_invalid_cc_is_named_not_sent():
    t, _ = payload(make_email(1, cc=["not-an-address", "ok@cliente.example"]))
    assert [c["user_email"] for c in t["email_ccs"]] == ["ok@cliente.example"]
    assert "not-an-address" in t["comment"]["body"]


def test_recipient_is_the_support_address_it_was_sent_to():
    sent_to_cc = make_email(1, to=["x@y.example"], cc=["SUPORTE@bso.example"])
    assert payload(sent_to_cc)[0]["recipient"] == "suporte@bso.example"
    assert payload(make_email(1, to=["x@y.example"], cc=[]))[0]["recipient"] == SUPPORT


def test_route_fields_and_email_tag():
    route = Route(group_id=5, priority="urgent", type="incident", tags=["rm", "bso_email"],
                  custom_fields=[{"id": 123, "value": "Folha"}])
    t, _ = payload(make_email(1), route, followup_of=41)
    assert (t["group_id"], t["priority"], t["type"]) == (5, "urgent", "incident")
    assert t["tags"] == ["bso_email", "rm"]
    assert t["custom_fields"] == [{"id": 123, "value": "Folha"}]
    assert t["via_followup_source_id"] == 41


def test_default_group_from_settings_and_no_empty_fields():
    t, _ = payload(make_email(1), Route(), token=None)
    assert t["group_id"] == 77
    assert "priority" not in t and "type" not in t and "custom_fields" not in t and "uploads" not in t["comment"]


def test_blocked_and_oversized_attachments_are_left_out_with_a_note():
    settings = Settings(attachments={"max_bytes": 10, "blocked_extensions": [".exe", "bat"]},
                        routing={"support_addresses": [SUPPORT]})
    email = make_email(1, attachments=[
        attachment("ok.pdf", b"%PDF-1.4", "application/pdf"),
        attachment("virus.EXE", b"MZ"),
        attachment("run.bat", b"echo"),
        attachment("big.zip", b"x" * 11, "application/zip"),
    ])
    t, p = payload(email, settings=settings)
    assert [a.filename for a in p.uploads] == ["ok.pdf"]
    assert [x.filename for x in p.left_out] == ["virus.EXE", "run.bat", "big.zip"]
    body = t["comment"]["body"]
    assert "virus.EXE: file type .exe is blocked" in body
    assert "run.bat: file type .bat is blocked" in body
    assert "big.zip:" in body and "over the" in body
    assert "ok.pdf" not in body


def test_empty_body_still_makes_a_valid_comment():
    t, _ = payload(make_email(1, body_text="   ", subject="Só anexo"))
    assert t["comment"]["body"].strip()
    assert t["subject"] == "Só anexo"


def test_long_first_line_is_cut_but_a_real_subject_is_kept():
    long_line = "palavra " * 60
    t, _ = payload(make_email(1, subject="", body_text=long_line))
    assert len(t["subject"]) == tickets.SUBJECT_MAX and t["subject"].endswith("…")
    t, _ = payload(make_email(1, subject=long_line))
    assert t["subject"] == long_line.strip()


def test_comment_drops_quoted_history_but_a_new_ticket_keeps_it():
    reply = ("Bom dia, o erro voltou na filial 02.\n\n"
             "Em qua., 25 de nov. de 2026 às 10:02, Suporte <atendimento.bsorm@totvs.com.br> escreveu:\n"
             "> Poderia nos enviar o log?\n")
    email = make_email(1, body_text=reply)
    comment = tickets.comment_payload(email, tickets.plan(email, None, SETTINGS), None)
    assert comment["body"] == "Bom dia, o erro voltou na filial 02."
    t, _ = payload(email)
    assert "Poderia nos enviar o log?" in t["comment"]["body"]
