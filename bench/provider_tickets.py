"""CreateTicketFromCustomer over SOAP with the custom field and ticket
providers enabled, against the sample provider on loopback, compared with
the same creation with the providers off, in the same run.

    .venv/bin/python bench/provider_tickets.py [--seconds 8] [--warmup 2] [--rounds 3] [--connections 8]
                                               [--client auto|wrk|python] [--consult-calls 200000]
                                               [--creations 500]

One server process (``twistd -n`` as in _server.py) on a new SQLite
database whose Support department has a ticket template with a "Plan"
field; the sample provider (examples/providers/python/provider.py) in its
own process answers GetCustomFieldOptions with a change of Plan and
StartTicket with cf_Plan=Gold for the customer alice@example.com, so every
ticket made with the providers on carries a value and a history event.

Scenarios, interleaved per round (off, on, direct):

  off     CreateTicketFromCustomer, providers disabled                    the baseline
  on      the same with CustomField and Ticket enabled (both are called
          before each creation, which then leaves the commit-group thread)
  direct  the two provider calls alone: GetCustomFieldOptions and
          StartTicket posted straight to the provider, taken in turn, at
          the same concurrency: the provider's own time

Printed per scenario: creations (or provider calls) per second, p50/p95
latency, the server's CPU per creation. The figures the verdict uses:
``on`` against ``off`` (creations/s and p95), and the stws-side cost of
asking the providers: on p50 - off p50 - the direct pair's time (2 x
direct p50: the two calls are made one after the other). The server's CPU
per creation excludes the provider, which runs in its own process.

First, in process with no provider enabled: what the consult step costs
(``ticket_start.consult`` returning None from the settings snapshot),
which every CreateTicket* call pays, and create_ticket_from_customer
through the operation runner with the step and with it removed, in
alternating rounds (the providers-off regression check).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _soap  # noqa: E402
from _load import have_wrk, run_load  # noqa: E402
from _measure import FAILED, Scenario, check, measure, ms, settle  # noqa: E402
from _server import ADMIN_PASSWORD, ADMIN_USER, StwsServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_SCRIPT = ROOT / "examples" / "providers" / "python" / "provider.py"
AUTH_PW = "bench-provider-password"
TICKETS, PROVIDERS = "svcTickets", "svcExternalProviders"
AUTH = [("authUserName", ADMIN_USER), ("authPassword", ADMIN_PASSWORD)]
CUSTOMER = "alice@example.com"


def _sample_module():
    spec = importlib.util.spec_from_file_location("sample_provider", PROVIDER_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_provider_config(directory: Path) -> Path:
    config = directory / "provider.ini"
    config.write_text(textwrap.dedent("""\
        [provider]
        auth_password = %s
        events_log = events.log

        [tickets]
        fill_fields =
            Plan | Plan

        [custom fields]
        rules =
            * | show | Plan

        [user alice]
        password_hash = %s
        email = %s
        display_name = Alice
        Plan = Gold
        """) % (AUTH_PW, _sample_module().hash_password("alice-pw"), CUSTOMER), encoding="utf-8")
    return config


class SampleProvider:
    """provider.py in its own process on a free loopback port (as the tests start it)."""

    def __init__(self, config: Path):
        self.log = open(config.parent / "provider.log", "a")
        self.process = subprocess.Popen(
            [sys.executable, str(PROVIDER_SCRIPT), "--config", str(config), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()
        if "serving " not in line:
            self.stop()
            raise SystemExit("the sample provider did not start: %r" % line)
        self.url = line.split("serving ", 1)[1].split()[0]
        # Its stdout is not read again: nothing more is written there.

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.log.close()


def prepare_database(data_dir: Path) -> None:
    """The database the server will use, with Support's ticket template (Plan)."""
    from stws.config import Config
    from stws.domain.tickets import fields
    from stws.runtime import start_runtime

    os.environ.setdefault("STWS_ADMIN_PASSWORD", ADMIN_PASSWORD)
    runtime = start_runtime(Config(data_dir=data_dir))
    try:
        with runtime.db.transaction() as session:
            template = fields.create_template(session, "Support tickets")
            plan = fields.create_field(session, "Plan")
            fields.put_field_on_template(session, template.id, plan.id)
            fields.set_department_template(session, 1, template.id)
    finally:
        runtime.close()


