"""The queries behind the workspace's list pages and GetTicketsBySearch's
Text, in this process on a database seed_tickets seeded: time, CPU time and
query plan per query, without HTTP (what bench/workspace_heartbeat.py's
list pages and tickets_throughput's t4 spend in the database).

    .venv/bin/python bench/list_queries.py URL [--only l3,l6] [--repeat 7] [--plans] [--ids]

URL is a database seed_tickets seeded (e.g. a copy of a 1,000,000-ticket
one; it is only read). Each query runs ``--repeat`` times through
``search.find_tickets`` (the statement the lists and GetTicketsBySearch
run), each in its own read transaction, as an agent of the first bench
group (``benchagent...``) or as admin; printed: the median and the
longest time, the median CPU time of this process (steadier than wall
time on a shared machine), and with ``--plans`` the plan (SQLite:
EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN ANALYZE, BUFFERS). ``--ids``
prints the ids found, to compare two versions' results (diff the output).

  l1  My tickets: Active                       l5   group Active, 100 a page
  l2  group Active, newest activity first      l6   Text (two words, 1 ticket in 12) + IsOpen
  l3  group Waiting by subject                 l7   the address with the most tickets
  l4  group Active by customer, offset 50      l8   department Active, as admin
  l4n/l4p/l4s  group Active by number, priority, status;  l8s  department Active by subject
  l4q  group Active by priority ascending, 100 at offset 1000;  l4r  group Waiting, Low and Urgent, by priority
  l8p/l7p/l9p  by priority: department Active, the address, every open ticket (admin)
  f1/f2  Text: a word of 1 ticket in 6, MaxResults=20, as admin / agent
  f3  Text: two words, IsOpen, MaxResults=20;  f4  a word found nowhere;  f5  a rare word
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sqlalchemy import select, text  # noqa: E402

from stws.db.engine import Database  # noqa: E402
from stws.db.models import GroupAgent, Ticket, User  # noqa: E402
from stws.domain.context import Context  # noqa: E402
from stws.domain.tickets import search  # noqa: E402
from stws.security import roles  # noqa: E402
from stws.security.principals import Principal  # noqa: E402


def cases(agent_id: int, group_id: int, email: str):
    agent = Principal(agent_id, "agent", roles.effective_roles([roles.AGENT]))
    admin = Principal(1, "admin", roles.effective_roles([roles.ADMINISTRATOR]))
    group, active = "GroupId=%d" % group_id, "IsActive=true"

    def page(size=25, offset=0):
        return ["MaxResults=%d" % size, "Offset=%d" % offset]

    def by(field, order="Ascending"):
        return ["SortBy=" + field, "SortOrder=" + order]

    return [
        ("l1", agent, ["AgentId=%d" % agent_id, active] + page()),
        ("l2", agent, [group, active] + page()),
        ("l3", agent, [group, "IsOpen=true", "IsActive=false"] + by("Subject") + page()),
        ("l4", agent, [group, active] + by("Customer") + page(25, 50)),
        ("l4n", agent, [group, active] + by("TicketNumber") + page()),
        ("l4p", agent, [group, active] + by("Priority", "Descending") + page()),
        ("l4s", agent, [group, active] + by("Status") + page()),
        # By priority deeper in the list (pages crossing priorities), ascending,
        # narrowed to two priorities; a department's; an address's; every open one.
        ("l4q", agent, [group, active] + by("Priority") + page(100, 1000)),
        ("l4r", agent, [group, "IsOpen=true", "IsActive=false", "Priority=Low,Urgent"]
         + by("Priority", "Descending") + page(25, 50)),
        ("l8p", admin, ["DepartmentId=1", active] + by("Priority", "Descending") + page()),
        ("l7p", agent, ["EmailAddress=%s" % email] + by("Priority", "Descending") + page()),
        ("l9p", admin, ["IsOpen=true"] + by("Priority", "Descending") + page()),
        ("l5", agent, [group, active] + page(100)),
        ("l6", agent, ["Text=website down", "IsOpen=true"] + page()),
        ("l7", agent, ["EmailAddress=%s" % email] + page()),
        ("l8", admin, ["DepartmentId=1", active] + page()),
        ("l8s", admin, ["DepartmentId=1", active] + by("Subject") + page()),
        ("f1", admin, ["Text=website", "MaxResults=20"]),
        ("f2", agent, ["Text=website", "MaxResults=20"]),
        ("f3", admin, ["Text=invoice question", "IsOpen=true", "MaxResults=20"]),
        ("f4", admin, ["Text=zzyzx"]),
        ("f5", admin, ["Text=benchcust00042"]),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--only", default="", help="query keys, e.g. l3,l6 (default: all)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--plans", action="store_true")
    parser.add_argument("--ids", action="store_true")
    args = parser.parse_args(argv)
    only = {key.strip() for key in args.only.split(",") if key.strip()}
    db = Database(args.url, pool_size=2)
    try:
        with db.transaction(writes=False) as session:
            agent_id, group_id = session.execute(
                select(GroupAgent.user_id, GroupAgent.group_id).join(User, User.id == GroupAgent.user_id)
                .where(User.username.like("benchagent%")).order_by(User.username, GroupAgent.group_id).limit(1)).one()
            tickets = session.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
            email = session.execute(text("SELECT lower(customer_email) FROM tickets GROUP BY 1 "
                                         "ORDER BY count(*) DESC LIMIT 1")).scalar()
        print("%s, up to ticket id %s; load average %.1f; median / longest ms, median CPU ms of %d runs"
              % (db.engine.dialect.name, "{:,}".format(tickets), os.getloadavg()[0], args.repeat))
        for key, who, items in cases(agent_id, group_id, email):
            if only and key not in only:
                continue
            times, cpus = [], []
            for _ in range(args.repeat):
                with db.transaction(writes=False) as session:
                    call = Context.in_session(session, who, None)
                    began, cpu = time.perf_counter(), time.process_time()
                    found = search.find_tickets(call, items)
                    times.append((time.perf_counter() - began) * 1000)
                    cpus.append((time.process_time() - cpu) * 1000)
            print("  %-4s %4d rows %9.1f %9.1f %9.1f   %s" % (key, len(found.tickets), statistics.median(times),
                                                         max(times), statistics.median(cpus), " ".join(items)),
                  flush=True)
            if args.ids:
                print("       ids %s next %s" % ([t.id for t in found.tickets], found.next_offset))
            if args.plans:
                with db.transaction(writes=False) as session:
                    call = Context.in_session(session, who, None)
                    statement = search.search_statement(call, search.parse_criteria(call, items))
                    sql = str(statement.compile(dialect=session.get_bind().dialect,
                                                compile_kwargs={"literal_binds": True}))
                    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
                    for row in session.execute(text(prefix + sql)).all():
                        print("       " + (row[-1] if db.is_sqlite else row[0]))
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
