"""A real Dovecot for the IMAP tests: one throwaway server in a temp dir.

`dovecot_server` (module scope) starts Debian's `/usr/sbin/dovecot -F` with a
config written here: IMAP only, on a free loopback port, plaintext LOGIN
allowed (loopback only), one passwd-file user and Maildir storage under the
temp dir.  Tests APPEND their messages through imapclient (`server.client()`),
exactly as a mail server would deliver them.  `server.stop()` and
`server.start()` simulate a server restart for the IDLE-recovery test.

Dovecot refuses mail access as root, so mail is owned by the `dovecot` system
user (or `mail` as a fallback) and the temp dir is made traversable for it.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from imapclient import IMAPClient

DOVECOT = Path(os.environ.get("BSO_DOVECOT", "/usr/sbin/dovecot"))
IMAP_DAEMON = Path(os.environ.get("BSO_DOVECOT_IMAP", "/usr/lib/dovecot/imap"))
USER = "bso"
PASSWORD = "bso-test-password"

CONFIG = """\
# Written by tests/dovecot.py: a throwaway test server, never a real one.
base_dir = {root}/run
state_dir = {root}/state
instance_name = {instance}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
# xoauth2: Dovecot checks the bearer token against the passdb like a
# password, so the user's password doubles as a valid token here.
auth_mechanisms = plain login xoauth2
login_trusted_networks = 127.0.0.0/8
default_login_user = {login_user}
default_internal_user = {mail_user}
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_location = maildir:{root}/mail/%u
mailbox_list_index = yes
# Tell IDLE clients about new mail immediately (inotify) and keep the
# "still here" chatter rare; the tests look for EXISTS.
mailbox_idle_check_interval = 1 secs
{oauth2_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
{passwd_mechanisms}}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = {separator}
  prefix = {prefix}
{namespace_extra}}}
protocol imap {{
  mail_max_userip_connections = 100
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
  process_min_avail = 1
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


# Dovecot's own oauth2 passdb (2.3 syntax): it asks the identity provider
# about each XOAUTH2/OAUTHBEARER bearer token, so Dovecot itself accepts or
# refuses it.  tokeninfo first (an unknown or expired token is refused there),
# then RFC 7662 introspection for the user name and the `active` flag.
OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf.ext
}}
"""
OAUTH2_CONFIG = """\
tokeninfo_url = {tokeninfo_url}
introspection_url = {introspection_url}
introspection_mode = post
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


class OAuth2Endpoints(Protocol):
    """Where Dovecot's oauth2 passdb checks tokens (tests/idp.py's stand-in has both)."""

    @property
    def tokeninfo_url(self) -> str: ...

    @property
    def introspection_url(self) -> str: ...


