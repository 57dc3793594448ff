"""Requests/second of the SOAP stack, from bare Twisted up to real operations.

    .venv/bin/python bench/soap_throughput.py [--seconds 10] [--warmup 3] [--connections 16]
                                              [--client auto|wrk|python] [--profile c,d]

One server process (``twistd -n`` with the real service, temp data dir,
SQLite, 127.0.0.1:<free port>; see _server.py), load from other processes
(wrk if installed, else Python; see _load.py), on these scenarios:

  a   bare twisted.web resource, fixed body (same POST body as b)   the HTTP baseline
  b   svcBenchEcho.Echo: plain spyne @rpc, hosted like our services   + our SOAP stack
  b2  svcBenchEcho.AuthEcho: through stws.soap.operation              + auth, role, read transaction
  c   svcOrganization.GetAllAgents, 50 agents in the database         + directory cache hit (version query)
  d   svcOrganization.CreateUser, a new user name per request         + scrypt hash and a write

and prints requests/second of each, the ratios b/a, c/b, d/b (and b2/b,
c/b2), and the server's peak RSS (VmHWM). ``--profile c`` samples the
server with py-spy (GIL-holding thread only) during an extra round of c
after its measurement, and prints where the time goes.
``--no-directory-cache`` starts the server with ``directory-cache = off``:
c then queries and builds its 50 AgentInfo on every call.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _soap  # noqa: E402
from _load import UNIQUE, have_wrk  # noqa: E402
from _measure import FAILED, Scenario, check, measure, ms, profile  # noqa: E402
from _server import ADMIN_PASSWORD, ADMIN_USER, StwsServer  # noqa: E402

ORG = "svcOrganization"
ECHO = "svcBenchEcho"
AUTH = [("authUserName", ADMIN_USER), ("authPassword", ADMIN_PASSWORD)]
USER_PASSWORD = "bench-User-Passw0rd"


def scenarios(agent_count: int) -> list[Scenario]:
    echo_params = [("text", "hello")]
    return [
        Scenario("a", "bare twisted.web resource", "bench-bare", ECHO, "Echo", echo_params),
        Scenario("b", "Echo (plain spyne @rpc)", "Services2/%s.asmx" % ECHO, ECHO, "Echo", echo_params),
        Scenario("b2", "AuthEcho (stws.soap.operation)", "Services2/%s.asmx" % ECHO, ECHO, "AuthEcho",
                 AUTH + echo_params, FAILED),
        Scenario("c", "GetAllAgents (%d agents)" % agent_count, "Services2/%s.asmx" % ORG, ORG, "GetAllAgents",
                 AUTH, FAILED),
        Scenario("d", "CreateUser (unique names)", "Services2/%s.asmx" % ORG, ORG, "CreateUser",
                 AUTH + [("username", "bench" + UNIQUE.decode()), ("password", USER_PASSWORD),
                         ("email", "bench@example.com"), ("isEmailVerified", True), ("displayName", "Bench")],
                 FAILED),
    ]


# ---------------------------------------------------------------- setup and checks


def create_agents(server, total: int) -> int:
    """Make the number of agents ``total`` (admin is one) through SOAP."""
    url = server.service_url(ORG)
    existing = _soap.call(url, ORG, "GetAllAgents", AUTH).count("AgentInfo")
    for n in range(existing, total):
        name = "agent%03d" % n
        reply = _soap.call(url, ORG, "CreateUser", AUTH + [
            ("username", name), ("password", USER_PASSWORD), ("email", "%s@example.com" % name),
            ("isEmailVerified", True), ("displayName", "Agent %d" % n)])
        if reply.status != 200 or reply.text("Result") != "true":
            raise SystemExit("CreateUser %s failed: %s" % (name, reply.body[:500]))
        user_id = int(reply.text("RequestResult"))
        reply = _soap.call(url, ORG, "SetUsersProperties", AUTH + [
            ("userID", user_id), ("propertyValues", ["Roles=Agent"])])
        if reply.status != 200 or reply.text("Result") != "true":
            raise SystemExit("SetUsersProperties %s failed: %s" % (name, reply.body[:500]))
    return _soap.call(url, ORG, "GetAllAgents", AUTH).count("AgentInfo")


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per scenario (3)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (16)")
    parser.add_argument("--threads", type=int, default=None, help="server SOAP threads (server default)")
    parser.add_argument("--agents", type=int, default=50, help="agents in the database for c, admin included (50)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator (auto: wrk when installed)")
    parser.add_argument("--only", default="a,b,b2,c,d", help="scenarios to run, e.g. a,b,c")
    parser.add_argument("--profile", default="", help="scenarios to profile with py-spy afterwards, e.g. c")
    parser.add_argument("--profile-out", default="", help="folder to keep the collapsed py-spy stacks in")
    parser.add_argument("--keep-data", action="store_true", help="keep the server's temp data directory")
    parser.add_argument("--no-directory-cache", action="store_true",
                        help="server without the directory cache (c builds its answer every call)")
    args = parser.parse_args(argv)
    if args.client == "auto":
        args.client = "wrk" if have_wrk() else "python"
    wanted = [key.strip() for key in args.only.split(",") if key.strip()]
    to_profile = {key.strip() for key in args.profile.split(",") if key.strip()}
    began = time.monotonic()

    print("stws SOAP throughput: %d s measured (+%d s warm-up) per scenario, %d connections, client %s, %d CPUs%s"
          % (args.seconds, args.warmup, args.connections, args.client, os.cpu_count() or 0,
             ", directory cache off" if args.no_directory_cache else ""))
    server = StwsServer(extras=True, threads=args.threads, keep_data=args.keep_data,
                        env={"STWS_BENCH_DIRECTORY_CACHE": "off"} if args.no_directory_cache else None)
    server.start()
    results = {}
    try:
        print("server pid %d at %s, data %s; peak RSS after start %.1f MiB"
              % (server.pid, server.base_url, server.data_dir, server.memory()["VmHWM"] / 1024))
        all_scenarios = {s.key: s for s in scenarios(args.agents)}
        if "c" in wanted:
            count = create_agents(server, args.agents)
            print("GetAllAgents returns %d agents (admin + %d made through CreateUser/SetUsersProperties)"
                  % (count, count - 1))
        print()
        print("  %-3s %-34s %10s %8s %8s %9s %9s %9s %9s" % ("", "scenario", "req/s", "requests", "failed", "p50 ms",
                                                          "p99 ms", "CPU ms/r", "VmHWM MiB"))
        for key in wanted:
            scenario = all_scenarios[key]
            check(server, scenario)
            result = measure(server, scenario, args)
            results[key] = result
            print("  %-3s %-34s %10.1f %8d %8d %9s %9s %9s %9.1f" % (
                key, scenario.title, result.rps, result.requests, result.failures + result.errors,
                ms(result.latency_ms_p50), ms(result.latency_ms_p99), ms(result.server_cpu_ms_per_request),
                server.memory()["VmHWM"] / 1024), flush=True)
            if key in to_profile:
                print("  profile of %s:" % key)
                profile(server, scenario, args)
        memory = server.memory()
    finally:
        code = server.stop()
    print()
    for top, bottom in (("b", "a"), ("c", "b"), ("d", "b"), ("b2", "b"), ("c", "b2")):
        if top in results and bottom in results and results[bottom].rps:
            note = ""
            if (top, bottom) == ("c", "b"):
                note = "   (target >= 0.70: %s)" % ("met" if results["c"].rps / results["b"].rps >= 0.7 else "NOT met")
            print("  %-5s = %.3f%s" % ("%s/%s" % (top, bottom), results[top].rps / results[bottom].rps, note))
    print()
    print("server peak RSS (VmHWM): %.1f MiB; RSS at the end: %.1f MiB" % (memory["VmHWM"] / 1024, memory["VmRSS"] / 1024))
    print("server stop: %s" % {-15: "clean on SIGTERM", -9: "hung after SIGTERM, killed (exit -9)"}.get(code, "exit %s" % code))
    failed = sum(r.failures + r.errors for r in results.values())
    print("total bench time %.0f s%s" % (time.monotonic() - began, "; %d FAILED requests" % failed if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
