"""Pieces of a small stws cluster on loopback, for bench/cluster.py: a
throw-away PostgreSQL server, HAProxy in front of stws nodes, a benchmark
target that sums the CPU of the nodes behind it, and seeding that reuses a
database seeded before.

    with PostgresServer(root) as postgres:             # initdb + pg_ctl on a free 127.0.0.1 port
        url = postgres.create_database("stws_cluster")
    with HAProxy(root, {"one": [node_a], "two": [node_a, node_b]}) as proxy:
        proxy.url("two")                                 # http://127.0.0.1:PORT (round robin over a and b)
        proxy.served_by("two")                           # {"a": responses, "b": responses}

What several nodes share (DESIGN.md principle 8, stws.domain.tickets.
attachments): the database, and the whole data directory. Attachments live
in its ``attachments`` folder and are downloaded through any node with URLs
signed by ``attachment-url.key`` there; POP Download writes ``.eml`` files
to ``email/`` that Email Import (maybe on another node: each background
thread runs where it holds its lease) reads; the incoming spool reads
``raw-content`` and ``failed-emails``; the Cleaner (one node) cleans every
folder and will not follow a folder linked outside the data directory. So
the nodes here get one data directory (a shared file system between
machines) and a run directory each for twistd's own files; the daily log
files under ``logs/`` are appended to by both.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select, text

from _server import StwsServer

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
# A cheap URL for health checks: the services list, no database work.
HEALTH_PATH = "/Services2/"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) of a process so far."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- PostgreSQL


class PostgresServer:
    """A PostgreSQL 15 cluster in a temp folder, on a free 127.0.0.1 port,
    trust authentication (nothing but loopback reaches it), durable commits
    as a production server has them (a benchmark of writes must pay the
    fsync, as SQLite's does). Stopped and removed on exit, as scripts/test does."""

    def __init__(self, parent: str | os.PathLike | None = None):
        self.parent = parent
        self.root: Path | None = None
        self.port = 0
        # initdb refuses to run as root: the cluster then belongs to postgres.
        self._as_pg = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []

    @property
    def admin_url(self) -> str:
        return "postgresql+psycopg://postgres@127.0.0.1:%d/postgres" % self.port

    def start(self) -> "PostgresServer":
        self.root = Path(tempfile.mkdtemp(prefix="stws-cluster-pg-", dir=self.parent))
        if self._as_pg:
            shutil.chown(self.root, "postgres", "postgres")
        data = self.root / "data"
        subprocess.run(self._as_pg + [str(POSTGRES_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                                      "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _attempt in range(5):  # another process may take the port between free_port and the bind
            self.port = free_port()
            options = ("-c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c port=%d "
                       "-c max_connections=200" % (self.root, self.port))
            started = subprocess.run(self._as_pg + [str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-l",
                                                    str(self.root / "server.log"), "-w", "-t", "60", "-o", options,
                                                    "start"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if started.returncode == 0:
                return self
        raise RuntimeError("PostgreSQL did not start:\n%s" % (self.root / "server.log").read_text()[-2000:])

    def create_database(self, name: str) -> str:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text('CREATE DATABASE "%s"' % name))
        finally:
            engine.dispose()
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.root / "data" / "postmaster.pid").exists():
            subprocess.run(self._as_pg + [str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                                          "fast", "-w", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------- HAProxy


HAPROXY_CONFIG = """\
# Written by bench/_cluster.py: one frontend per pool of stws nodes, all on 127.0.0.1.
global
    nbthread 1
    maxconn 2000

defaults
    mode http
    # Keep-alive on both sides: the client's connection stays open, each
    # request on it is balanced on its own, and idle server connections are
    # reused (http-reuse), as a production front of an HTTP API is set up.
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    timeout check 5s

frontend stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
{pools}"""

POOL = """
frontend {name}
    bind 127.0.0.1:{port}
    default_backend {name}_nodes

backend {name}_nodes
    balance roundrobin
    option httpchk GET {health}
    http-check expect status 200
{servers}
"""


class HAProxy:
    """Debian's haproxy in the foreground with a config written here: one
    frontend per pool (``{"one": [node_a], "two": [node_a, node_b]}``), each
    balancing round robin over its nodes, health-checked every 2 s on
    HEALTH_PATH; a stats page for the responses each node gave."""

    def __init__(self, root: Path, pools: dict[str, list]):
        self.root = Path(root)
        self.pools = pools
        self.ports: dict[str, int] = {}
        self.stats_port = 0
        self.process: subprocess.Popen | None = None

    def config(self) -> str:
        self.stats_port = free_port()
        text = []
        for name, nodes in self.pools.items():
            self.ports[name] = free_port()
            servers = "\n".join("    server %s 127.0.0.1:%d check inter 2s fall 2 rise 1" % (node.name, node.port)
                                for node in nodes)
            text.append(POOL.format(name=name, port=self.ports[name], health=HEALTH_PATH, servers=servers))
        return HAPROXY_CONFIG.format(stats_port=self.stats_port, pools="".join(text))

    def start(self, timeout: float = 30.0) -> "HAProxy":
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "haproxy.cfg"
        path.write_text(self.config())
        checked = subprocess.run([HAPROXY, "-c", "-f", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if checked.returncode != 0:
            raise RuntimeError("haproxy refuses %s:\n%s" % (path, checked.stdout.decode(errors="replace")))
        self._log = open(self.root / "haproxy.log", "wb")
        # -db: foreground, no daemon; its pid is ours to stop.
        self.process = subprocess.Popen([HAPROXY, "-db", "-f", str(path)], stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not all(self._all_up(name) for name in self.pools):
            if self.process.poll() is not None:
                raise RuntimeError("haproxy exited with %s:\n%s" % (self.process.returncode,
                                                                     (self.root / "haproxy.log").read_text()))
            if time.monotonic() > deadline:
                raise RuntimeError("haproxy's health checks did not pass within %.0f s: %r" % (timeout, self.stats()))
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self._log.close()

    def __enter__(self) -> "HAProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, pool: str) -> str:
        return "http://127.0.0.1:%d" % self.ports[pool]

    def stats(self) -> list[dict]:
        """HAProxy's stats CSV as rows (pxname, svname, status, hrsp_2xx, ...)."""
        try:
            raw = urllib.request.urlopen("http://127.0.0.1:%d/stats;csv" % self.stats_port, timeout=5).read()
        except OSError:
            return []
        lines = raw.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        return [dict(zip(header, line.split(","))) for line in lines[1:] if line]

    def served_by(self, pool: str) -> dict[str, int]:
        """Responses each node of ``pool`` gave so far (all status classes)."""
        counts = {}
        for row in self.stats():
            if row["pxname"] == pool + "_nodes" and row["svname"] not in ("BACKEND", "FRONTEND"):
                counts[row["svname"]] = sum(int(row[k] or 0) for k in row if k.startswith("hrsp_"))
        return counts

    def not_up(self, pool: str) -> list[str]:
        """The nodes of ``pool`` HAProxy's health checks do not count as up."""
        rows = [r for r in self.stats() if r["pxname"] == pool + "_nodes" and r["svname"] not in ("BACKEND",
                                                                                                   "FRONTEND")]
        return [r["svname"] for r in rows if not r["status"].startswith("UP")]

    def _all_up(self, pool: str) -> bool:
        return bool(self.stats()) and not self.not_up(pool)


# ---------------------------------------------------------------- nodes and targets


class Node(StwsServer):
    """One stws process of the cluster, named in HAProxy's config and the figures."""

    def __init__(self, name: str, **kwargs):
        super().__init__(**kwargs)
        self.name = name


def postgres_cpu(url: str):
    """A function giving the CPU seconds a loopback PostgreSQL server has
    used so far (the postmaster, its live backends, and the ones it reaped),
    or None when its processes are not ours to read."""
    engine = create_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            backend = connection.scalar(text("SELECT pg_backend_pid()"))
    finally:
        engine.dispose()
    try:
        postmaster = int(Path("/proc/%d/stat" % backend).read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None

    def cpu_seconds() -> float:
        tick = os.sysconf("SC_CLK_TCK")
        fields = Path("/proc/%d/stat" % postmaster).read_text().rpartition(")")[2].split()
        total = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime (reaped backends)
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    child = Path(entry.path, "stat").read_text().rpartition(")")[2].split()
                except OSError:
                    continue
                if child[1] == str(postmaster):
                    total += int(child[11]) + int(child[12])
        return total / tick

    return cpu_seconds




class Target:
    """What a benchmark loads: a base URL (a node, or HAProxy in front of
    nodes) and the processes whose CPU it costs. Quacks like _server.
    StwsServer for _measure (``url``, ``cpu_seconds``): ``cpu_seconds`` is
    the stws nodes' sum, and each call keeps a snapshot of every process
    (the nodes, and ``others``: name -> CPU seconds function, e.g. HAProxy
    and PostgreSQL), so that after ``_measure.measure`` (whose last two calls
    enclose the measured run) ``last_run_cpu()`` splits that run's CPU."""

    def __init__(self, key: str, title: str, base_url: str, nodes: list, proxy: HAProxy | None = None,
                 pool: str | None = None, others: dict | None = None):
        self.key, self.title, self.base_url = key, title, base_url
        self.nodes, self.proxy, self.pool = nodes, proxy, pool
        self.others = dict(others or {})
        if proxy is not None:
            self.others["haproxy"] = lambda: process_cpu_seconds(proxy.pid)
        self._snapshots: list[dict[str, float]] = []

    def url(self, path: str) -> str:
        return "%s/%s" % (self.base_url, path.lstrip("/"))

    def service_url(self, service: str) -> str:
        return self.url("Services2/%s.asmx" % service)

    def cpu_seconds(self) -> float:
        nodes = {node.name: node.cpu_seconds() for node in self.nodes}
        snapshot = dict(nodes, **{name: seconds() for name, seconds in self.others.items()})
        self._snapshots = (self._snapshots + [snapshot])[-2:]
        return sum(nodes.values())

    def last_run_cpu(self) -> dict[str, float]:
        before, after = self._snapshots
        return {name: after[name] - before[name] for name in after}

    def served_by(self) -> dict[str, int]:
        """Responses per node so far (HAProxy's count; a direct node: empty)."""
        return self.proxy.served_by(self.pool) if self.proxy is not None else {}

    def not_up(self) -> list[str]:
        return self.proxy.not_up(self.pool) if self.proxy is not None else []


# ---------------------------------------------------------------- seeding


def seeded_database(url: str, tickets: int, admin_password: str, progress=print):
    """``seed_tickets.seed`` on a database without bench rows; on one seeded
    before (a kept 1,000,000-ticket database: seeding it again takes
    minutes), what that seed made, read back."""
    import seed_tickets
    from stws.db.engine import make_engine
    from stws.db.models import Ticket, User

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            customers = connection.scalar(select(func.count(User.id)).where(
                User.username_key.like("benchcust%"))) if inspect(engine).has_table("users") else 0
            if customers:
                result = seed_tickets.Seeded(customers=customers)
                result.tickets = connection.scalar(select(func.count(Ticket.id)))
                result.open_tickets = connection.scalar(select(func.count(Ticket.id)).where(
                    Ticket.status_id.in_(seed_tickets.OPEN_STATUSES)))
        if customers:  # (its own connection: on SQLite the one above holds the write lock until it ends)
            result.top_customers = seed_tickets._top_customers(engine)
            return result, True
    finally:
        engine.dispose()
    return seed_tickets.seed(url, tickets=tickets, admin_password=admin_password, progress=progress), False
