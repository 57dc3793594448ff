"""Start a real stws server process for a benchmark and wait until it listens.

    from _server import StwsServer
    with StwsServer(extras=True) as server:        # temp data dir, SQLite, 127.0.0.1:<free port>
        server.service_url("svcOrganization")        # http://127.0.0.1:PORT/Services2/svcOrganization.asmx
        ...
        server.memory()                              # {"VmHWM": kib, "VmRSS": kib, ...}
        server.cpu_seconds()                         # user + system CPU time used so far

The server is ``twistd -n`` (the venv's) running ``_stws_bench.tac``, which
builds the service exactly as ``twistd -n stws`` does, so background
services that later join ``makeService`` are there too. It listens on port
0 and reports the port it got through a file (no free-port race). The admin
password comes from ``STWS_ADMIN_PASSWORD`` (``ADMIN_PASSWORD`` below).
twistd's own log (including the access log) goes to ``<data dir>/twistd.log``
as a daemon's would. ``stop()`` sends SIGTERM, then SIGKILL after a timeout.
Several nodes on one shared data directory (bench/cluster.py) each pass a
``run_dir`` of their own: the port file and twistd's logs go there instead.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TAC = BENCH_DIR / "_stws_bench.tac"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "bench-Admin-Passw0rd!"


def memory_kib(pid="self") -> dict[str, int]:
    """VmHWM (peak RSS), VmRSS, VmPeak and VmSize of a process in KiB."""
    values = {}
    with open("/proc/%s/status" % pid) as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "VmPeak", "VmSize"):
                values[key] = int(rest.split()[0])
    return values


def memory_mib(pid="self") -> dict[str, float]:
    """The same in MiB."""
    return {key: kib / 1024 for key, kib in memory_kib(pid).items()}


def _twistd() -> str:
    candidate = Path(sys.executable).with_name("twistd")
    if candidate.exists():
        return str(candidate)
    return shutil.which("twistd") or "twistd"


class ServerError(RuntimeError):
    pass


class StwsServer:
    def __init__(self, *, extras: bool = False, threads: int | None = None, database: str | None = None,
                 data_dir: str | os.PathLike | None = None, keep_data: bool = False, env: dict | None = None,
                 run_dir: str | os.PathLike | None = None):
        self.extras = extras
        self.threads = threads
        self.database = database
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="stws-bench-"))
        # This process's own files (port file, twistd's logs, its working directory).
        self.run_dir = Path(run_dir) if run_dir else self.data_dir
        self.keep_data = keep_data
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.base_url = ""

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 60.0) -> "StwsServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.run_dir / "bench-port.json"
        if port_file.exists():
            port_file.unlink()
        env = dict(os.environ)
        env.update(
            STWS_ADMIN_PASSWORD=ADMIN_PASSWORD,
            STWS_BENCH_DATA_DIR=str(self.data_dir),
            STWS_BENCH_PORT_FILE=str(port_file),
            STWS_BENCH_EXTRAS="1" if self.extras else "0",
            PYTHONUNBUFFERED="1",
        )
        if self.threads:
            env["STWS_BENCH_THREADS"] = str(self.threads)
        if self.database:
            env["STWS_BENCH_DATABASE"] = self.database
        env.update(self.extra_env)
        command = [_twistd(), "-n", "--pidfile=", "--logfile=%s" % (self.run_dir / "twistd.log"), "-y", str(TAC)]
        self._output = open(self.run_dir / "twistd.stdout", "wb")
        self.process = subprocess.Popen(command, cwd=str(self.run_dir), env=env, stdin=subprocess.DEVNULL,
                                        stdout=self._output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not port_file.exists():
            if self.process.poll() is not None:
                raise ServerError("server exited with %s before listening:\n%s" % (self.process.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError("server did not listen within %.0f s:\n%s" % (timeout, self.log_tail()))
            time.sleep(0.05)
        info = json.loads(port_file.read_text())
        self.port = info["port"]
        self.base_url = info["base_url"]
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); returns its
        exit code: -15 for a clean stop on SIGTERM (twistd re-raises it), -9
        when it had to be killed."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._output.close()
        code = self.process.returncode
        if self._own_dir and not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code

    def __enter__(self) -> "StwsServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ facts

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return "%s/%s" % (self.base_url, path.lstrip("/"))

    def service_url(self, service: str) -> str:
        return self.url("Services2/%s.asmx" % service)

    def memory(self) -> dict[str, int]:
        """VmHWM (peak RSS), VmRSS, VmPeak and VmSize of the server in KiB."""
        return memory_kib(self.pid)

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) the server has used so far."""
        with open("/proc/%d/stat" % self.pid) as stat:
            fields = stat.read().rpartition(")")[2].split()
        # After "pid (comm)": state is field 3, utime 14 and stime 15 (1-based).
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for name in ("twistd.stdout", "twistd.log"):
            path = self.run_dir / name
            if path.exists():
                text += "--- %s\n%s\n" % (name, "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return text


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def ensure_admin_password(url: str) -> None:
    """A database seeded before may have another admin password (seed_tickets
    takes STWS_ADMIN_PASSWORD); the bench signs in with its own."""
    from sqlalchemy import create_engine, select, update

    from stws.db.models import User
    from stws.security.passwords import hash_password, verify_password

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            stored = connection.scalar(select(User.password_hash).where(User.username == ADMIN_USER))
            if stored is None or not verify_password(ADMIN_PASSWORD, stored):
                connection.execute(update(User).where(User.username == ADMIN_USER)
                                   .values(password_hash=hash_password(ADMIN_PASSWORD)))
    finally:
        engine.dispose()


def sign_in(port: int, username: str, password: str) -> str:
    """The session cookie ("stws_session=...") of ``username`` signed in
    through the management interface's form (/admin/signin) of the server on ``port``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/admin/signin")
    answer = connection.getresponse()
    page = answer.read().decode()
    signin_cookie = answer.getheader("Set-Cookie").split(";")[0]
    form = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrf_token": _CSRF.search(page).group(1)})
    connection.request("POST", "/admin/signin", form, {"Content-Type": "application/x-www-form-urlencoded",
                                                       "Cookie": signin_cookie})
    answer = connection.getresponse()
    answer.read()
    connection.close()
    for name, value in answer.getheaders():
        if name.lower() == "set-cookie" and value.startswith("stws_session="):
            return value.split(";")[0]
    raise SystemExit("signing in as %s failed (%d)" % (username, answer.status))
