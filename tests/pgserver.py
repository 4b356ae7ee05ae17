"""A throwaway PostgreSQL server on 127.0.0.1 for the tests that keep the ledger there.

``initdb`` makes a cluster in a temporary folder (trust authentication, reachable only on
127.0.0.1, on a free port) and ``pg_ctl`` starts and stops it. PostgreSQL refuses to run as root,
so as root the cluster belongs to Debian's ``postgres`` user (the package makes it).
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from glob import glob
from pathlib import Path

from sqlalchemy import create_engine, text


def _binary(name: str) -> str:
    found = shutil.which(name) or max(glob(f"/usr/lib/postgresql/*/bin/{name}"), default=None)
    if found is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql; .ci/run does)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="reguarantee-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()

    def _run(self, *command: str) -> None:
        as_root = os.geteuid() == 0
        full = ["runuser", "-u", "postgres", "--", *command] if as_root else list(command)
        done = subprocess.run(full, capture_output=True, text=True)
        if done.returncode:
            log = self.dir / "server.log"
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}"
                               + (log.read_text() if log.exists() else ""))

    def start(self) -> "PostgresServer":
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self._run(_binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C")
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.dir / "server.log"),
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")
        return self

    def database(self, name: str) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        engine = create_engine(self._url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self._url(name)

    def _url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        try:
            self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
