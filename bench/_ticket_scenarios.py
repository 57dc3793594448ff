"""The svcTickets scenario set at scale: every read operation with realistic
arguments, ticket creation, and a mixed load, for bench/tickets_1m.py and for
any benchmark that wants the same requests (e.g. several nodes behind a load
balancer).

    fixtures = gather(url, rng)                      # arguments read from a seeded database
    for scenario in read_scenarios(fixtures, array_namespace):
        ...measure(server, scenario, args)           # _measure.measure
    creation = creation_scenario(fixtures)
    results = run_mixed(server, mixed_plan(fixtures, array_namespace), seconds=..., client=...)

``gather`` reads what the requests need straight from a database that
bench/seed_tickets.py filled (1,000 random live tickets with their number,
first message and a note where there is one, the customers with the most
tickets, customers to create tickets for, a seeded agent in a group, the
departments), so the scenarios work on a database seeded before (a copy of
it) as on a new one. Reads are made as ``admin`` (sees every ticket) unless
the operation is about the caller's own groups (the agent's counts, group
info and receiving status): those as ``benchagent000``, a round-robin
agent of Support's Level 1.

Keys: b (echo baseline), a (AuthEcho: what every read pays before its
own work), r.. reads, c1 creation alone; the mixed load
(``mixed_plan``) runs creation beside five reads at once, 16 connections
in all, and its verdict is creation's p99.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

import seed_tickets
from _load import run_load
from _measure import FAILED, Scenario
from _server import ADMIN_PASSWORD, ADMIN_USER

TICKETS = "svcTickets"
ECHO = "svcBenchEcho"
ADMIN = [("authUserName", ADMIN_USER), ("authPassword", ADMIN_PASSWORD)]
AGENT_USER = "benchagent000"
AGENT = [("authUserName", AGENT_USER), ("authPassword", seed_tickets.AGENT_PASSWORD)]
# A word of about one ticket in ten of the seeded subjects, the first page of 20 (ordered by last reply).
FULL_TEXT_CRITERIA = ["Text=website", "MaxResults=20"]


@dataclass
class Fixtures:
    """Arguments for the requests, read from the seeded database."""
    tickets: list = field(default_factory=list)     # (id, number, first message id)
    note_ids: list = field(default_factory=list)    # ticket_comments ids
    searched: list = field(default_factory=list)    # emails of the customers with the most tickets
    creators: list = field(default_factory=list)    # emails of other customers
    department_ids: list = field(default_factory=list)


def gather(url: str, rng: random.Random, sample: int = 1000) -> Fixtures:
    from sqlalchemy import create_engine, func, select

    from stws.db.models import Department, Ticket, TicketComment, TicketMessage, User

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            top, first = connection.execute(select(func.max(Ticket.id), func.min(Ticket.id))).one()
            ids = sorted({rng.randint(first, top) for _ in range(sample * 2)})
            rows = connection.execute(
                select(Ticket.id, Ticket.ticket_number, func.min(TicketMessage.id))
                .join(TicketMessage, TicketMessage.ticket_id == Ticket.id)
                .where(Ticket.id.in_(ids), Ticket.is_deleted.is_(False))
                .group_by(Ticket.id, Ticket.ticket_number)).all()
            tickets = rng.sample([tuple(r) for r in rows], min(sample, len(rows)))
            notes = list(connection.scalars(select(TicketComment.id).where(
                TicketComment.ticket_id.in_([t[0] for t in tickets]))))
            departments = list(connection.scalars(select(Department.id).order_by(Department.id)))
            customers = connection.scalar(select(func.count(User.id)).where(User.username.like("benchcust%")))
        searched = [email for email, _, _ in seed_tickets._top_customers(engine, 100)]
    finally:
        engine.dispose()
    lowered = {e.lower() for e in searched}
    creators = ["benchcust%05d@customers.example" % n for n in rng.sample(range(customers), 300)]
    creators = [e for e in creators if e.lower() not in lowered][:200]
    return Fixtures(tickets, notes, searched, creators, departments)


def _read(key, title, operation, params, array_namespace=None) -> Scenario:
    return Scenario(key, title, "Services2/%s.asmx" % TICKETS, TICKETS, operation, params, FAILED, array_namespace)


def echo_scenario() -> Scenario:
    return Scenario("b", "Echo (spyne baseline)", "Services2/%s.asmx" % ECHO, ECHO, "Echo", [("text", "hello")])


def auth_echo_scenario() -> Scenario:
    """The shared path of every read and nothing else: authentication, role
    check, one read transaction that touches no data (bench/_extras.py)."""
    return Scenario("a", "AuthEcho (the shared path)", "Services2/%s.asmx" % ECHO, ECHO, "AuthEcho",
                    ADMIN + [("text", "hello")], FAILED)


def read_scenarios(fx: Fixtures, array_namespace: str | None) -> list[Scenario]:
    """One scenario per read operation of svcTickets."""
    by_id = [ADMIN + [("ticketId", t[0])] for t in fx.tickets]
    by_number = [ADMIN + [("ticketNumber", t[1])] for t in fx.tickets]
    scenarios = [
        _read("r1", "GetTicketInfo", "GetTicketInfo", by_id),
        _read("r2", "GetTicketInfoByTicketNumber", "GetTicketInfoByTicketNumber", by_number),
        _read("r3", "GetTicketCount (admin)", "GetTicketCount", ADMIN),
        _read("r4", "GetTicketCount (agent)", "GetTicketCount", AGENT),
        _read("r5", "GetTicketCounts_Global", "GetTicketCounts_Global", ADMIN),
        _read("r6", "GetTicketCounts_Agent", "GetTicketCounts_Agent", AGENT),
        _read("r7", "GetGroupTicketInfo", "GetGroupTicketInfo", AGENT),
        _read("r8", "GetTicketsBySearch open+email", "GetTicketsBySearch",
              [ADMIN + [("searchCriteria", ["IsOpen=true", "EmailAddress=%s" % e])] for e in fx.searched],
              array_namespace),
        _read("r9", "GetTicketsBySearch full text", "GetTicketsBySearch",
              ADMIN + [("searchCriteria", FULL_TEXT_CRITERIA)], array_namespace),
        _read("r10", "GetTicketStatus", "GetTicketStatus", by_number),
        _read("r11", "GetTicketConversationPartList", "GetTicketConversationPartList", by_id),
        _read("r12", "GetTicketMessagePlainText", "GetTicketMessagePlainText",
              [ADMIN + [("ticketMessageId", t[2])] for t in fx.tickets]),
        _read("r13", "GetTicketMessageHtml", "GetTicketMessageHtml",
              [ADMIN + [("ticketMessageId", t[2])] for t in fx.tickets]),
        _read("r14", "GetTicketEventHistory", "GetTicketEventHistory", by_id),
        _read("r15", "GetTicketAttachments", "GetTicketAttachments", by_id),
        _read("r16", "GetTicketTimeLogs", "GetTicketTimeLogs", by_id),
        _read("r17", "GetTicketCustomFieldsList", "GetTicketCustomFieldsList", by_number),
        _read("r18", "GetTicketPropertiesList", "GetTicketPropertiesList", by_number),
        _read("r19", "GetCustomFieldControls", "GetCustomFieldControls",
              [ADMIN + [("departmentId", d)] for d in fx.department_ids]),
        _read("r20", "GetAgentReceivingStatus", "GetAgentReceivingStatus", AGENT),
    ]
    if fx.note_ids:
        scenarios.append(_read("r21", "GetTicketNote", "GetTicketNote",
                               [ADMIN + [("commentId", n)] for n in fx.note_ids]))
    return scenarios


def creation_scenario(fx: Fixtures, key: str = "c1") -> Scenario:
    """CreateTicketFromCustomer for customers the searches do not look at,
    with a body without r9's word: the newest tickets of a database a run
    created tickets in would otherwise match r9 at once (5.5-7.0 ms in
    process on a fresh 1M seed, 4.1 ms after one full run's creations)."""
    return _read(key, "CreateTicketFromCustomer", "CreateTicketFromCustomer",
                 [ADMIN + [("departmentId", d), ("fromAddress", e), ("subject", "Bench ticket from %s" % e),
                           ("body", "My server is down again."), ("isHtml", False), ("sendAutoResponder", False)]
                  for e in fx.creators for d in fx.department_ids])


def mixed_plan(fx: Fixtures, array_namespace: str | None) -> list[tuple[Scenario, int]]:
    """(scenario, connections): creation beside the reads a help desk makes
    most, 16 connections in all."""
    reads = {s.key: s for s in read_scenarios(fx, array_namespace)}
    return [(creation_scenario(fx, "m-c"), 4), (reads["r1"], 4), (reads["r11"], 2), (reads["r8"], 2),
            (reads["r3"], 2), (reads["r5"], 2)]


def run_mixed(server, plan, seconds: float, client: str) -> dict:
    """Run every (scenario, connections) of ``plan`` at once for ``seconds``;
    {key: LoadResult}, each with its own latencies; the server's CPU time
    over all of them is in ``["all"]``."""
    results, errors = {}, []

    def one(scenario, connections):
        try:
            results[scenario.key] = run_load(scenario.url(server), scenario.load_body, scenario.headers,
                                             seconds=seconds, connections=connections, tool=client,
                                             fail_marker=scenario.fail_marker, tag="x" + scenario.key.replace("-", ""))
        except Exception as error:  # reported after the others finished
            errors.append((scenario.key, error))

    cpu_before = server.cpu_seconds()
    workers = [threading.Thread(target=one, args=item) for item in plan]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results["all"] = server.cpu_seconds() - cpu_before
    if errors:
        raise RuntimeError("mixed load failed: %s" % errors)
    return results
