"""Real mail servers for the mail tests, on 127.0.0.1: Dovecot (IMAP) and aiosmtpd (SMTP).

Dovecot runs in the foreground (`dovecot -F`) with a throwaway configuration in its own temporary
folder: passwd-file users, maildir storage, plain IMAP and STARTTLS with a self-signed certificate
made by openssl. Test messages arrive by IMAP APPEND. Each test gets its own user, so mailboxes
never leak between tests. Every wait is bounded; teardown terminates, then kills.
"""
from __future__ import annotations

import imaplib
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
USERS = 100
SMTP_USER, SMTP_PASSWORD = "batch@reguarantee.test", "smtp-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_greeting(port: int, prefix: bytes, deadline: float, alive=lambda: True) -> None:
    """Until the server on `port` greets with `prefix`, or fail at the deadline."""
    last = None
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(200).startswith(prefix):
                    return
        except OSError as error:
            last = error
        time.sleep(0.1)
    raise RuntimeError(f"no greeting on port {port} in time ({last})")


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (clients trust it through SSL_CERT_FILE)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@dataclass(frozen=True)
class Account:
    user: str
    password: str


class Dovecot:
    """One dovecot instance with a throwaway configuration."""

    def __init__(self) -> None:
        # Not under pytest's tmp (0700 for root): dovecot's unprivileged helpers must reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="reguarantee-dovecot-"))
        self.dir.chmod(0o755)
        self.port = free_port()
        self.passwd = self.dir / "passwd"
        self.log = self.dir / "dovecot.log"
        self.cert, self.key = make_certificate(self.dir)
        self.proc: subprocess.Popen | None = None
        self._users = itertools.count(1)
        self.uid, self.gid, login_user, internal_user = self._identities()
        (self.dir / "mail").mkdir()
        os.chown(self.dir / "mail", self.uid, self.gid)
        self.passwd.write_text("".join(
            f"user{n}:{{PLAIN}}imap-secret:{self.uid}:{self.gid}::{self.dir}/mail/user{n}\n"
            for n in range(1, USERS + 1)))
        (self.dir / "dovecot.conf").write_text(self._config(login_user, internal_user))

    @staticmethod
    def _identities() -> tuple[int, int, str, str]:
        """Root: Debian's dovecot users for the helpers, nobody for the mail (uid 0 is refused).
        Anyone else: everything as that user."""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            return nobody.pw_uid, nobody.pw_gid, "dovenull", "dovecot"
        me = pwd.getpwuid(os.geteuid())
        return me.pw_uid, me.pw_gid, me.pw_name, me.pw_name

    def _config(self, login_user: str, internal_user: str) -> str:
        d = self.dir
        return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = reguarantee-test-{self.port}
log_path = {self.log}
info_log_path = {self.log}
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{self.key}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {min(self.uid, 500)}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.passwd}
}}
userdb {{
  driver = passwd-file
  args = {self.passwd}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""

    def start(self) -> None:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(binary).exists():
            raise RuntimeError("dovecot is not installed (apt-get install dovecot-imapd)")
        self.proc = subprocess.Popen([binary, "-F", "-c", str(self.dir / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_for_greeting(self.port, b"* OK", time.monotonic() + START_TIMEOUT,
                              alive=lambda: self.proc.poll() is None)
        except RuntimeError as error:
            self.stop()
            raise RuntimeError(f"dovecot did not start: {error}\n{self.log_text()}") from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def add_user(self) -> Account:
        """A fresh mailbox: one of the users written before start-up, each handed out once
        (a passwd file changed while dovecot runs may be re-read too late)."""
        n = next(self._users)
        if n > USERS:
            raise RuntimeError(f"more than {USERS} mailboxes asked for: raise USERS")
        return Account(f"user{n}", "imap-secret")

    def connect(self, account: Account, folder: str = "INBOX") -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(account.user, account.password)
        client.select(folder)
        return client

    def append(self, account: Account, raw: bytes, folder: str = "INBOX") -> None:
        client = self.connect(account, folder)
        try:
            typ, data = client.append(folder, None, None, raw)
            assert typ == "OK", data
        finally:
            client.logout()

    def flags(self, account: Account, folder: str = "INBOX") -> list[set[str]]:
        """The flags of every message in the folder, in order (without the session's \\Recent);
        [] when it is empty or absent."""
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            client.login(account.user, account.password)
            typ, count = client.select(folder)
            if typ != "OK" or count[0] == b"0":
                return []
            _typ, data = client.fetch("1:*", "(FLAGS)")
            return [set(re.search(rb"FLAGS \(([^)]*)\)", d).group(1).decode().split())
                    - {"\\Recent"} for d in data if isinstance(d, bytes) and b"FLAGS" in d]
        finally:
            client.logout()


class SmtpSink:
    """aiosmtpd collecting what it receives; `refuse` = a reply like "451 ..." to say no."""

    def __init__(self, port: int | None = None, cert: tuple[Path, Path] | None = None) -> None:
        self.port = port or free_port()
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse = ""
        kwargs = {}
        if cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            kwargs = dict(tls_context=context, require_starttls=True, auth_required=True,
                          authenticator=_authenticate)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port,
                                     ready_timeout=START_TIMEOUT, **kwargs)

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def start(self) -> "SmtpSink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=policy.default) for _f, _t, raw in self.received]


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok)


@pytest.fixture(scope="session")
def imap_server():
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def imap_account(imap_server) -> Account:
    return imap_server.add_user()


@pytest.fixture
def smtp_server():
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp_tls_server(imap_server):
    """STARTTLS required, then AUTH: how a real submission server behaves."""
    sink = SmtpSink(cert=(imap_server.cert, imap_server.key)).start()
    try:
        yield sink
    finally:
        sink.stop()