def set_providers(server, array_namespace, enabled: bool, url: str) -> None:
    items = []
    for name in ("CustomField", "Ticket"):
        items += ["%s.Enabled=%s" % (name, "true" if enabled else "false"), "%s.Mode=WebService" % name,
                  "%s.WebServiceUrl=%s" % (name, url), "%s.WebServicePassword=%s" % (name, AUTH_PW)]
    body = _soap.envelope(PROVIDERS, "SetProviderSettings", AUTH + [("settingValues", items)], array_namespace)
    reply = _post(server.service_url(PROVIDERS), body, _soap.headers(PROVIDERS, "SetProviderSettings"))
    if reply.status != 200 or FAILED in reply.body:
        raise SystemExit("SetProviderSettings failed: %s %s" % (reply.status, reply.body[:600]))


def _post(url, body, headers):
    from _measure import post
    return post(url, body, headers)


def provider_envelope(method: str, items) -> bytes:
    strings = "".join("<string>%s</string>" % escape("%s=%s" % item) for item in items)
    return ('<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
            'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><%s xmlns="http://tempuri.org/">'
            '<inputs><InputVariables>%s</InputVariables></inputs></%s></soap:Body></soap:Envelope>'
            % (method, strings, method)).encode()


class Direct:
    """The provider's two calls as stws makes them, posted straight to it."""

    key, title, fail_marker = "direct", "the two provider calls alone", b"Success>false<"

    def __init__(self, provider_url: str):
        self.provider_url = provider_url
        common = [("authPW", AUTH_PW), ("departmentName", "Support"), ("cf_Plan", "")]
        self.bodies = [
            provider_envelope("GetCustomFieldOptions", common + [("location", "REGULAR"),
                                                                 ("interactiontype", "TICKET")]),
            provider_envelope("StartTicket", common + [("emailFrom", CUSTOMER), ("subject", "Bench ticket"),
                                                       ("ticketNumber", "")]),
        ]
        self.load_body = self.bodies
        # Both methods take the same SOAPAction-less dispatch by body element in spyne.
        self.headers = {"Content-Type": "text/xml; charset=utf-8"}

    def url(self, server):
        return self.provider_url


