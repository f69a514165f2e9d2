"""A throwaway PostgreSQL cluster for the tests: its own folder, a loopback port.

Debian's ``postgresql`` package (``.ci/run`` installs it) puts ``initdb`` and
``pg_ctl`` under ``/usr/lib/postgresql/<version>/bin``. ``initdb`` refuses to run
as root, so as root both run as the package's ``postgres`` user (``runuser``).
The cluster trusts every local connection and runs with ``fsync=off``: it holds
test data only and is deleted afterwards (``durable=True``, for the benchmarks:
PostgreSQL's own defaults, every commit on disk, as the file store's fsync). Debian's own cluster, if the package
started one, is not touched (other folder, other port).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

USER = "postgres"


def find_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (PATH first, then the newest Debian one)."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One PostgreSQL server in a temporary folder; ``start`` … ``remove``."""

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="replik-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self._as_user: list[str] = []
        self._lock = threading.Lock()
        self._count = 0
        if os.geteuid() == 0:
            import pwd

            owner = pwd.getpwnam(USER)  # KeyError: no such user
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as_user = ["runuser", "-u", USER, "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_user, *args], check=True, capture_output=True, text=True,
                       cwd=self.root, timeout=120)

    def start(self) -> None:
        """Create the cluster (the first time) and start it on a free port."""
        if not self.data.exists():
            self._run(str(self.bindir / "initdb"), "-A", "trust", "-N", "-U", USER, "-E", "UTF8",
                      "--locale", "C", "-D", str(self.data))
        for attempt in range(5):  # another process may take the free port first
            self.port = _free_port()
            try:
                self.start_again()
                return
            except subprocess.CalledProcessError:
                if attempt == 4:
                    raise RuntimeError(
                        f"PostgreSQL did not start:\n{(self.root / 'log').read_text()}") from None

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.data))

    def start_again(self) -> None:
        """Start the stopped cluster on ``self.port`` (again: a database restart)."""
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                   "-c max_connections=200")
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data),
                  "-l", str(self.root / "log"), "-o", options)

    def restart(self) -> None:
        """Stop and start again on the same port (a database restart under load).
        Not ``pg_ctl restart``: without ``-l`` its server would hold our output pipe."""
        self.stop()
        self.start_again()

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(sql)

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        with self._lock:
            self._count += 1
            name = f"test_{os.getpid()}_{self._count}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
