"""Service settings: `settings.toml` + environment, validated by pydantic-settings.

Precedence (highest first): `*_FILE` secret files, environment variables
`BSO_INGEST_<SECTION>__<KEY>`, the TOML file, embedded defaults.  Secrets are
accepted only from the environment (or a file named by a `*_FILE` variable),
never from the TOML file, so a committed config can't leak them.
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ingest.auth.config import AUTH_SECRETS, ImapAuthSettings
from ingest.envcheck import unknown_variables
from ingest.net import is_loopback
from parsers.attachment_safety import AttachmentSettings
from parsers.classify.config import ClassifyConfig, ClassifySettings
from parsers.classify.security import SecuritySettings
from routing.config import RoutingSettings

ENV_PREFIX = "BSO_INGEST_"
CONFIG_ENV = "BSO_INGEST_CONFIG"
DEFAULT_CONFIG = Path("settings.toml")

# (section, key) pairs that may only come from the environment.
SECRETS = {("imap", "password"), ("imap", "oauth_token"), ("zendesk", "api_token"), ("zendesk", "oauth_token")}
SECRETS |= AUTH_SECRETS


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServiceSettings(Section):
    source: Literal["maildir", "imap"] = "maildir"
    # The dry-run sink prints the requests it would make and touches no Zendesk.
    dry_run: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # A message failing this many times is quarantined, never retried forever.
    max_attempts: int = Field(default=5, ge=1)
    lock_path: Path = Path("var/bso-ingest.lock")
    shutdown_grace_seconds: float = Field(default=10.0, gt=0)
    # /healthz, /readyz and /metrics (ingest/health.py); off unless a port is set.
    http_port: int | None = Field(default=None, ge=0, le=65535)
    http_host: str = "0.0.0.0"
    # Messages whose Zendesk calls may be in flight at once (ingest/drain.py).
    # 8, measured with bench/drain.py: 4 already reach the limit at 300 ms and
    # 400/min (94% of the floor, as 8 and 16 do); 8 keeps up with answers up to
    # ~1.2 s at 400/min or ~0.7 s at 700/min; 16 gained nothing.
    concurrency: int = Field(default=8, ge=1, le=64)
    # Raw bytes of messages held at once (fetched, waiting or in flight); a
    # message larger than this is handled alone.
    memory_budget_bytes: int = Field(default=24 * 1024 * 1024, ge=1024 * 1024)


class MaildirSettings(Section):
    path: Path = Path("var/demo-inbox")
    # Seed the Maildir with the packaged demo messages when it does not exist.
    seed_demo: bool = True


class ImapSettings(Section, ImapAuthSettings):
    """`[imap]`; how we log in (auth, the OAuth providers' fields) is ingest/auth/config.py."""

    host: str = "localhost"
    port: int = Field(default=993, ge=1, le=65535)
    ssl: bool | Literal["starttls"] = True
    username: str = ""
    password: SecretStr | None = None
    # XOAUTH2 instead of LOGIN when set.
    oauth_token: SecretStr | None = None
    folder: str = "INBOX"
    processed_folder: str = "BSO/Processed"
    skipped_folder: str = "BSO/Skipped"
    quarantine_folder: str = "BSO/Quarantine"
    batch_size: int = Field(default=50, ge=1, le=1000)
    # One FETCH holds at most this many bytes (RFC822.SIZE); a bigger message is fetched alone.
    batch_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    # Larger messages are quarantined unread (headers only): Zendesk takes
    # attachments up to 50 MB, which base64 makes ~68 MB of message.
    max_message_bytes: int = Field(default=70 * 1024 * 1024, ge=1024 * 1024)
    # imaplib's protocol trace (every command and answer, literals included)
    # at DEBUG on the "imapclient.imaplib" logger.  Off: it copies each FETCH.
    trace: bool = False
    idle: bool = True
    poll_interval_seconds: float = Field(default=60.0, gt=0)
    # RFC 2177: re-issue IDLE at least every 29 minutes.
    idle_renew_seconds: float = Field(default=29 * 60, gt=0, le=29 * 60)
    allow_plaintext: bool = False
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Without UIDPLUS our filed mail stays \Deleted in the inbox; this opts in
    # to a plain EXPUNGE, which also removes what other clients flagged
    # \Deleted: only for an inbox this service alone uses.
    expunge_without_uidplus: bool = False

    @model_validator(mode="after")
    def _auth_complete(self) -> "ImapSettings":
        problems = self.auth_problems(self.oauth_token is not None, self.password is not None)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class LedgerSettings(Section):
    # A SQLAlchemy URL: SQLite by default, PostgreSQL where replicas share an inbox.
    url: str = "sqlite:///var/bso-ingest.sqlite3"
    # A claim's lease: another process leaves a message alone this long after
    # its owner last renewed it (renewals run every quarter of it).  An owner
    # that died on this host is taken over at once; one on another host (or
    # in a restarted container) only once its lease expired.
    lease_seconds: float = Field(default=120.0, ge=1.0)
    # Retention applied by the service once a day (`bso-ingest prune` rules); None keeps everything.
    retention_days: int | None = Field(default=None, ge=1)


class ZendeskSettings(Section):
    url: str = "https://example.zendesk.com"
    email: str = ""
    api_token: SecretStr | None = None
    oauth_token: SecretStr | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Total time one operation may spend retrying 429/5xx/timeouts.
    retry_budget_seconds: float = Field(default=300.0, gt=0)
    # While Zendesk is down the service probes it with backoff up to this long.
    outage_max_backoff_seconds: float = Field(default=120.0, gt=0)
    # The account's API requests per minute (plan: 200/400/700/2500); unset,
    # it is read from Zendesk's X-Rate-Limit header.  Workers pace at
    # `rate_limit_share` of it: other clients of the account share the budget.
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    rate_limit_share: float = Field(default=0.98, gt=0, le=1)
    # Tag marking every ticket this service creates.
    email_tag: str = "bso_email"
    max_ccs: int = Field(default=48, ge=0, le=48)
    # Portal field name -> Zendesk ticket field id (issue 5); [routing.fields]
    # maps them by title instead, from the account's field catalogue.
    custom_fields: dict[str, int] = Field(default_factory=dict)
    # Ticket fields, forms and organizations are re-read this often (ingest.zendesk_meta).
    metadata_ttl_seconds: float = Field(default=3600.0, gt=0)
    # Offline field catalogue for dry runs: "demo" (the portal's form), a JSON file, or "".
    metadata_seed: str = ""

    @field_validator("url")
    @classmethod
    def _https_unless_loopback(cls, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        if parts.scheme != "https" and not is_loopback(parts.hostname):
            raise ValueError("Zendesk must be reached over https (plain http only on loopback)")
        return url.rstrip("/")


class ThreadingSettings(Section):
    # Regexes with one group capturing the ticket number, searched in the subject.
    subject_patterns: list[str] = Field(
        default_factory=lambda: [r"\[BSO #(\d+)\]", r"\bTicket #(\d+)\b", r"\bChamado:? #?(\d+)\b"]
    )
    # Who may write into a ticket by answering it (headers or subject): its
    # requester and CCs always; also someone in the requester's Zendesk
    # organization, or with the requester's mail domain, or a Zendesk agent,
    # when these are on.
    allow_same_organization: bool = True
    allow_same_domain: bool = True
    # Our Zendesk agents answering a ticket by mail.
    allow_agents: bool = True
    # Domains anyone can have an address at: sharing one proves nothing.
    public_domains: list[str] = Field(default_factory=lambda: [
        "gmail.com", "googlemail.com", "hotmail.com", "outlook.com", "live.com", "msn.com", "yahoo.com",
        "yahoo.com.br", "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "uol.com.br",
        "bol.com.br", "terra.com.br", "ig.com.br", "globo.com", "globomail.com", "zipmail.com.br",
    ])


class _TomlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    service: ServiceSettings = Field(default_factory=ServiceSettings)
    maildir: MaildirSettings = Field(default_factory=MaildirSettings)
    imap: ImapSettings = Field(default_factory=ImapSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    zendesk: ZendeskSettings = Field(default_factory=ZendeskSettings)
    attachments: AttachmentSettings = Field(default_factory=AttachmentSettings)
    classify: ClassifySettings = Field(default_factory=ClassifySettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    threading: ThreadingSettings = Field(default_factory=ThreadingSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)

    @model_validator(mode="after")
    def _routing_custom_fields_known(self) -> "Settings":
        # Needs two sections: a rule's set.custom_fields names must be keys of [zendesk.custom_fields].
        self.routing.check_custom_fields(self.zendesk.custom_fields)
        return self

    def classify_config(self) -> ClassifyConfig:
        """The classifiers' view: [classify] plus who we are ([routing], [zendesk])."""
        return ClassifyConfig.compose(
            self.classify, support_addresses=self.routing.support_addresses, zendesk_url=self.zendesk.url
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = _TomlSource(settings_cls, _loading.get()[0])
        return (init_settings, _EnvSource(settings_cls), toml)


class SettingsError(Exception):
    """Invalid settings; `problems` lists every bad key with its reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


# Passes the TOML data and the environment to the source hooks, which
# pydantic-settings constructs itself; set only while load_settings runs.
_loading: ContextVar[tuple[dict[str, Any], dict[str, str]]] = ContextVar("_loading", default=({}, {}))


class _EnvSource(EnvSettingsSource):
    """Reads the mapping given to load_settings instead of os.environ."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in _loading.get()[1].items()}


def config_path(cli_path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Path | None:
    """`--config` wins, then BSO_INGEST_CONFIG, then ./settings.toml if present."""
    env = os.environ if environ is None else environ
    if cli_path:
        return Path(cli_path)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def _secret_files(environ: dict[str, str]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Reads BSO_INGEST_<SECTION>__<KEY>_FILE variables for the secret keys."""
    values: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for section, key in sorted(SECRETS):
        var = f"{ENV_PREFIX}{section.upper()}__{key.upper()}_FILE"
        path = environ.get(var)
        if not path:
            continue
        try:
            values.setdefault(section, {})[key] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append(f"{section}.{key}: cannot read {var}={path}: {exc.strerror}")
    return values, problems


def load_settings(cli_path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Loads and validates every setting; raises SettingsError listing all problems."""
    env = dict(os.environ if environ is None else environ)
    problems: list[str] = []
    data: dict[str, Any] = {}
    path = config_path(cli_path, env)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError([f"config file {path}: {exc.strerror}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError([f"config file {path}: not valid TOML: {exc}"]) from None
    for section, key in sorted(SECRETS):
        if isinstance(data.get(section), dict) and key in data[section]:
            problems.append(
                f"{section}.{key}: secrets are not read from {path}; set {ENV_PREFIX}{section.upper()}__{key.upper()}"
                f" or {ENV_PREFIX}{section.upper()}__{key.upper()}_FILE"
            )
            del data[section][key]
    secrets, secret_problems = _secret_files(env)
    problems += secret_problems
    problems += unknown_variables(env, Settings, prefix=ENV_PREFIX, allowed={CONFIG_ENV}, secrets=SECRETS)
    # The *_FILE variables were consumed above; they are not settings themselves.
    plain_env = {k: v for k, v in env.items() if not (k.startswith(ENV_PREFIX) and k.endswith("_FILE"))}
    token = _loading.set((data, plain_env))
    try:
        settings = Settings(**secrets) if not problems else None
    except ValidationError as exc:
        problems += [_describe(err) for err in exc.errors()]
        settings = None
    finally:
        _loading.reset(token)
    if problems or settings is None:
        raise SettingsError(problems)
    return settings


def _describe(err: Any) -> str:
    loc = ".".join(str(part) for part in err["loc"])
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown setting"
    value = err.get("input")
    secret = tuple(str(part) for part in err["loc"][:2]) in SECRETS
    if err["type"] == "extra_forbidden" or secret or isinstance(value, (dict, list)):
        return f"{loc}: {msg}"
    return f"{loc}: {msg} (got {value!r})"
