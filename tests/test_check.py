"""`bso-ingest check` against a real Dovecot and the Zendesk emulator.

It must pass on a good setup and name the failure (with its fix) for a wrong
password, a missing password, a wrong token, a missing inbox folder, an
unknown group id and an unknown custom field; exit 1 on any failure.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.checks import Context, Result, fail, ok, run_checks
from ingest.cli import main
from ingest.emulator import Emulator
from ingest.settings import load_settings
from tests.dovecot import DovecotServer, dovecot, dovecot_server, service_env  # noqa: F401
from tests.zendesk_fixtures import portal_data, zendesk_emulator  # noqa: F401 - the fixture

pytestmark = pytest.mark.dovecot


def check(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
          *extra: str) -> tuple[int, str]:
    for key in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("BSO_INGEST_"):
            monkeypatch.setenv(key, value)
    code = main(["check", *extra])
    return code, capsys.readouterr().out


def line(out: str, name: str) -> str:
    found = [ln for ln in out.splitlines() if f" {name}:" in ln]
    assert found, f"no {name} line in:\n{out}"
    return "\n".join(found)


@pytest.fixture
def env(dovecot: DovecotServer, zendesk_emulator: Emulator, tmp_path: Path) -> dict[str, str]:
    # The portal's fields, form and organizations, as [routing.fields] maps them by title.
    zendesk_emulator.seed_portal(portal_data())
    return service_env(dovecot, zendesk_emulator.url, tmp_path)


def test_passes_against_dovecot_and_the_emulator(
    env: dict[str, str], zendesk_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    group = zendesk_emulator.store.add_group("Suporte RM")
    field = zendesk_emulator.store.add_ticket_field("Produto")
    config = Path(env["BSO_INGEST_CONFIG"])
    config.write_text(f"[routing]\ndefault_group_id = {group['id']}\n"
                      f"[zendesk.custom_fields]\nproduct = {field['id']}\n", encoding="utf-8")
    code, out = check(env, monkeypatch, capsys)
    assert code == 0, out
    assert "FAIL" not in out
    assert "logged in to" in line(out, "imap.login")
    assert "server supports IDLE" in line(out, "imap.idle")
    assert "authenticated as" in line(out, "zendesk.auth")
    assert "admin" in line(out, "zendesk.role")
    assert "'Suporte RM' exists" in line(out, "zendesk.groups")
    assert "'Produto'" in line(out, "zendesk.custom_fields")
    assert "'Suporte Técnico' (id 9001): 15 fields, 4 end_user conditions" in line(out, "zendesk.form")
    assert "module → 'Módulo' (id 360012, tagger, 14 options): found" in line(out, "zendesk.fields")
    assert "11 organizations, 11 with a code (codigo_cliente)" in line(out, "zendesk.organizations")
    assert "created at the first start" in line(out, "ledger.open")
    # Without side effects: the ledger was not created, no folder was made, nothing posted.
    assert not (tmp_path / "ledger.sqlite3").exists()
    assert all(r.method == "GET" for r in zendesk_emulator.requests)


def test_wrong_imap_password(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    env["BSO_INGEST_IMAP__PASSWORD"] = "not-the-password"
    code, out = check(env, monkeypatch, capsys)
    assert code == 1
    assert "FAIL imap.login: " in out and "refused the login of 'bso'" in out
    assert "fix: check imap.username and the password" in out
    assert "skip imap.folders" in out  # one failure, not a cascade
    assert "not-the-password" not in out


def test_missing_imap_password_is_named_missing(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    del env["BSO_INGEST_IMAP__PASSWORD"]
    code, out = check(env, monkeypatch, capsys)
    assert code == 1
    assert "FAIL imap.login: the IMAP password is missing" in out
    assert "BSO_INGEST_IMAP__PASSWORD_FILE" in out


def test_wrong_zendesk_token(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    env["BSO_INGEST_ZENDESK__API_TOKEN"] = "wrong-token"
    code, out = check(env, monkeypatch, capsys)
    assert code == 1
    assert "FAIL zendesk.auth: " in out and "refused the credentials: HTTP 401" in out
    assert "wrong-token" not in out
    assert "ok   imap.login" in out  # the other areas still report


def test_missing_zendesk_token(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    del env["BSO_INGEST_ZENDESK__API_TOKEN"]
    code, out = check(env, monkeypatch, capsys)
    assert code == 1
    assert "FAIL zendesk.auth: the Zendesk API token is missing" in out


def test_missing_inbox_folder(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    env["BSO_INGEST_IMAP__FOLDER"] = "Suporte/Entrada"
    code, out = check(env, monkeypatch, capsys)
    assert code == 1
    assert "FAIL imap.folders: inbox 'Suporte/Entrada' does not exist" in out
    assert "fix: set imap.folder to one of: INBOX" in out


def test_unknown_group_and_field_ids(env: dict[str, str], zendesk_emulator: Emulator,
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    group = zendesk_emulator.store.add_group("Suporte RM")
    config = Path(env["BSO_INGEST_CONFIG"])
    config.write_text(
        f"[routing]\ndefault_group_id = {group['id']}\n"
        "[[routing.rules]]\nname = \"folha\"\nwhen = {module = \"Folha de Pagamento\"}\nset = {group_id = 987654}\n"
        "[zendesk.custom_fields]\nproduct = 55555\n",
        encoding="utf-8",
    )
    code, out = check(env, monkeypatch, capsys)
    assert code == 1, out
    assert "FAIL zendesk.groups: group 987654 (rule 'folha') does not exist" in out
    assert f"ok   zendesk.groups: group {group['id']}" in out
    assert "FAIL zendesk.custom_fields: product = 55555: no such ticket field" in out


def test_json_output(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out = check(env, monkeypatch, capsys, "--json")
    assert code == 0
    rows = [json.loads(ln) for ln in out.splitlines()]
    assert {"check": "imap.login", "status": "ok"}.items() <= rows[[r["check"] for r in rows].index("imap.login")].items()


def test_a_crashing_check_is_a_failure_line_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.touch()
    settings = load_settings(config, environ={})

    def check_boom(ctx: Context) -> Result:
        raise RuntimeError("kaboom")

    def check_fine(ctx: Context) -> list[Result]:
        return [ok("x.fine", "yes"), fail("x.bad", "no", "do this")]

    results = list(run_checks(settings, [check_boom, check_fine]))
    assert [(r.name, r.status) for r in results] == [("test_check.boom", "fail"), ("x.fine", "ok"), ("x.bad", "fail")]
    assert "RuntimeError: kaboom" in results[0].detail


def test_a_mapped_field_missing_from_the_account_is_named(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    Path(env["BSO_INGEST_CONFIG"]).write_text('[routing.fields.map]\nmodule = "Modulo RM"\nproduct = "Produto"\n'
                                              'bso = 360014\n', encoding="utf-8")
    code, out = check(env, monkeypatch, capsys)
    assert code == 1
    fields = line(out, "zendesk.fields")
    assert "FAIL zendesk.fields: module → 'Modulo RM': missing (no such ticket field)" in fields
    assert "product → 'Produto' (id 360011, tagger, 6 options): found" in fields
    assert "bso → 'Direciona atendimento para BSO' (id 360014, checkbox): found" in fields
    assert "fix: set [routing.fields.map] module to the title or id of a ticket field" in out
