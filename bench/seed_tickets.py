"""Fill a database with tickets for benchmarks: bulk inserts, not SOAP.

    .venv/bin/python bench/seed_tickets.py sqlite:////tmp/bench.sqlite3 [--tickets 100000]
    .venv/bin/python bench/seed_tickets.py postgresql+psycopg://user@host/db

The database is created or upgraded and given its reference rows exactly as
a server's first start does (migrations, statuses, the default organisation,
``admin`` with ``--admin-password`` or ``STWS_ADMIN_PASSWORD``), then gets:

- departments: the default "Support" plus Billing, Sales and Abuse, each
  with three groups (Level 1 = front line, Level 2, Management);
- ``--agents-per-group`` agents per group (``benchagentNNN``, password
  ``AGENT_PASSWORD``): the first two round-robin primary, the next two
  secondary, the rest pull from the queue, all receiving, no ticket limit;
  not marked active (``is_active_agent``): nobody sends their heartbeats
  during a benchmark, so the Auto-Inactive thread would set active ones
  inactive after a minute and hand their tickets off in the middle of it;
- ``--customers`` customer accounts (``benchcustNNNNN``,
  ``benchcustNNNNN@customers.example``; some stored in mixed case, as mail
  clients send them); tickets per customer follow a long-tailed (log-normal) law:
  the median customer has about a dozen tickets, the top ones several hundred;
- ``--tickets`` tickets over two years, each with its first message
  (mostly from the customer), spread over departments (front line groups
  most), with statuses Active 6 %, Waiting 4 % (so 10 % open), Closed 85 %,
  Closed and Locked 5 %; 0.5 % deleted, 0.5 % spam; open tickets are
  recent; every ticket has a round-robin agent of its group (none queued);
- ``--follow-ups`` of the Active tickets (default none) with a follow-up
  that fell due within the last day (back to Active in the same group), for
  the Ticket Watcher benchmark;
- with ``--body-words N``, N more words in each first message, drawn from a
  vocabulary of 20,000 made-up words with a long tail (Zipf: a few words
  are everywhere, most are rare), as full-text search meets in real mail
  (the template alone has a few dozen distinct words); with ``--notes F``,
  an internal note (a dozen such words) on that share of the tickets.
  Both default to 0 and then change nothing else: the other rows come out
  the same for a given ``--seed``.

Rows go in with SQLAlchemy Core ``executemany`` in batches of ``--batch``,
one transaction per batch, ids chosen here (PostgreSQL sequences are moved
past them at the end), then ANALYZE; then the full-text index is built as
the Indexing thread builds it (``fulltext.index_pending``), so a server
started on the database has no indexing backlog (``--no-full-text-index``
leaves every row to index, for the Indexing benchmark). Deterministic for a
given ``--seed``.
A database that already holds bench users is refused (run it on a new one).
``seed()`` is the same as a function; it returns what was made (and which
customers have the most tickets, for benchmarks to search for).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, case, event, func, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from stws.db import schema  # noqa: E402
from stws.db.engine import make_engine  # noqa: E402
from stws.db.models import (  # noqa: E402
    Department, Group, GroupAgent, Role, Ticket, TicketComment, TicketMessage, User, UserRole,
)
from stws.domain.seed import seed_administrator, seed_default_organisation, seed_reference_data  # noqa: E402
from stws.security import roles as role_rules  # noqa: E402
from stws.security.auth import new_security_stamp, username_key  # noqa: E402
from stws.security.passwords import hash_password  # noqa: E402

AGENT_PASSWORD = "bench-Agent-Passw0rd"
DEPARTMENTS = ("Support", "Billing", "Sales", "Abuse")
DEPARTMENT_WEIGHTS = (0.55, 0.25, 0.15, 0.05)
GROUPS = ("Level 1", "Level 2", "Management")
GROUP_WEIGHTS = (0.6, 0.3, 0.1)
# status id -> share of tickets: Active, Waiting (10 % open together), Closed, Closed and Locked.
STATUS_SHARES = ((1, 0.06), (2, 0.04), (3, 0.85), (4, 0.05))
OPEN_STATUSES = {1, 2}
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
SUBJECTS = ("Cannot log in to the control panel", "Invoice question", "Website is down", "DNS change",
            "Mailbox full", "SSL certificate renewal", "Backup restore request", "Upgrade my plan",
            "Spam complaint", "FTP password reset", "Database connection errors", "Slow website")
BODY = ("Hello,\n\nI have a problem with my account %s. It started this morning and I tried "
        "the usual steps from the knowledge base without success. Could you have a look?\n\n"
        "Ticket reference %d.\n\nThanks,\n%s")


@dataclass
class Seeded:
    tickets: int = 0
    open_tickets: int = 0
    messages: int = 0
    notes: int = 0
    customers: int = 0
    agents: int = 0
    departments: int = 0
    groups: int = 0
    seconds: float = 0.0
    first_ticket_id: int = 0
    last_ticket_id: int = 0
    follow_ups: int = 0
    indexed_documents: int = 0
    # (email as stored, tickets, open tickets), most tickets first.
    top_customers: list = field(default_factory=list)


def seed(url: str, tickets: int = 100_000, customers: int | None = None, agents_per_group: int = 5,
         batch: int = 5_000, admin_password: str | None = None, random_seed: int = 1,
         progress=print, follow_ups: int = 0, body_words: int = 0, notes: float = 0.0,
         full_text_index: bool = True) -> Seeded:
    began = time.monotonic()
    progress = progress or (lambda _text: None)
    rng = random.Random(random_seed)
    customers = customers or max(1, tickets // 20)
    engine = make_engine(url, pool_size=1)
    if engine.dialect.name == "sqlite":
        # A seed needs no durability: no fsync per batch (the server sets FULL on its own connections);
        # and a page cache that holds the dozen ticket indexes, which grow in random key order.
        event.listen(engine, "connect", _fast_sqlite)
    try:
        schema.upgrade(engine)
        with Session(engine) as session, session.begin():
            seed_reference_data(session)
            seed_default_organisation(session)
            seed_administrator(session, admin_password or os.environ.get("STWS_ADMIN_PASSWORD"))
        with Session(engine) as session, session.begin():
            if session.scalar(select(func.count(User.id)).where(User.username_key.like("bench%"))):
                raise SystemExit("this database already holds bench users; seed a new one")
            groups = _organisation(session)
            agents = _agents(session, groups, agents_per_group)
        result = Seeded(departments=len(DEPARTMENTS), groups=sum(len(g) for g in groups.values()),
                        agents=sum(len(a) for a in agents.values()))
        emails = _customers(engine, customers, batch, rng)
        result.customers = len(emails)
        progress("  %d departments, %d groups, %d agents, %d customers" % (
            result.departments, result.groups, result.agents, result.customers))
        text_maker = _TextMaker(random_seed, body_words, notes)
        _tickets(engine, tickets, batch, rng, groups, agents, emails, result, progress, text_maker)
        result.follow_ups = _follow_ups(engine, follow_ups, batch, rng, result)
        _finish(engine)
        _fold_tallies(url)
        if full_text_index:
            result.indexed_documents = _full_text_index(url)
            progress("  %d full-text documents indexed" % result.indexed_documents)
        result.top_customers = _top_customers(engine)
    finally:
        engine.dispose()
    result.seconds = time.monotonic() - began
    return result


def _fast_sqlite(connection, _record) -> None:
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-262144")  # KiB: 256 MiB


# ---------------------------------------------------------------- organisation


def _organisation(session) -> dict:
    """{department id: [group ids, front line first]} of the four departments."""
    brand_id = session.scalar(select(Department.brand_id).order_by(Department.id))
    layout = {}
    for name in DEPARTMENTS:
        department = session.scalars(select(Department).where(Department.name == name,
                                                              Department.is_deleted.is_(False))).first()
        if department is None:
            department = Department(brand_id=brand_id, name=name,
                                    email_address="%s@helpdesk.example" % name.lower())
            session.add(department)
            session.flush()
        ids = []
        for group_name in GROUPS:
            group = session.scalars(select(Group).where(Group.department_id == department.id,
                                                        Group.name == group_name)).first()
            if group is None:
                group = Group(department_id=department.id, name=group_name)
                session.add(group)
                session.flush()
            ids.append(group.id)
        if not department.front_line_group_id:
            department.front_line_group_id = ids[0]
        layout[department.id] = ids
    return layout


def _agents(session, groups: dict, per_group: int) -> dict:
    """{group id: [agent user ids]}; one shared password hash (scrypt is slow)."""
    password_hash = hash_password(AGENT_PASSWORD)
    role_ids = session.scalars(select(Role.id).where(Role.name.in_([role_rules.EVERYONE, role_rules.AGENT]))).all()
    members = {}
    number = 0
    for group_ids in groups.values():
        for group_id in group_ids:
            members[group_id] = []
            for position in range(per_group):
                name = "benchagent%03d" % number
                number += 1
                user = User(username=name, username_key=username_key(name), email="%s@helpdesk.example" % name,
                            display_name="Agent %d" % number, password_hash=password_hash,
                            security_stamp=new_security_stamp(), is_email_verified=True, is_active_agent=False)
                session.add(user)
                session.flush()
                session.execute(insert(UserRole), [{"user_id": user.id, "role_id": r} for r in role_ids])
                mode = "primary" if position < 2 else "secondary" if position < 4 else "queue"
                session.add(GroupAgent(group_id=group_id, user_id=user.id, distribution_mode=mode,
                                       is_receiving=True))
                members[group_id].append(user.id)
    session.flush()
    return members


def _customers(engine, count: int, batch: int, rng) -> list[tuple[int, str]]:
    """[(user id, email as stored)] of ``count`` new customer accounts."""
    with engine.begin() as connection:
        start = (connection.scalar(select(func.max(User.id))) or 0) + 1
        role_ids = connection.scalars(select(Role.id).where(
            Role.name.in_([role_rules.EVERYONE, role_rules.VERIFIED]))).all()
    now = dt.datetime.now(dt.timezone.utc)
    emails = []
    users, links = [], []
    for n in range(count):
        name = "benchcust%05d" % n
        email = "%s@customers.example" % name
        if rng.random() < 0.05:
            email = "BenchCust%05d@Customers.Example" % n
        user_id = start + n
        emails.append((user_id, email))
        users.append(dict(id=user_id, username=name, username_key=name, email=email, display_name="Customer %d" % n,
                          password_hash="", auth_method="password", auth_domain="", is_email_verified=True,
                          time_zone="UTC", is_locked_out=False, force_password_change=False,
                          security_stamp=new_security_stamp(), failed_login_count=0, signature="",
                          is_primary_admin=False, is_active_agent=False, is_deleted=False, date_created_utc=now))
        links.extend({"user_id": user_id, "role_id": r} for r in role_ids)
    for offset in range(0, count, batch):
        with engine.begin() as connection:
            connection.execute(insert(User.__table__), users[offset:offset + batch])
    for offset in range(0, len(links), batch):
        with engine.begin() as connection:
            connection.execute(insert(UserRole.__table__), links[offset:offset + batch])
    return emails


# ---------------------------------------------------------------- tickets


class _TextMaker:
    """Extra words for message bodies and notes, from their own random
    generator so that the other rows do not depend on these options."""

    VOCABULARY = 20_000

    def __init__(self, random_seed: int, body_words: int, notes: float):
        self.body_words, self.notes = body_words, notes
        self.rng = random.Random(random_seed * 7919 + 17)
        if not body_words and not notes:
            return
        syllables = [c + v for c in "bdfghklmnprstvz" for v in "aeiou"]
        words = set()
        while len(words) < self.VOCABULARY:
            words.add("".join(self.rng.choice(syllables) for _ in range(self.rng.randint(2, 4))))
        self.words = sorted(words)
        self.rng.shuffle(self.words)
        total, self.cumulative = 0.0, []
        for rank in range(1, len(self.words) + 1):  # Zipf: weight 1/rank
            total += 1.0 / rank
            self.cumulative.append(total)

    def some(self, count: int) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cumulative, k=count))

    def body(self, text: str) -> str:
        return "%s\n\n%s" % (text, self.some(self.body_words)) if self.body_words else text

    def note(self) -> str | None:
        if self.notes and self.rng.random() < self.notes:
            return "Called the customer: %s." % self.some(12)
        return None


def _tickets(engine, count, batch, rng, groups, agents, customers, result, progress, text_maker) -> None:
    with engine.begin() as connection:
        next_ticket = (connection.scalar(select(func.max(Ticket.id))) or 0) + 1
        next_message = (connection.scalar(select(func.max(TicketMessage.id))) or 0) + 1
        brand_id = connection.scalar(select(Department.brand_id).order_by(Department.id))
    result.first_ticket_id = next_ticket
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    departments = list(groups)
    # Long tail: log-normal weights (median customer ~12 tickets of 100,000 over 5,000, the top few hundreds).
    weights = [rng.lognormvariate(0.0, 1.1) for _ in customers]
    chosen_customers = rng.choices(customers, weights=weights, k=count)
    statuses = rng.choices([s for s, _ in STATUS_SHARES], weights=[w for _, w in STATUS_SHARES], k=count)
    numbers = set()
    made = 0
    while made < count:
        size = min(batch, count - made)
        tickets, messages, comments = [], [], []
        for i in range(made, made + size):
            ticket_id = next_ticket + i
            department_id = rng.choices(departments, weights=DEPARTMENT_WEIGHTS)[0]
            group_id = rng.choices(groups[department_id], weights=GROUP_WEIGHTS)[0]
            customer_id, email = chosen_customers[i]
            status = statuses[i]
            is_open = status in OPEN_STATUSES
            # Open tickets are recent; closed ones from the last two years.
            age = dt.timedelta(seconds=rng.randrange(30 * 86400 if is_open else 730 * 86400))
            opened = now - age
            last_reply = min(now, opened + dt.timedelta(minutes=rng.randrange(1, 5 * 24 * 60)))
            # Every ticket has an agent: the groups have receiving round-robin members, so
            # nothing would wait in a queue (the Ticket Watcher would assign it during the bench).
            members = agents[group_id]
            agent_id = rng.choice(members[:4] or members)
            seconds = int((opened - EPOCH).total_seconds())
            number = "%03d-%08X-%04X" % (department_id % 1000, seconds, ticket_id & 0xFFFF)
            while number in numbers:  # same department, second and id modulo 65536: move a second on
                seconds += 1
                number = "%03d-%08X-%04X" % (department_id % 1000, seconds, ticket_id & 0xFFFF)
            numbers.add(number)
            from_customer = rng.random() < 0.85
            subject = "%s (%d)" % (rng.choice(SUBJECTS), ticket_id)
            tickets.append(dict(
                id=ticket_id, ticket_number=number, brand_id=brand_id, department_id=department_id,
                group_id=group_id, agent_id=agent_id, customer_id=customer_id, customer_email=email,
                subject=subject, status_id=status, priority_id=rng.choice((1, 2, 2, 2, 3, 4)),
                date_opened_utc=opened, date_first_message_utc=opened,
                date_closed_utc=None if is_open else last_reply, idle_start_utc=last_reply,
                last_reply_utc=last_reply, date_modified_utc=last_reply,
                reply_count_in=1 + (rng.randrange(3) if not from_customer else rng.randrange(4)),
                reply_count_out=rng.randrange(4), is_spam=rng.random() < 0.005,
                is_pinned_to_agent=False, requires_follow_up=False, show_in_follow_up_view=False,
                follow_up_pin=False, is_indexed=False,
                is_deleted=rng.random() < 0.005, date_deleted_utc=None,
            ))
            messages.append(dict(
                id=next_message + i, ticket_id=ticket_id, direction=2 if from_customer else 1,
                from_user_id=customer_id if from_customer else agent_id,
                from_address=email if from_customer else "", to_address="" if from_customer else email,
                cc_address="", subject=subject,
                body_text=text_maker.body(BODY % (email, ticket_id, email.split("@")[0])),
                body_html="", date_received_utc=opened, message_id_header=None, raw_content_path=None,
                is_first_message=True, is_draft=False, is_indexed=False,
            ))
            note = text_maker.note()
            if note is not None:
                comments.append(dict(ticket_id=ticket_id, comment_type_id=1, user_id=agent_id, text=note,
                                     is_html=False, date_entered_utc=last_reply, date_modified_utc=None,
                                     is_indexed=False))
            result.open_tickets += is_open
        with engine.begin() as connection:
            connection.execute(insert(Ticket.__table__), tickets)
            connection.execute(insert(TicketMessage.__table__), messages)
            if comments:
                connection.execute(insert(TicketComment.__table__), comments)
        made += size
        result.tickets = result.messages = made
        result.notes += len(comments)
        if made % (batch * 4) == 0 or made == count:
            progress("  %d tickets" % made)
    result.last_ticket_id = next_ticket + count - 1


def _follow_ups(engine, count: int, batch: int, rng, result) -> int:
    """Give ``count`` of the new Active tickets a follow-up due within the last day."""
    if count <= 0:
        return 0
    with engine.connect() as connection:
        active = connection.scalars(select(Ticket.id).where(
            Ticket.id >= result.first_ticket_id, Ticket.status_id == 1, Ticket.is_deleted.is_(False),
        ).order_by(Ticket.id)).all()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    chosen = sorted(rng.sample(active, min(count, len(active))))
    rows = [{"b_id": ticket_id, "b_due": now - dt.timedelta(seconds=rng.randrange(1, 86400))} for ticket_id in chosen]
    table = Ticket.__table__
    statement = table.update().where(table.c.id == bindparam("b_id")).values(
        requires_follow_up=True, show_in_follow_up_view=True, date_follow_up_utc=bindparam("b_due"),
        follow_up_status_id=1)
    for offset in range(0, len(rows), batch):
        with engine.begin() as connection:
            connection.execute(statement, rows[offset:offset + batch])
    return len(chosen)


def _finish(engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            for table in ("users", "tickets", "ticket_messages"):
                connection.execute(text(
                    "SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %s))" % (table, table)))
    # Planner statistics for the new data. On SQLite only the main schema:
    # the full-text index file is attached read-only (stws.db.fulltext_store).
    with engine.begin() as connection:
        connection.execute(text("ANALYZE main" if engine.dialect.name == "sqlite" else "ANALYZE"))


def _fold_tallies(url: str) -> None:
    """The tally triggers (migration 0017) appended a row per ticket: fold them
    as the server's upkeep thread would, so it does not start by folding
    a million rows."""
    from stws.db import tallies
    from stws.db.engine import Database

    db = Database(url, pool_size=1)
    try:
        tallies.fold(db)
    finally:
        db.dispose()


def _full_text_index(url: str) -> int:
    """Work off the full-text backlog as the Indexing thread would, so the
    server starts on a caught-up index (not 200,000 documents behind, which
    the thread would be indexing during the measurements)."""
    from stws.db.engine import Database
    from stws.domain.tickets import fulltext

    db = Database(url, pool_size=1)
    total = 0
    try:
        while True:
            progress = fulltext.index_pending(db, max_documents=50_000, batch=5_000)
            total += progress.documents
            if not progress.documents:
                return total
    finally:
        db.dispose()


def described(url: str) -> Seeded:
    """What ``seed`` returned for the database at ``url``, seeded before (the
    counts the benches print and the customers with the most tickets)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            def count(model, *conditions):
                return connection.scalar(select(func.count()).select_from(model).where(*conditions))
            result = Seeded(
                tickets=count(Ticket), open_tickets=count(Ticket, Ticket.status_id.in_(OPEN_STATUSES)),
                messages=count(TicketMessage), notes=count(TicketComment),
                customers=count(User, User.username.like("benchcust%")),
                agents=count(User, User.username.like("benchagent%")), departments=count(Department),
                groups=count(Group))
        result.top_customers = _top_customers(engine)
        return result
    finally:
        engine.dispose()


