"""What one call of an external provider costs stws, for the ASP.NET sample
provider (examples/providers/aspnet: C# .asmx under Mono's ASP.NET runtime
behind its AspNetHost) against the Python sample provider
(examples/providers/python) as the baseline, both on loopback, both called
through stws's own outbound gateway (ProviderGateway over PeerClient), as
ticket creation and sign-in call them.

    .venv/bin/python bench/provider_calls.py [--calls 300] [--threads 4] [--sign-ins 20]

Per provider: StartTicket (a known customer, an escalation keyword: three
outputs) ``--calls`` times one after another (p50/p95 latency, calls/s),
then ``--calls`` spread over ``--threads`` threads (calls/s), and
Authenticate with the right password ``--sign-ins`` times (p50: mostly the
provider's password hash, scrypt in Python, PBKDF2-SHA256 x 50,000 in C#).
Each provider gets 30 calls of warm-up first (Mono JITs on first use).
Then the ratios ASP.NET / Python. Needs Mono (mono, mcs); about 30 s.

The providers are built and started with the tests' own helpers
(tests/interop/aspnet_site.py, tests/test_sample_provider.py).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "interop")]

import aspnet_site  # noqa: E402
import test_sample_provider as python_sample  # noqa: E402
from stws.providers.gateway import ProviderGateway, keys  # noqa: E402
from stws.providers.settings import WEB_SERVICE, ProviderSettings  # noqa: E402
from stws.remote import PeerClient  # noqa: E402

TICKET = [("departmentName", "Support"), ("loginUsername", "alice"), ("subject", "Our site is down")]
TICKET_OUTPUTS = keys("TicketCreation", "departmentName", "cf_*")


class Target:
    def __init__(self, label, url, password, alice_password):
        self.label, self.url, self.alice_password = label, url, alice_password
        self.settings = ProviderSettings(Enabled=True, Mode=WEB_SERVICE, WebServiceUrl=url,
                                         WebServicePassword=password, TimeoutSeconds=30)
        self.gateway = ProviderGateway(db=None, remote=PeerClient())

    def start_ticket(self):
        answer = self.gateway.call("Ticket", "StartTicket", TICKET, TICKET_OUTPUTS, self.settings)
        assert answer.flag("TicketCreation", False) and answer.get("departmentName") == "Escalations", answer

    def authenticate(self):
        answer = self.gateway.call("Login", "Authenticate", [("loginUsername", "alice"),
                                                             ("loginPassword", self.alice_password)],
                                   keys("Authentication", "EmailAddress", "DisplayName"), self.settings)
        assert answer.get("Authentication") == "OK", answer


def timed(function, count):
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return timings


def parallel_rate(function, count, threads):
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(function) for _ in range(count)]:
            future.result()
    return count / (time.perf_counter() - started)


def p95(timings):
    return sorted(timings)[int(len(timings) * 0.95) - 1]


def measure(target, args):
    timed(target.start_ticket, 30)
    sequential = timed(target.start_ticket, args.calls)
    figures = {
        "ticket_p50_ms": statistics.median(sequential) * 1000,
        "ticket_p95_ms": p95(sequential) * 1000,
        "ticket_rate": len(sequential) / sum(sequential),
        "ticket_parallel_rate": parallel_rate(target.start_ticket, args.calls, args.threads),
        "sign_in_p50_ms": statistics.median(timed(target.authenticate, args.sign_ins)) * 1000,
    }
    print("%-8s StartTicket p50 %6.2f ms  p95 %6.2f ms  %6.0f calls/s sequential  %6.0f calls/s on %d threads"
          "   Authenticate p50 %6.1f ms" % (
              target.label, figures["ticket_p50_ms"], figures["ticket_p95_ms"], figures["ticket_rate"],
              figures["ticket_parallel_rate"], args.threads, figures["sign_in_p50_ms"]), flush=True)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--sign-ins", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="stws-bench-providers-") as temp:
        temp = Path(temp)
        (temp / "python").mkdir()
        python_provider = python_sample.RunningProvider(python_sample.write_config(temp / "python"))
        try:
            aspnet = aspnet_site.RunningSite(aspnet_site.build_site(temp / "aspnet"))
            try:
                baseline = measure(Target("python", python_provider.url, python_sample.AUTH_PW, "alice-pw"), args)
                figures = measure(Target("aspnet", aspnet.url, aspnet_site.AUTH_PW, "alice-demo-password"), args)
            finally:
                aspnet.stop()
        finally:
            python_provider.stop()

    print("aspnet / python: StartTicket p50 x%.2f, sequential calls/s x%.2f, parallel calls/s x%.2f, "
          "Authenticate p50 x%.2f" % (
              figures["ticket_p50_ms"] / baseline["ticket_p50_ms"],
              figures["ticket_rate"] / baseline["ticket_rate"],
              figures["ticket_parallel_rate"] / baseline["ticket_parallel_rate"],
              figures["sign_in_p50_ms"] / baseline["sign_in_p50_ms"]))


if __name__ == "__main__":
    main()
