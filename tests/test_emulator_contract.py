"""The emulator follows Zendesk's documented contract (not our client): checked
with plain `requests` calls."""
from __future__ import annotations

import pytest
import requests

from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL, DEFAULT_OAUTH_TOKEN, Emulator, Faults
from tests.zendesk_fixtures import zendesk_emulator  # noqa: F401 - fixture


@pytest.fixture
def api(zendesk_emulator: Emulator) -> requests.Session:
    s = requests.Session()
    s.auth = (f"{DEFAULT_EMAIL}/token", DEFAULT_API_TOKEN)
    s.base = zendesk_emulator.url  # type: ignore[attr-defined]
    return s


def ticket_body(**extra):
    t = {"subject": "S", "comment": {"body": "texto"}, "requester": {"name": "Ana", "email": "ana@c.example"}}
    t.update(extra)
    return {"ticket": t}


def test_auth_basic_token_bearer_and_401(zendesk_emulator):
    url = zendesk_emulator.url + "/api/v2/tickets.json"
    assert requests.get(url, auth=(f"{DEFAULT_EMAIL}/token", "wrong")).status_code == 401
    assert requests.get(url, auth=(f"{DEFAULT_EMAIL}/token", DEFAULT_API_TOKEN)).status_code == 200
    assert requests.get(url, headers={"Authorization": f"Bearer {DEFAULT_OAUTH_TOKEN}"}).status_code == 200
    assert requests.get(url).status_code == 401


def test_requester_object_creates_the_user_who_submits_and_authors(zendesk_emulator, api):
    r = api.post(api.base + "/api/v2/tickets.json", json=ticket_body())
    assert r.status_code == 201
    t = zendesk_emulator.tickets[r.json()["ticket"]["id"]]
    user = zendesk_emulator.store.user_by_email("ana@c.example")
    assert user.name == "Ana" and user.role == "end-user"
    assert t.requester_id == t.submitter_id == t.comments[0].author_id == user.id
    # The same address again is the same user, not a new one.
    api.post(api.base + "/api/v2/tickets.json", json=ticket_body(requester={"email": "ANA@c.example"}))
    assert sum(u.email == "ana@c.example" for u in zendesk_emulator.users.values()) == 1


def test_uploads_chain_on_one_token_and_tokens_are_single_use(zendesk_emulator, api):
    first = api.post(api.base + "/api/v2/uploads.json", params={"filename": "a.txt"}, data=b"AAA",
                     headers={"Content-Type": "text/plain"}).json()["upload"]
    second = api.post(api.base + "/api/v2/uploads.json", params={"filename": "b.png", "token": first["token"]},
                      data=b"\x89PNG", headers={"Content-Type": "image/png"}).json()["upload"]
    assert second["token"] == first["token"]
    assert [a["file_name"] for a in second["attachments"]] == ["a.txt", "b.png"]
    body = ticket_body(comment={"body": "x", "uploads": [first["token"]]})
    r = api.post(api.base + "/api/v2/tickets.json", json=body)
    files = zendesk_emulator.tickets[r.json()["ticket"]["id"]].comments[0].attachments
    assert [(f.file_name, f.content_type, f.content) for f in files] == [("a.txt", "text/plain", b"AAA"),
                                                                       ("b.png", "image/png", b"\x89PNG")]
    again = api.post(api.base + "/api/v2/tickets.json", json=body)
    assert again.status_code == 422 and "comment.uploads" in again.json()["details"]


def test_validation_422_has_details_per_field(api):
    r = api.post(api.base + "/api/v2/tickets.json",
                 json=ticket_body(priority="sky-high", requester={"email": "nope"}, submiter_id=1))
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "RecordInvalid"
    assert set(body["details"]) >= {"priority", "requester", "submiter_id"}
    assert all({"description", "error"} <= set(d) for ds in body["details"].values() for d in ds)


def test_lenient_mode_accepts_undocumented_fields(zendesk_emulator, api):
    zendesk_emulator.strict = False
    assert api.post(api.base + "/api/v2/tickets.json", json=ticket_body(submiter_id=1)).status_code == 201


def test_more_than_48_email_ccs_is_refused(api):
    ccs = [{"user_email": f"p{i}@c.example", "action": "put"} for i in range(49)]
    r = api.post(api.base + "/api/v2/tickets.json", json=ticket_body(email_ccs=ccs))
    assert r.status_code == 422 and "email_ccs" in r.json()["details"]


