from __future__ import annotations

from pathlib import Path

import pytest

from ingest.cli import main
from ingest.settings import SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_embedded_defaults_are_a_local_dry_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.service.source == "maildir"
    assert settings.service.dry_run is True
    assert settings.imap.folder == "INBOX"


def test_repo_settings_toml_is_valid() -> None:
    repo_toml = Path(__file__).resolve().parents[1] / "settings.toml"
    settings = load_settings(repo_toml, environ={})
    assert settings.routing.support_addresses == ["atendimento.bsorm@totvs.com.br"]


def test_env_overrides_toml(tmp_path: Path) -> None:
    path = write(tmp_path, '[imap]\nport = 143\n[zendesk]\nurl = "https://a.zendesk.com"\n')
    env = {"BSO_INGEST_IMAP__PORT": "10993", "BSO_INGEST_ZENDESK__URL": "http://127.0.0.1:9000/"}
    settings = load_settings(path, environ=env)
    assert settings.imap.port == 10993
    assert settings.zendesk.url == "http://127.0.0.1:9000"


def test_config_path_from_env(tmp_path: Path) -> None:
    path = write(tmp_path, "[imap]\nbatch_size = 7\n")
    assert load_settings(environ={"BSO_INGEST_CONFIG": str(path)}).imap.batch_size == 7


def test_secret_from_env_and_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t\n")
    env = {"BSO_INGEST_ZENDESK__API_TOKEN_FILE": str(secret), "BSO_INGEST_IMAP__PASSWORD": "pw"}
    settings = load_settings(write(tmp_path, ""), environ=env)
    assert settings.zendesk.api_token is not None and settings.zendesk.api_token.get_secret_value() == "s3cr3t"
    assert settings.imap.password is not None and settings.imap.password.get_secret_value() == "pw"
    assert "s3cr3t" not in repr(settings)


def test_secret_in_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings(write(tmp_path, '[zendesk]\napi_token = "leak"\n'), environ={})
    assert "zendesk.api_token" in str(exc.value)
    assert "leak" not in str(exc.value)


def test_every_bad_key_is_listed(tmp_path: Path) -> None:
    path = write(tmp_path, '[imap]\nport = "x"\nbogus = 1\n[zendesk]\nurl = "http://zendesk.example.com"\n')
    with pytest.raises(SettingsError) as exc:
        load_settings(path, environ={"BSO_INGEST_IMAP__BATCH_SIZE": "0"})
    text = str(exc.value)
    for key in ("imap.port", "imap.bogus", "imap.batch_size", "zendesk.url"):
        assert key in text, text


def test_cli_exits_2_on_invalid_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "[imap]\nport = -1\n")
    assert main(["--config", str(path), "route", str(path)]) == 2
    assert "imap.port" in capsys.readouterr().err