def _top_customers(engine, limit: int = 100) -> list:
    open_count = func.sum(case((Ticket.status_id.in_(OPEN_STATUSES), 1), else_=0))
    with engine.connect() as connection:
        rows = connection.execute(
            select(Ticket.customer_email, func.count(Ticket.id), open_count)
            .where(Ticket.is_deleted.is_(False))
            .group_by(Ticket.customer_email).order_by(func.count(Ticket.id).desc(), Ticket.customer_email)
            .limit(limit)
        ).all()
    return [(email, int(total), int(opened or 0)) for email, total, opened in rows]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database", help="SQLAlchemy URL, e.g. sqlite:////tmp/bench.sqlite3")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=None, help="customer accounts (tickets / 20)")
    parser.add_argument("--agents-per-group", type=int, default=5)
    parser.add_argument("--batch", type=int, default=5_000, help="rows per INSERT batch and transaction")
    parser.add_argument("--admin-password", default=None, help="for a new database (else STWS_ADMIN_PASSWORD)")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--follow-ups", type=int, default=0, help="Active tickets with a due follow-up")
    parser.add_argument("--body-words", type=int, default=0, help="extra vocabulary words per message body")
    parser.add_argument("--notes", type=float, default=0.0, help="share of tickets with an internal note")
    parser.add_argument("--no-full-text-index", action="store_true", help="leave the full-text index to build")
    args = parser.parse_args(argv)
    print("seeding %s" % args.database)
    result = seed(args.database, args.tickets, args.customers, args.agents_per_group, args.batch,
                  args.admin_password, args.seed, follow_ups=args.follow_ups, body_words=args.body_words,
                  notes=args.notes, full_text_index=not args.no_full_text_index)
    print("%d tickets (%d open) with %d messages and %d notes, %d full-text documents, in %.1f s (%.0f tickets/s)"
          % (result.tickets, result.open_tickets, result.messages, result.notes, result.indexed_documents,
             result.seconds, result.tickets / result.seconds))
    print("customers with the most tickets (email, tickets, open):")
    for row in result.top_customers[:5]:
        print("  %s %d %d" % row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