def test_idempotency_key_miss_hit_and_mismatch(zendesk_emulator, api):
    url = api.base + "/api/v2/tickets.json"
    first = api.post(url, json=ticket_body(), headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and first.headers["x-idempotency-lookup"] == "miss"
    # Same body, keys in another order: a replay of the stored answer.
    body = ticket_body()
    reordered = {"ticket": dict(reversed(list(body["ticket"].items())))}
    second = api.post(url, json=reordered, headers={"Idempotency-Key": "k-1"})
    assert second.headers["x-idempotency-lookup"] == "hit"
    assert second.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    other = api.post(url, json=ticket_body(subject="other"), headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 400 and other.json()["error"] == "IdempotentRequestError"
    assert len(zendesk_emulator.tickets) == 1
    zendesk_emulator.store.expire_idempotency_keys()
    third = api.post(url, json=ticket_body(), headers={"Idempotency-Key": "k-1"})
    assert third.headers["x-idempotency-lookup"] == "miss" and len(zendesk_emulator.tickets) == 2


def test_list_by_external_id(api):
    url = api.base + "/api/v2/tickets.json"
    made = api.post(url, json=ticket_body(external_id="bso-ingest:abc")).json()["ticket"]["id"]
    api.post(url, json=ticket_body(external_id="bso-ingest:other"))
    found = api.get(url, params={"external_id": "bso-ingest:abc"}).json()
    assert [t["id"] for t in found["tickets"]] == [made] and found["count"] == 1


def test_followup_must_name_a_closed_ticket(zendesk_emulator, api):
    url = api.base + "/api/v2/tickets.json"
    old = api.post(url, json=ticket_body()).json()["ticket"]["id"]
    assert api.post(url, json=ticket_body(via_followup_source_id=old)).status_code == 422
    zendesk_emulator.tickets[old].status = "closed"
    r = api.post(url, json=ticket_body(via_followup_source_id=old))
    assert r.status_code == 201 and r.json()["ticket"]["via_followup_source_id"] == old


def test_comment_via_ticket_put_keeps_the_agent_as_updater(zendesk_emulator, api):
    made = api.post(api.base + "/api/v2/tickets.json", json=ticket_body()).json()["ticket"]
    r = api.put(f"{api.base}/api/v2/tickets/{made['id']}.json",
                json={"ticket": {"comment": {"body": "mais", "public": True, "author_id": made["requester_id"]}}})
    assert r.status_code == 200
    c = zendesk_emulator.tickets[made["id"]].comments[-1]
    assert c.author_id == made["requester_id"] and c.updater_id == zendesk_emulator.store.agent.id


def test_requests_api_on_behalf_of_makes_the_end_user_the_updater(zendesk_emulator, api):
    made = api.post(api.base + "/api/v2/tickets.json", json=ticket_body()).json()["ticket"]
    zendesk_emulator.tickets[made["id"]].status = "solved"
    url = f"{api.base}/api/v2/requests/{made['id']}.json"
    body = {"request": {"comment": {"body": "voltou a falhar"}}}
    # Impersonation needs OAuth: an API token is refused.
    assert api.put(url, json=body, headers={"X-On-Behalf-Of": "ana@c.example"}).status_code == 403
    oauth = {"Authorization": f"Bearer {DEFAULT_OAUTH_TOKEN}"}
    r = requests.put(url, json=body, headers={**oauth, "X-On-Behalf-Of": "ana@c.example"})
    assert r.status_code == 200
    t = zendesk_emulator.tickets[made["id"]]
    assert t.comments[-1].author_id == t.comments[-1].updater_id == made["requester_id"]
    assert t.status == "open"
    # Someone who is neither requester nor CC can't see the request.
    api.post(api.base + "/api/v2/tickets.json", json=ticket_body(requester={"email": "eve@x.example"}))
    assert requests.put(url, json=body, headers={**oauth, "X-On-Behalf-Of": "eve@x.example"}).status_code == 404


def test_rate_limit_window_answers_429_with_headers(zendesk_emulator, api):
    zendesk_emulator.set_faults(Faults(rate_limit=2, rate_window=30))
    url = api.base + "/api/v2/tickets.json"
    ok = api.get(url)
    assert ok.status_code == 200 and ok.headers["X-Rate-Limit"] == "2" and ok.headers["X-Rate-Limit-Remaining"] == "1"
    assert api.get(url).status_code == 200
    limited = api.get(url)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    assert limited.headers["X-Rate-Limit-Remaining"] == "0"
    assert zendesk_emulator.requests[-1].fault == "rate_limited"


def test_reset_after_create_commits_then_drops_the_connection(zendesk_emulator, api):
    zendesk_emulator.set_faults(Faults(reset_after_create_rate=1.0))
    with pytest.raises(requests.ConnectionError):
        api.post(api.base + "/api/v2/tickets.json", json=ticket_body(), headers={"Idempotency-Key": "k"})
    assert len(zendesk_emulator.tickets) == 1
    assert zendesk_emulator.requests[-1].status is None
    # A replay is a hit (no new ticket), and a hit is answered normally.
    r = api.post(api.base + "/api/v2/tickets.json", json=ticket_body(), headers={"Idempotency-Key": "k"})
    assert r.status_code == 201 and r.headers["x-idempotency-lookup"] == "hit"
    assert len(zendesk_emulator.tickets) == 1


def _fault_sequence(seed: int) -> list[str | None]:
    emu = Emulator(faults=Faults(seed=seed, error_rate=0.2, throttle_rate=0.2)).start()
    try:
        s = requests.Session()
        s.auth = (f"{DEFAULT_EMAIL}/token", DEFAULT_API_TOKEN)
        for _ in range(40):
            s.get(emu.url + "/api/v2/tickets.json")
        return [r.fault for r in emu.requests]
    finally:
        emu.stop()


def test_faults_are_deterministic_under_a_seed():
    a, b, c = _fault_sequence(7), _fault_sequence(7), _fault_sequence(8)
    assert a == b
    assert a != c
    assert {"error", "throttle"} <= set(a) and None in a


def test_latency_is_added(zendesk_emulator, api):
    zendesk_emulator.set_faults(Faults(latency=0.2))
    r = api.get(api.base + "/api/v2/tickets.json")
    assert r.elapsed.total_seconds() >= 0.2


def test_reset_empties_account_and_log(zendesk_emulator, api):
    api.post(api.base + "/api/v2/tickets.json", json=ticket_body())
    zendesk_emulator.reset()
    assert not zendesk_emulator.tickets and not zendesk_emulator.requests
