"""SOAP calls of a login-provider user against the same calls of a local
account, in one run: the credential cache must keep the login provider out
of the hot path.

    .venv/bin/python bench/provider_login.py [--tickets 2000] [--seconds 10] [--warmup 3] [--rounds 3]
                                             [--connections 16] [--client auto|wrk|python]

Seeds a small ticket database (seed_tickets), starts the sample provider
(examples/providers/python/provider.py, its own process on loopback) with
one user, starts one stws server process, enables the login provider
through svcExternalProviders, and gives both callers the Manager role (so
both see every ticket). Then, round after round:

  l   GetTicketInfo as a local password account (credential cache hit)   the baseline
  p   GetTicketInfo as the login provider's user (External account)     target >= 0.9 x l

ticketId cycles over 1,000 tickets. A credential the provider vouched for
is cached for stws.providers.login.EXTERNAL_CREDENTIAL_SECONDS (30 s), so
``p`` calls the provider about once per 30 s (all connections share one
credential; the calls in flight when it expires each ask once): the number
of Authenticate calls the provider answered during the run is printed too, and the server's CPU time per call
of each (steadier than calls/s on a shared machine).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _soap  # noqa: E402
import seed_tickets  # noqa: E402
from _load import have_wrk  # noqa: E402
from _measure import FAILED, Scenario, check, measure, ms, post  # noqa: E402
from _server import ADMIN_PASSWORD, ADMIN_USER, REPO, StwsServer  # noqa: E402

PROVIDER_SCRIPT = REPO / "examples" / "providers" / "python" / "provider.py"
WEB_SERVICE_PASSWORD = "bench-web-service-password"
LOCAL = ("benchlocal", "bench-Local-Passw0rd!")
EXTERNAL = ("benchexternal", "bench-External-Passw0rd!")
ADMIN = [("authUserName", ADMIN_USER), ("authPassword", ADMIN_PASSWORD)]
TARGET = 0.9


def _hash_password(password: str) -> str:
    spec = importlib.util.spec_from_file_location("sample_provider", PROVIDER_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.hash_password(password)


class Provider:
    """The sample provider in its own process; its log counts the calls."""

    def __init__(self, folder: Path):
        config = folder / "provider.ini"
        config.write_text(textwrap.dedent("""\
            [provider]
            auth_password = %s

            [user %s]
            password_hash = %s
            email = external@bench.example
            display_name = Bench External
            """) % (WEB_SERVICE_PASSWORD, EXTERNAL[0], _hash_password(EXTERNAL[1])), encoding="utf-8")
        self.log = folder / "provider.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([sys.executable, str(PROVIDER_SCRIPT), "--config", str(config),
                                             "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=log,
                                            text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if select.select([self.process.stdout], [], [], 0.5)[0]:
                match = re.search(r"serving (http://\S+/provider\.asmx)", self.process.stdout.readline())
                if match:
                    self.url = match.group(1)
                    return
            if self.process.poll() is not None:
                break
        self.stop()
        raise SystemExit("the sample provider did not start:\n" + self.log.read_text())

    def authenticate_calls(self) -> int:
        return self.log.read_text().count(" Authenticate: Success=")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process.stdout.close()


def _call(server, service: str, operation: str, params, array_namespace=None) -> _soap.Reply:
    body = _soap.envelope(service, operation, params, array_namespace)
    reply = post(server.service_url(service), body, _soap.headers(service, operation))
    if reply.status != 200:
        raise SystemExit("%s.%s: HTTP %d %s" % (service, operation, reply.status, reply.body[:500]))
    return reply


def _ok(reply: _soap.Reply, what: str) -> _soap.Reply:
    if reply.text("Result") != "true":
        raise SystemExit("%s failed: %s" % (what, reply.text("Message")))
    return reply


def _prepare(server, provider: Provider, ticket_id: int) -> None:
    """Enable the login provider; make both callers managers."""
    arrays = {}
    for service in ("svcExternalProviders", "svcOrganization"):
        wsdl = urllib.request.urlopen(server.service_url(service) + "?WSDL", timeout=30).read()
        arrays[service] = _soap.array_of_string_namespace(wsdl)
    _ok(_call(server, "svcExternalProviders", "SetProviderSettings", ADMIN + [("settingValues", [
        "Login.Enabled=true", "Login.Mode=WebService", "Login.WebServiceUrl=" + provider.url,
        "Login.WebServicePassword=" + WEB_SERVICE_PASSWORD])], arrays["svcExternalProviders"]),
        "SetProviderSettings")
    created = _ok(_call(server, "svcOrganization", "CreateUser", ADMIN + [
        ("username", LOCAL[0]), ("password", LOCAL[1]), ("email", "local@bench.example"),
        ("isEmailVerified", True), ("displayName", "Bench Local")]), "CreateUser")
    local_id = int(created.text("RequestResult"))
    # The first call as the provider's user creates the account (as a customer).
    _call(server, "svcTickets", "GetTicketInfo", [("authUserName", EXTERNAL[0]), ("authPassword", EXTERNAL[1]),
                                                   ("ticketId", ticket_id)])
    found = _ok(_call(server, "svcOrganization", "GetUserByUsername", ADMIN + [("username", EXTERNAL[0])]),
                "GetUserByUsername (the provider's user has no account: is the provider reachable?)")
    external_id = int(found.text("ID"))
    for user_id in (local_id, external_id):
        _ok(_call(server, "svcOrganization", "SetUsersProperties", ADMIN + [
            ("userID", user_id), ("propertyValues", ["Roles=Manager"])], arrays["svcOrganization"]),
            "SetUsersProperties")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=2000, help="tickets to seed (2000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per scenario (3)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each scenario, interleaved (3)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (16)")
    parser.add_argument("--threads", type=int, default=None, help="server SOAP threads (server default)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator (auto: wrk when installed)")
    args = parser.parse_args(argv)
    if args.client == "auto":
        args.client = "wrk" if have_wrk() else "python"
    data_dir = Path(tempfile.mkdtemp(prefix="stws-bench-provider-login-"))
    url = "sqlite:///%s" % (data_dir / "tickets.sqlite3")
    rng = random.Random(7)
    print("stws login provider: GetTicketInfo, %d s measured (+%d s warm-up) per scenario, %d connections, "
          "client %s, %d CPUs, load average %.1f" % (args.seconds, args.warmup, args.connections, args.client,
                                                     os.cpu_count() or 0, os.getloadavg()[0]))
    results: dict[str, list] = {"l": [], "p": []}
    provider = None
    try:
        seed_tickets.seed(url, tickets=args.tickets, admin_password=ADMIN_PASSWORD, progress=None)
        live = _live_ticket_ids(url)
        ticket_ids = rng.sample(live, min(1000, len(live)))
        provider = Provider(data_dir)
        server = StwsServer(threads=args.threads, database=url, data_dir=data_dir)
        server.start()
        try:
            _prepare(server, provider, ticket_ids[0])
            plan = [Scenario(key, title, "Services2/svcTickets.asmx", "svcTickets", "GetTicketInfo",
                             [[("authUserName", user), ("authPassword", password), ("ticketId", ticket_id)]
                              for ticket_id in ticket_ids], FAILED)
                    for key, title, (user, password) in (("l", "local password account", LOCAL),
                                                         ("p", "login provider's user", EXTERNAL))]
            for scenario in plan:
                check(server, scenario)
            calls_before = provider.authenticate_calls()
            began = time.monotonic()
            print("\n  %-3s %-26s %9s %8s %7s %8s %8s %8s" % ("", "GetTicketInfo as", "calls/s", "calls",
                                                              "failed", "p50 ms", "p99 ms", "CPU ms"))
            for round_number in range(1, args.rounds + 1):
                print("  round %d of %d" % (round_number, args.rounds))
                for scenario in plan:
                    result = measure(server, scenario, args)
                    results[scenario.key].append(result)
                    print("  %-3s %-26s %9.1f %8d %7d %8s %8s %8s" % (
                        scenario.key, scenario.title, result.rps, result.requests, result.failures + result.errors,
                        ms(result.latency_ms_p50), ms(result.latency_ms_p99), ms(result.server_cpu_ms_per_request)),
                        flush=True)
            provider_calls = provider.authenticate_calls() - calls_before
            elapsed = time.monotonic() - began
        finally:
            code = server.stop()
    finally:
        if provider is not None:
            provider.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print()
    ratios = [p.rps / l.rps for l, p in zip(results["l"], results["p"]) if l.rps and p.rps]
    if not ratios:
        print("no round measured calls of both scenarios: the machine is too busy; try more --seconds")
        return 1
    ratio = statistics.median(ratios)
    print("local account: %.1f calls/s, login provider's user: %.1f calls/s (medians of %d rounds)" % (
        statistics.median(r.rps for r in results["l"]), statistics.median(r.rps for r in results["p"]),
        args.rounds))
    print("p/l = %.3f (target >= %.1f: %s); rounds %s" % (ratio, TARGET, "met" if ratio >= TARGET else "NOT met",
                                                        " ".join("%.3f" % r for r in ratios)))
    cpu = {key: statistics.median(r.server_cpu_ms_per_request for r in rs if r.server_cpu_ms_per_request)
           for key, rs in results.items()}
    # On a shared machine the server's CPU time per call drifts less than calls/s.
    print("server CPU per call: local %.2f ms, login provider's user %.2f ms (p/l %.3f)" % (
        cpu["l"], cpu["p"], cpu["p"] / cpu["l"]))
    print("the provider answered %d Authenticate calls in %.0f s of load (%d GetTicketInfo calls as its user)" % (
        provider_calls, elapsed, sum(r.requests for r in results["p"])))
    print("server exit code %s" % code)
    failures = sum(r.failures + r.errors for rs in results.values() for r in rs)
    return 1 if failures else 0


def _live_ticket_ids(url: str) -> list[int]:
    from sqlalchemy import create_engine, select

    from stws.db.models import Ticket

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.scalars(select(Ticket.id).where(Ticket.is_deleted.is_(False))))
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
