"""GetTicketUserInformation with and without its cache, against the ticket
read it starts with.

    .venv/bin/python bench/user_information.py [--calls 300] [--postgresql URL] [--no-sqlite]

In this process: a runtime on a fresh database per backend, the sample
provider (examples/providers/python) in a process of its own on loopback,
enabled as the user information provider, and one ticket of a customer it
knows. Each operation is run ``--calls`` times through
stws.operations.runner as the SOAP front door runs it once the caller is
authenticated (so without HTTP and XML), on a thread that is not the
reactor's:

  base    ticket_info_by_number (GetTicketInfoByTicketNumber): the read the
          look-up starts with                                          the baseline
  cached  ticket_user_information, the answer in the cache (every call
          within CACHE_SECONDS of the first)
  miss    ticket_user_information with the cache emptied before each call:
          a GetUserInformation call to the provider over loopback each time

Printed: median and p95 per call, and the ratios cached/base and miss/cached.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _backends import add_backend_options, each_backend  # noqa: E402

ADMIN_PASSWORD = "bench-Admin-passw0rd"
os.environ["STWS_ADMIN_PASSWORD"] = ADMIN_PASSWORD

from stws.config import Config  # noqa: E402
from stws.operations import providers, runner  # noqa: E402
from stws.operations.runner import PasswordCredentials  # noqa: E402
from stws.operations.tickets import creation  # noqa: E402
from stws.runtime import start_runtime  # noqa: E402
from test_sample_provider import AUTH_PW, RunningProvider, write_config  # noqa: E402


def timed(calls: int, step) -> list[float]:
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        step()
        timings.append(time.perf_counter() - started)
    return sorted(timings)


def figures(timings: list[float]) -> tuple[float, float]:
    return statistics.median(timings) * 1e3, timings[int(len(timings) * 0.95) - 1] * 1e3


def measure(label: str, url: str, provider_url: str, data_dir: Path) -> None:
    runtime = start_runtime(Config(listen="tcp:0:interface=127.0.0.1", data_dir=data_dir, database=url, threads=4))
    runtime.remote.start()
    try:
        admin = runner.authenticate(runtime, PasswordCredentials("admin", ADMIN_PASSWORD))

        def run(spec, *args):
            return runner.run(runtime, spec, admin, args)

        run(providers.set_provider_settings, [
            "UserInformation.Enabled=true", "UserInformation.Mode=WebService",
            "UserInformation.WebServiceUrl=" + provider_url, "UserInformation.WebServicePassword=" + AUTH_PW])
        number = run(creation.create_ticket_from_customer, 1, "alice@example.com", "Order", "Hello.", False, False)
        assert run(providers.ticket_user_information, number).pairs, "the provider should know alice"

        def miss():
            runtime.user_information.clear()
            run(providers.ticket_user_information, number)

        results = {}
        for name, step in (("base", lambda: run(creation.ticket_info_by_number, number)),
                           ("cached", lambda: run(providers.ticket_user_information, number)),
                           ("miss", miss)):
            timed(max(10, ARGS.calls // 10), step)  # warm up
            results[name] = figures(timed(ARGS.calls, step))
        for name, (median, p95) in results.items():
            print("%s %-6s median %7.3f ms  p95 %7.3f ms  (%d calls)" % (label, name, median, p95, ARGS.calls))
        print("%s ratios (medians): cached/base %.2f, miss/cached %.1f" % (
            label, results["cached"][0] / results["base"][0], results["miss"][0] / results["cached"][0]))
    finally:
        runtime.remote.stop()
        runtime.close()


def main(argv=None) -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    add_backend_options(parser)
    ARGS = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stws-bench-userinfo-") as directory:
        provider = RunningProvider(write_config(Path(directory)))
        try:
            def bench(label, url):
                # Off the main thread: the runtime's outbound client refuses to
                # block what may be the reactor's thread.
                failures = []
                data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=directory))
                worker = threading.Thread(target=lambda: _guarded(failures, measure, label, url, provider.url,
                                                                  data_dir))
                worker.start()
                worker.join()
                if failures:
                    raise failures[0]

            each_backend(bench, "userinfo", ARGS)
        finally:
            provider.stop()
    return 0


def _guarded(failures: list, function, *args) -> None:
    try:
        function(*args)
    except BaseException as error:  # noqa: BLE001 - re-raised on the main thread
        failures.append(error)


ARGS = None

if __name__ == "__main__":
    sys.exit(main())
