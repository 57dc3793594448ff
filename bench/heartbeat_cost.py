"""What the agent heartbeat costs a SOAP call (stws.security.heartbeat).

    .venv/bin/python bench/heartbeat_cost.py [--calls 20000] [--rounds 5]

In one process, on a temporary SQLite database: an active agent calls a
trivial read-only operation through ``stws.operations.runner`` (credential
cache hit, one read transaction, authentication's user query) in
alternating rounds with the heartbeat check on and off (``heartbeat.due``
replaced by ``lambda *a: False``), and prints the median time per call of
each and the difference. The heartbeat is fresh, as it is for all but one
call per Heartbeat Interval; the one write per interval is timed apart
(``heartbeat.record``).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stws.config import Config  # noqa: E402
from stws.db.models import Role, User, utcnow  # noqa: E402
from stws.runtime import start_runtime  # noqa: E402
from stws.security import heartbeat, roles  # noqa: E402
from stws.security.auth import new_security_stamp, username_key  # noqa: E402
from stws.security.passwords import hash_password  # noqa: E402
from stws.operations import runner  # noqa: E402

PASSWORD = "bench-Passw0rd!"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("STWS_ADMIN_PASSWORD", "bench-Admin-Passw0rd")
    with tempfile.TemporaryDirectory() as directory:
        runtime = start_runtime(Config(data_dir=Path(directory) / "data",
                                       database="sqlite:///%s/bench.sqlite3" % directory))
        with runtime.db.transaction() as session:
            agent_roles = session.query(Role).filter(Role.name.in_([roles.EVERYONE, roles.AGENT])).all()
            agent = User(username="agent", username_key=username_key("agent"), security_stamp=new_security_stamp(),
                         password_hash=hash_password(PASSWORD), roles=agent_roles, is_active_agent=True,
                         last_heartbeat_utc=utcnow())
            session.add(agent)
            session.flush()
            agent_id = agent.id
        spec = runner.OperationSpec("Noop", lambda context: {"Message": "ok"}, roles.AGENT, False)
        credentials = runner.PasswordCredentials("agent", PASSWORD)

        def calls(n):
            started = time.perf_counter()
            for _ in range(n):
                runner.call(runtime, spec, credentials)  # the call itself only, no SOAP result
            return (time.perf_counter() - started) / n * 1e6

        real_due = heartbeat.due
        calls(500)  # warm up (the first call verifies the password)
        with_check, without = [], []
        for _ in range(args.rounds):
            heartbeat.due = real_due
            runtime.options.get()  # options cached, as in a running server
            with_check.append(calls(args.calls))
            heartbeat.due = lambda *a, **k: False
            without.append(calls(args.calls))
        heartbeat.due = real_due
        # The check alone, on the principal authentication returns.
        with runtime.db.unit_of_work(writes=False) as unit:
            principal = runtime.authenticator.authenticate(unit.connection, "agent", PASSWORD)
            started = time.perf_counter()
            for _ in range(args.calls):
                heartbeat.due(principal, runtime)
            check_alone = (time.perf_counter() - started) / args.calls * 1e6
        writes = []
        for _ in range(200):
            started = time.perf_counter()
            heartbeat.record(runtime, agent_id)
            writes.append((time.perf_counter() - started) * 1e6)
        a, b = statistics.median(with_check), statistics.median(without)
        print("call with heartbeat check:    %7.1f us (median of %d rounds of %d calls)" % (a, args.rounds, args.calls))
        print("call without heartbeat check: %7.1f us" % b)
        print("difference:                   %+7.1f us per call (%+.1f %%)" % (a - b, (a - b) / b * 100))
        print("heartbeat.due alone:          %7.2f us per call" % check_alone)
        print("heartbeat write (once per agent per interval): %.0f us median" % statistics.median(writes))
        runtime.close()


if __name__ == "__main__":
    main()