def _mail_account() -> tuple[str, int, int]:
    for name in ("dovecot", "mail"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, entry.pw_uid, entry.pw_gid
    raise RuntimeError("neither a 'dovecot' nor a 'mail' user exists to own the test mail")


def _login_user() -> str:
    try:
        pwd.getpwnam("dovenull")
        return "dovenull"
    except KeyError:
        return _mail_account()[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PlainLogin:
    """The `[imap]` settings and BSO_INGEST_IMAP__* variables for a loopback test
    server reached with LOGIN over plaintext (Dovecot, Courier)."""

    host: str
    port: int
    user: str
    password: str

    def settings(self, **overrides: object) -> dict[str, object]:
        """The `[imap]` settings section reaching this server."""
        section: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "ssl": False,
            "username": self.user,
            "password": self.password,
            "timeout_seconds": 10.0,
        }
        section.update(overrides)
        return section

    def env(self) -> dict[str, str]:
        """The same as BSO_INGEST_IMAP__* variables, for a subprocess."""
        return {
            "BSO_INGEST_SERVICE__SOURCE": "imap",
            "BSO_INGEST_IMAP__HOST": self.host,
            "BSO_INGEST_IMAP__PORT": str(self.port),
            "BSO_INGEST_IMAP__SSL": "false",
            "BSO_INGEST_IMAP__USERNAME": self.user,
            "BSO_INGEST_IMAP__PASSWORD": self.password,
        }


class DovecotServer(PlainLogin):
    """One Dovecot instance; `host`/`port`/`user`/`password` reach it."""

    host = "127.0.0.1"
    user = USER
    password = PASSWORD

    def __init__(
        self, root: Path, *, tls: bool = False, oauth2: OAuth2Endpoints | None = None,
        prefix: str = "", separator: str = "/", namespace_extra: str = "",
    ) -> None:
        """`oauth2`: check XOAUTH2 bearer tokens with Dovecot's oauth2 passdb at
        these endpoints (then passwords only go to the passwd-file); `prefix`
        and `separator`: the personal namespace, e.g. "INBOX." and "." as
        Courier, Cyrus and many hosting panels lay mail out; `namespace_extra`:
        more lines for that namespace, e.g. mailbox blocks with special_use."""
        self.root = root
        self.tls = tls
        self.oauth2 = oauth2
        self.prefix = prefix
        self.separator = separator
        self.namespace_extra = namespace_extra
        self.port = free_port()
        # IMAPS port, and STARTTLS on `port`, when tls: a self-signed
        # certificate for 127.0.0.1/localhost in `cert_path`.
        self.imaps_port = free_port() if tls else 0
        self.instance = f"bso-test-{self.port}"
        self.mail_user, self.uid, self.gid = _mail_account()
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    def _write_config(self) -> None:
        # The mail user must reach every directory on the way to its Maildir.
        os.chmod(self.root, 0o755)
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(exist_ok=True)
        for sub in ("mail", "home"):
            os.chown(self.root / sub, self.uid, self.gid)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        ssl = "ssl = no"
        if self.tls:
            self._make_certificate()
            ssl = f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{self.root / 'key.pem'}"
        oauth2_passdb, passwd_mechanisms = "", ""
        if self.oauth2 is not None:
            (self.root / "oauth2.conf.ext").write_text(OAUTH2_CONFIG.format(
                tokeninfo_url=self.oauth2.tokeninfo_url, introspection_url=self.oauth2.introspection_url))
            oauth2_passdb = OAUTH2_PASSDB.format(root=self.root)
            passwd_mechanisms = "  mechanisms = plain login\n"
        self.config_path.write_text(
            CONFIG.format(
                oauth2_passdb=oauth2_passdb,
                passwd_mechanisms=passwd_mechanisms,
                separator=self.separator,
                namespace_extra=self.namespace_extra,
                prefix=self.prefix,
                root=self.root,
                ssl=ssl,
                imaps_port=self.imaps_port,
                port=self.port,
                instance=self.instance,
                uid=self.uid,
                gid=self.gid,
                mail_user=self.mail_user,
                login_user=_login_user(),
            )
        )

    @property
    def cert_path(self) -> Path:
        return self.root / "cert.pem"

    def _make_certificate(self) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("openssl not installed: cannot make the test server's TLS certificate")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(self.root / "key.pem"), "-out", str(self.cert_path)],
            check=True, capture_output=True,
        )

    def start(self, timeout: float = 15.0) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        with open(self.root / "dovecot.stderr", "ab") as stderr:
            self._proc = subprocess.Popen(
                [str(DOVECOT), "-F", "-c", str(self.config_path)], stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"dovecot exited at start (code {self._proc.returncode}):\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen on {self.host}:{self.port} within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stops the server; every open client connection is dropped."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        # Dovecot 2.3 leaves running imap sessions (and its log and stats
        # processes) behind when the master stops; a real restart drops the
        # clients, so end this instance's leftovers, found by their title.
        self._kill_leftovers()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                time.sleep(0.05)
            except OSError:
                return

    def _kill_leftovers(self) -> None:
        title = f"dovecot-{self.instance}/".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if (entry / "cmdline").read_bytes().startswith(title):
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for name in ("dovecot.log", "dovecot.stderr"):
            path = self.root / name
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def client(self) -> IMAPClient:
        """A logged-in plaintext client, for appending and inspecting mail."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, messages: list[bytes], folder: str = "INBOX", flags: tuple[bytes, ...] = ()) -> None:
        with self.client() as client:
            for raw in messages:
                client.append(folder, raw, flags=flags)

    def folder_uids(self, folder: str) -> list[int]:
        """UIDs in `folder` not flagged \\Deleted; [] when the folder is missing."""
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(client.search(["NOT", "DELETED"]))

    def folder_messages(self, folder: str) -> list[bytes]:
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = client.search(["NOT", "DELETED"])
            data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return [data[uid][b"BODY[]"] for uid in sorted(data)]

    def reset_mail(self) -> None:
        """Deletes every folder and message (between tests sharing a server)."""
        with self.client() as client:
            folders = [name for flags, _delim, name in client.list_folders() if b"\\Noselect" not in flags]
            # Children before parents; a \Noselect parent vanishes with them.
            for name in sorted(folders, key=len, reverse=True):
                if name.upper() != "INBOX":
                    client.delete_folder(name)
            client.select_folder("INBOX")
            uids = client.search(["ALL"])
            if uids:
                client.delete_messages(uids)
                client.expunge()


def start_dovecot(root: Path, *, tls: bool = False, **options: object) -> DovecotServer:
    """Starts a server in `root`, a directory the dovecot user can traverse (options: see DovecotServer)."""
    if not DOVECOT.exists():
        pytest.skip(f"dovecot not installed at {DOVECOT} (apt-get install dovecot-imapd; scripts/test does it)")
    if not IMAP_DAEMON.exists():
        # dovecot-core without dovecot-imapd: the master starts but no IMAP login works.
        pytest.skip(f"the Dovecot IMAP daemon {IMAP_DAEMON} is missing (apt-get install dovecot-imapd)")
    server = DovecotServer(root, tls=tls, **options)  # type: ignore[arg-type]
    server.start()
    return server


@pytest.fixture(scope="module")
def dovecot_server() -> Iterator[DovecotServer]:
    """One Dovecot per test module (a fraction of a second to start)."""
    # Not under pytest's tmp_path: its directories are 0700 root, which the
    # dovecot user (auth and mail processes) cannot traverse.
    root = Path(tempfile.mkdtemp(prefix="bso-dovecot-"))
    server = start_dovecot(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> Iterator[DovecotServer]:
    """The module's Dovecot, started if a test stopped it, with empty folders."""
    dovecot_server.start()
    dovecot_server.reset_mail()
    yield dovecot_server


# -- helpers for the service tests, the crash test and bench/drain.py --------

SUPPORT = "atendimento.bsorm@totvs.com.br"


def support_mail(n: int, *, sender: str | None = None, auto_reply: bool = False, received: str = "") -> bytes:
    """A small, distinct support request (an out-of-office reply with auto_reply).

    `received` adds a Received header: the same mail delivered twice differs
    only there and must still give one ticket.
    """
    sender = sender or f"cliente{n}@empresa{n % 50}.com.br"
    headers = [
        *([f"Received: {received}"] if received else []),
        f"From: Cliente {n} <{sender}>",
        f"To: Atendimento BSO RM <{SUPPORT}>",
        f"Subject: {'Ausente: ' if auto_reply else ''}Pedido de suporte {n}",
        f"Message-ID: <pedido-{n}@empresa{n % 50}.com.br>",
        "Date: Mon, 23 Nov 2026 09:14:02 -0300",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
        *(["Auto-Submitted: auto-replied"] if auto_reply else []),
    ]
    body = (
        f"Estou em férias até segunda-feira ({n}).\n"
        if auto_reply
        else f"Bom dia,\n\nO cálculo da folha falha no passo {n}.\n\nOrganização: Empresa {n % 50}\n"
        "Impacto: Dúvida\nProduto: RM\nMódulo: Folha de Pagamento\n\nObrigado.\n"
    )
    return ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


def service_env(server: DovecotServer, zendesk_url: str, root: Path, **settings: str) -> dict[str, str]:
    """Environment for a `bso-ingest run` subprocess aimed at `server` and a Zendesk.

    An empty config file keeps the repository's settings.toml out of it;
    `settings` adds BSO_INGEST_<SECTION>__<KEY> values, e.g. imap__batch_size="10".
    """
    from ingest.emulator import DEFAULT_API_TOKEN, DEFAULT_EMAIL

    config = root / "settings.toml"
    config.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BSO_INGEST_")}
    env.update(server.env())
    env.update(
        {
            "BSO_INGEST_CONFIG": str(config),
            "BSO_INGEST_SERVICE__DRY_RUN": "false",
            "BSO_INGEST_SERVICE__LOCK_PATH": str(root / "bso-ingest.lock"),
            "BSO_INGEST_LEDGER__URL": f"sqlite:///{root / 'ledger.sqlite3'}",
            "BSO_INGEST_ZENDESK__URL": zendesk_url,
            "BSO_INGEST_ZENDESK__EMAIL": DEFAULT_EMAIL,
            "BSO_INGEST_ZENDESK__API_TOKEN": DEFAULT_API_TOKEN,
            "BSO_INGEST_ZENDESK__RETRY_BUDGET_SECONDS": "30",
        }
    )
    env.update({f"BSO_INGEST_{key.upper()}": value for key, value in settings.items()})
    return env


def reply_mail(n: int) -> bytes:
    """The customer of support_mail(n) answering it (In-Reply-To its Message-ID)."""
    domain = f"empresa{n % 50}.com.br"
    headers = [
        f"From: Cliente {n} <cliente{n}@{domain}>",
        f"To: Atendimento BSO RM <{SUPPORT}>",
        f"Subject: RE: Pedido de suporte {n}",
        f"Message-ID: <resposta-{n}@{domain}>",
        f"In-Reply-To: <pedido-{n}@{domain}>",
        f"References: <pedido-{n}@{domain}>",
        "Date: Mon, 23 Nov 2026 11:30:00 -0300",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(headers) + f"\r\n\r\nSegue o log pedido, resposta {n}.\r\n").encode()
