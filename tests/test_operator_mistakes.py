"""Operator mistakes give one clear line and a documented exit code, never silence.

Unknown BSO_INGEST_* variables (exit 2, with the closest setting), a missing
secret named as missing (exit 2), --version, a dry run that says so.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.settings import SettingsError, load_settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in [k for k in os.environ if k.startswith("BSO_INGEST_")]:
        monkeypatch.delenv(key)
    config = tmp_path / "settings.toml"
    config.touch()
    monkeypatch.setenv("BSO_INGEST_CONFIG", str(config))
    monkeypatch.setenv("BSO_INGEST_SERVICE__LOCK_PATH", str(tmp_path / "var" / "lock"))
    monkeypatch.setenv("BSO_INGEST_MAILDIR__PATH", str(tmp_path / "inbox"))
    monkeypatch.chdir(tmp_path)
    return {"BSO_INGEST_CONFIG": str(config)}


@pytest.mark.parametrize(
    ("variable", "suggestion"),
    [
        ("BSO_INGEST_IMAP_HOST", "BSO_INGEST_IMAP__HOST"),  # one underscore
        ("BSO_INGEST_ZENDSK__URL", "BSO_INGEST_ZENDESK__URL"),  # a typo in the section
        ("BSO_INGEST_SERVICE__DRYRUN", "BSO_INGEST_SERVICE__DRY_RUN"),  # a typo in the key
        ("BSO_INGEST_ZENDESK__API_TOKEN_FLE", "BSO_INGEST_ZENDESK__API_TOKEN_FILE"),
    ],
)
def test_an_unknown_variable_stops_with_exit_2_and_the_closest_setting(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    variable: str, suggestion: str,
) -> None:
    monkeypatch.setenv(variable, "x")
    assert main(["run", "--once"]) == 2
    err = capsys.readouterr().err
    assert f"{variable}: unknown environment variable" in err
    assert f"did you mean {suggestion}?" in err


def test_an_unrelated_unknown_variable_is_named_without_a_guess(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={**env, "BSO_INGEST_SOMETHING_ELSE": "1"})
    [problem] = caught.value.problems
    assert problem == "BSO_INGEST_SOMETHING_ELSE: unknown environment variable: no setting reads it"


def test_nested_keys_secret_files_and_the_config_variable_are_known(env: dict[str, str], tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n", encoding="utf-8")
    settings = load_settings(environ={
        **env,
        "BSO_INGEST_ZENDESK__CUSTOM_FIELDS__PRODUCT": "360001",
        "BSO_INGEST_ZENDESK__API_TOKEN_FILE": str(token),
        "BSO_INGEST_IMAP__HOST": "imap.example.com",
        "bso_ingest_imap__port": "143",  # pydantic-settings reads names case-insensitively
    })
    assert settings.zendesk.custom_fields == {"product": 360001}
    assert settings.zendesk.api_token is not None and settings.zendesk.api_token.get_secret_value() == "s3cret"
    assert settings.imap.port == 143


def test_a_file_variable_of_a_non_secret_is_unknown(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="BSO_INGEST_IMAP__HOST_FILE: unknown environment variable"):
        load_settings(environ={**env, "BSO_INGEST_IMAP__HOST_FILE": "/run/secrets/host"})


def test_a_missing_imap_password_is_named_missing(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BSO_INGEST_SERVICE__SOURCE", "imap")
    monkeypatch.setenv("BSO_INGEST_IMAP__USERNAME", "atendimento")
    assert main(["run", "--once"]) == 2
    err = capsys.readouterr().err
    assert "the IMAP password is missing" in err and "BSO_INGEST_IMAP__PASSWORD_FILE" in err
    assert "refused" not in err


def test_a_missing_zendesk_token_is_named_missing(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BSO_INGEST_SERVICE__DRY_RUN", "false")
    assert main(["run", "--once"]) == 2
    assert "the Zendesk API token is missing" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"bso-ingest {version('bso-ingest')}"


def test_send_without_dry_run_under_dry_run_says_nothing_was_sent(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mail = tmp_path / "a.eml"
    mail.write_bytes(b"From: Ana <ana@cliente.com.br>\r\nTo: atendimento.bsorm@totvs.com.br\r\n"
                     b"Subject: Erro\r\nMessage-ID: <a@cliente.com.br>\r\n\r\nO relatorio falha.\r\n")
    assert main(["send", str(mail)]) == 0
    err = capsys.readouterr().err
    assert "DRY RUN: nothing is sent to Zendesk" in err
    assert "BSO_INGEST_SERVICE__DRY_RUN=false" in err
    # Asked for explicitly, it does not warn.
    assert main(["send", "--dry-run", str(mail)]) == 0
    assert "DRY RUN" not in capsys.readouterr().err


def test_a_dry_run_summary_says_would_create(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--once"]) == 0
    summary = capsys.readouterr().out.splitlines()[-1]
    assert "would_create=3" in summary and " created=" not in summary