def consult_cost(calls: int, creations: int, rounds: int = 5) -> tuple[float, float, float]:
    """With no provider enabled, in process on a temporary SQLite database:
    microseconds per ``ticket_start.consult`` (it returns None from the
    settings snapshot), and the median milliseconds per
    create_ticket_from_customer run through the operation runner with its
    consult step and with the step removed, in alternating rounds."""
    import dataclasses

    from stws.config import Config
    from stws.operations import runner
    from stws.operations.tickets import creation
    from stws.providers import ticket_start
    from stws.runtime import start_runtime
    from stws.security.principals import system_principal

    os.environ.setdefault("STWS_ADMIN_PASSWORD", ADMIN_PASSWORD)
    with tempfile.TemporaryDirectory() as directory:
        runtime = start_runtime(Config(data_dir=Path(directory) / "data"))
        try:
            request = ticket_start.NewTicketRequest(department_id=1, subject="s", address=CUSTOMER)
            assert ticket_start.consult(runtime, request) is None
            best = None
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(calls):
                    ticket_start.consult(runtime, request)
                took = (time.perf_counter() - started) / calls * 1e6
                best = took if best is None else min(best, took)
            with runtime.db.transaction() as session:
                principal = system_principal(session, "bench")
            spec = creation.create_ticket_from_customer
            without = dataclasses.replace(spec, consult=None)
            args = (1, CUSTOMER, "Bench ticket", "My website is down again.", False, False)
            times = {True: [], False: []}
            for _ in range(rounds):
                for consulting in (True, False):
                    started = time.perf_counter()
                    for _ in range(creations):
                        runner.run(runtime, spec if consulting else without, principal, args)
                    times[consulting].append((time.perf_counter() - started) / creations * 1e3)
            return best, statistics.median(times[True]), statistics.median(times[False])
        finally:
            runtime.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per scenario (8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per scenario (2)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each scenario, interleaved (3)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (8)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--consult-calls", type=int, default=200_000,
                        help="in-process consult calls timed with no provider (200000)")
    parser.add_argument("--creations", type=int, default=500,
                        help="in-process creations per round, with and without the consult step (500)")
    args = parser.parse_args(argv)
    if args.client == "auto":
        args.client = "wrk" if have_wrk() else "python"
    print("stws ticket creation with the custom field and ticket providers: %d s measured (+%d s warm-up) per "
          "scenario, %d rounds, %d connections, client %s, %d CPUs, load average %.1f" % (
              args.seconds, args.warmup, args.rounds, args.connections, args.client, os.cpu_count() or 0,
              os.getloadavg()[0]), flush=True)
    consult_us, with_ms, without_ms = consult_cost(args.consult_calls, args.creations)
    print("no provider enabled, in process: the consult step %.2f us per call; create_ticket_from_customer "
          "%.3f ms with it, %.3f ms with the step removed (%.3f x)" % (consult_us, with_ms, without_ms,
                                                                       with_ms / without_ms), flush=True)
    work = Path(tempfile.mkdtemp(prefix="stws-bench-providers-"))
    provider = server = None
    try:
        prepare_database(work / "data")
        provider = SampleProvider(write_provider_config(work))
        server = StwsServer(data_dir=work / "data").start()
        wsdl = urllib.request.urlopen(server.service_url(PROVIDERS) + "?WSDL", timeout=30).read()
        array_namespace = _soap.array_of_string_namespace(wsdl)
        create = Scenario("create", "CreateTicketFromCustomer", "Services2/%s.asmx" % TICKETS, TICKETS,
                          "CreateTicketFromCustomer",
                          AUTH + [("departmentId", 1), ("fromAddress", CUSTOMER), ("subject", "Bench ticket"),
                                  ("body", "My website is down again."), ("isHtml", False),
                                  ("sendAutoResponder", False)], FAILED)
        direct = Direct(provider.url)
        print("server pid %d at %s; sample provider at %s" % (server.pid, server.base_url, provider.url))
        results = {"off": [], "on": [], "direct": []}
        for round_number in range(1, args.rounds + 1):
            for key in ("off", "on", "direct"):
                if key == "direct":
                    settle(server)
                    run_load(direct.url(server), direct.load_body, direct.headers, seconds=args.warmup,
                             connections=args.connections, tool=args.client, fail_marker=direct.fail_marker,
                             tag="wd")
                    result = run_load(direct.url(server), direct.load_body, direct.headers, seconds=args.seconds,
                                      connections=args.connections, tool=args.client,
                                      fail_marker=direct.fail_marker, tag="md")
                else:
                    set_providers(server, array_namespace, key == "on", provider.url)
                    check(server, create)
                    result = measure(server, create, args)
                results[key].append(result)
                if result.failures or result.errors:
                    print("  ! %s: %d failures, %d errors" % (key, result.failures, result.errors))
                print("round %d %-6s %8.1f /s  p50 %s ms  p95 %s ms  server CPU %s ms per request" % (
                    round_number, key, result.rps, ms(result.latency_ms_p50), ms(result.latency_ms_p95),
                    ms(result.server_cpu_ms_per_request)), flush=True)

        def median(key, attribute):
            values = [getattr(r, attribute) for r in results[key] if getattr(r, attribute) is not None]
            return statistics.median(values) if values else None

        off_rps, on_rps = median("off", "rps"), median("on", "rps")
        off_p50, on_p50 = median("off", "latency_ms_p50"), median("on", "latency_ms_p50")
        off_p95, on_p95 = median("off", "latency_ms_p95"), median("on", "latency_ms_p95")
        direct_p50 = median("direct", "latency_ms_p50")
        print()
        print("medians of %d rounds:" % args.rounds)
        print("  off     %8.1f creations/s  p50 %s ms  p95 %s ms  server CPU %s ms per creation" % (
            off_rps, ms(off_p50), ms(off_p95), ms(median("off", "server_cpu_ms_per_request"))))
        print("  on      %8.1f creations/s  p50 %s ms  p95 %s ms  server CPU %s ms per creation" % (
            on_rps, ms(on_p50), ms(on_p95), ms(median("on", "server_cpu_ms_per_request"))))
        print("  direct  %8.1f provider calls/s (%.1f pairs/s)  p50 %s ms  p95 %s ms per call" % (
            median("direct", "rps"), median("direct", "rps") / 2, ms(direct_p50),
            ms(median("direct", "latency_ms_p95"))))
        print("  on / off: %.2f x creations/s, p95 %.1f x" % (on_rps / off_rps, on_p95 / off_p95))
        if None not in (on_p50, off_p50, direct_p50):
            print("  stws's own cost of asking the providers (on p50 - off p50 - 2 x direct p50): %.2f ms per "
                  "creation" % (on_p50 - off_p50 - 2 * direct_p50))
    finally:
        if server is not None:
            server.stop()
        if provider is not None:
            provider.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
