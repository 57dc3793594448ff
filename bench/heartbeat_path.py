"""A workspace heartbeat's whole request in one process and one thread,
against the SOAP echo's: the Python work each costs the server, without
the thread hand-off, the access log or a loaded machine's noise.

    .venv/bin/python bench/heartbeat_path.py sqlite:////copy/of/seeded.sqlite3 [--rounds 15] [--batch 600]

On a database ``seed_tickets`` seeded (a copy: sessions are opened in it),
the real Site (stws.server.StwsSite, with the echo of bench/_extras) reads
each request from a StringTransport: Twisted's HTTP parsing, the resource,
the handler with its database reads, the response. The thread pools and
``callFromThread`` run their work at once on this thread, and the access
log is left out (both cost the echo as much as the heartbeat). Scenarios
as bench/workspace_heartbeat.py's: b the echo, h the heartbeat as each
agent in turn, hm as admin, ht with a ticket page open (five agents of the
first group), s a static file (the floor: HTTP and the handler's
dispatch). Prints the least CPU time per request over ``--rounds``
interleaved batches, and each against the echo's.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("STWS_ADMIN_PASSWORD", "bench-Admin-Passw0rd!")

from sqlalchemy import select, update  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402
from twisted.python.failure import Failure  # noqa: E402

import _extras  # noqa: E402
import seed_tickets  # noqa: E402
from _measure import Scenario  # noqa: E402
from stws.config import Config  # noqa: E402
from stws.db.models import Ticket, User, utcnow  # noqa: E402
from stws.domain.tickets import counts  # noqa: E402
from stws.runtime import start_runtime  # noqa: E402
from stws.security import sessions  # noqa: E402
from stws.server import StwsSite  # noqa: E402
from stws.soap.endpoint import AsmxEndpoint  # noqa: E402
from stws.soap.hosting import AsmxResource, SoapPools  # noqa: E402
from stws.web.admin import SESSION_COOKIE  # noqa: E402

BASE = "http://127.0.0.1:8080"


class AtOnce:
    """A thread pool and a reactor that run what they are given now, on this thread."""

    def callInThreadWithCallback(self, on_result, function, *args, **kwargs):
        try:
            result = function(*args, **kwargs)
        except BaseException:
            on_result(False, Failure())
        else:
            on_result(True, result)

    def callFromThread(self, function, *args, **kwargs):
        function(*args, **kwargs)


def get(path: str, token: str) -> bytes:
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept-Encoding: identity\r\n"
            "Cookie: %s=%s\r\n\r\n" % (path, SESSION_COOKIE, token)).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="SQLAlchemy URL of a copy of a database seed_tickets seeded")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=600, help="requests per scenario per round")
    args = parser.parse_args()
    runtime = start_runtime(Config(data_dir=Path(tempfile.mkdtemp(prefix="stws-heartbeat-path-")), database=args.url))
    counts.refresh(runtime.db)  # the counts from the table, as in a running help desk
    with runtime.db.transaction() as session:
        session.execute(update(User).where(User.username.like("benchagent%"))
                        .values(is_active_agent=True, last_heartbeat_utc=utcnow()))
        agents = session.execute(select(User.id).where(User.username.like("benchagent%")).order_by(User.id)).scalars()
        tokens = [sessions.open_session(session, user_id) for user_id in agents]
        admin = sessions.open_session(session, session.execute(select(User.id).where(User.username == "admin")).scalar())
        number = session.execute(select(Ticket.ticket_number).where(
            Ticket.group_id == 1, Ticket.status_id.in_(seed_tickets.OPEN_STATUSES), Ticket.is_deleted.is_(False))
            .order_by(Ticket.id.desc()).limit(1)).scalar()
    now = AtOnce()
    pools = SoapPools(now, now, now, now)
    site = StwsSite(runtime)
    site.install_services(now, pools, BASE)
    echo_url = "%s/Services2/%s.asmx" % (BASE, _extras.ECHO_SERVICE)
    endpoint = AsmxEndpoint(_extras.EchoService, runtime, echo_url, runtime.config.max_request_size)
    site.root.getChild(b"services2", None).add(_extras.ECHO_SERVICE + ".asmx", AsmxResource(endpoint, now, pools))
    site.log = lambda request: None  # the access log: the same line for every request
    echo = Scenario("b", "Echo", "Services2/svcBenchEcho.asmx", _extras.ECHO_SERVICE, "Echo", [("text", "hello")])
    headers = "".join("%s: %s\r\n" % item for item in echo.headers.items())
    echo_request = ("POST /%s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept-Encoding: identity\r\n%s"
                    "Content-Length: %d\r\n\r\n" % (echo.path, headers, len(echo.load_body))).encode() + echo.load_body
    scenarios = {
        "b": [echo_request],
        "h": [get("/admin/heartbeat", token) for token in tokens],
        "hm": [get("/admin/heartbeat", admin)],
        "ht": [get("/admin/heartbeat?ticket=" + number, token) for token in tokens[:5]],
        "s": [get("/admin/static/admin.css", tokens[0])],
    }
    transport = StringTransport()
    channel = site.buildProtocol(None)
    channel.makeConnection(transport)
    for key, requests in scenarios.items():
        channel.dataReceived(requests[0])
        answer = transport.value()
        transport.clear()
        if b" 200 " not in answer.split(b"\r\n", 1)[0] or b'"version":null' in answer or b'"error"' in answer:
            raise SystemExit("%s answered: %r" % (key, answer[:400]))

    def per_request(requests, n):
        began = time.process_time()
        for i in range(n):
            channel.dataReceived(requests[i % len(requests)])
            transport.clear()
        return (time.process_time() - began) / n * 1e6

    least = {}
    for _ in range(args.rounds):
        for key, requests in scenarios.items():
            least[key] = min(least.get(key, float("inf")), per_request(requests, args.batch))
    print("CPU us per request (least of %d rounds of %d; load average %.1f):" % (
        args.rounds, args.batch, os.getloadavg()[0]))
    print("  " + "  ".join("%s %.0f" % item for item in least.items()))
    print("  against the echo: " + "  ".join("%s/b %.2f" % (key, value / least["b"])
                                             for key, value in least.items() if key != "b"))


if __name__ == "__main__":
    main()
