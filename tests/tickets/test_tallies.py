"""Ticket counts from the tallies the triggers of migration 0017 keep
(stws.domain.tickets.tallies): exact right after each change, whoever
writes it (operations, a bulk UPDATE, the purge's DELETE), and unchanged by
folding (stws.db.tallies.fold). On SQLite and on PostgreSQL."""
from __future__ import annotations

from sqlalchemy import delete, func, select, update

from conftest import ok
from stws.db import tallies as tally_table
from stws.db.models import Ticket, TicketTally
from stws.domain.tickets import counts as counts_table, lifecycle, tallies
from tickets.conftest import second_group_with_bob
from tickets.test_lifecycle import change, counts, new_ticket


def open_tickets(desk, **where) -> int:
    """Open tickets counted live (Active and Waiting are the seeded open statuses)."""
    with desk.server.runtime.db.transaction(writes=False) as session:
        query = select(func.count(Ticket.id)).where(Ticket.status_id.in_((1, 2)), Ticket.is_deleted.is_(False))
        for name, value in where.items():
            query = query.where(getattr(Ticket, name) == value)
        return session.scalar(query)


def live_combinations(desk) -> list[tuple]:
    """What tallies.per_combination must say, by GROUP BY over the tickets."""
    agent = func.coalesce(Ticket.agent_id, 0)
    key = (Ticket.brand_id, Ticket.department_id, Ticket.group_id, agent)
    with desk.server.runtime.db.transaction(writes=False) as session:
        rows = session.execute(select(*key, Ticket.status_id, Ticket.requires_follow_up)
                               .where(Ticket.is_deleted.is_(False))).all()
    found: dict = {}
    for b, d, g, a, status, follow_up in rows:
        if status not in (1, 2) and not follow_up:
            continue
        entry = found.setdefault((b, d, g, a), [0, 0, 0])
        entry[0] += status == 1
        entry[1] += status == 2
        entry[2] += bool(follow_up)
    return [(*k, *v) for k, v in sorted(found.items())]


def tallied_combinations(desk) -> list[tuple]:
    with desk.server.runtime.db.transaction(writes=False) as session:
        return tallies.per_combination(session.connection(), "all", 0)


async def counted(desk, caller) -> int:
    return ok(await desk.tickets.GetTicketCount(*caller)).RequestResult


async def test_get_ticket_count_is_exact_right_after_each_change(desk):
    group2, bob, bob_id = await second_group_with_bob(desk)
    before = await counted(desk, desk.admin)
    assert before == open_tickets(desk)

    number = await new_ticket(desk, "new", agent=desk.agent_id)
    assert await counted(desk, desk.admin) == before + 1
    assert await counted(desk, desk.agent) == open_tickets(desk, group_id=1) == 1
    assert await counted(desk, bob) == 0

    ok(await desk.tickets.TransferTicket(*desk.admin, number, group2, bob_id, "to bob"))
    assert await counted(desk, bob) == 1
    assert await counted(desk, desk.agent) == 0
    assert await counted(desk, desk.admin) == before + 1

    ok(await desk.tickets.CloseTicket(*desk.admin, number, ""))
    assert await counted(desk, desk.admin) == before
    assert await counted(desk, bob) == 0

    other = await new_ticket(desk, "to delete", agent=desk.agent_id, waiting=True)
    assert await counted(desk, desk.admin) == before + 1
    ticket_id = change(desk, other)  # no change: its id
    ok(await desk.tickets.DeleteTicket(*desk.admin, ticket_id))
    assert await counted(desk, desk.admin) == before == open_tickets(desk)


async def test_counts_agree_with_the_tickets_after_bulk_changes_and_folds(desk):
    group2, bob, bob_id = await second_group_with_bob(desk)
    for i in range(6):
        await new_ticket(desk, "t%d" % i, agent=desk.agent_id if i % 2 else 0, waiting=i % 3 == 0)
    await new_ticket(desk, "bob's", group=group2, agent=bob_id)
    db = desk.server.runtime.db
    # Writes that no operation makes: a bulk UPDATE as the Ticket Watcher's,
    # a follow-up set directly, the purge's DELETE.
    with db.transaction() as session:
        session.execute(update(Ticket).where(Ticket.agent_id == desk.agent_id).values(agent_id=None, status_id=2))
        session.execute(update(Ticket).where(Ticket.subject == "t4").values(requires_follow_up=True, status_id=3))
        session.execute(delete(Ticket).where(Ticket.subject == "t5"))
    live = live_combinations(desk)
    assert tallied_combinations(desk) == live
    assert counts(await desk.tickets.GetTicketCounts_Global(*desk.admin)) == [
        (b, d, g, a, active, waiting, follow_up) for b, d, g, a, active, waiting, follow_up in live]
    with db.transaction(writes=False) as session:
        rows_before = session.scalar(select(func.count(TicketTally.id)))
    folded = tally_table.fold(db)
    with db.transaction(writes=False) as session:
        rows_after = session.scalar(select(func.count(TicketTally.id)))
    assert folded == rows_before - rows_after > 0
    assert tally_table.fold(db) == 0  # nothing left to fold
    assert tallied_combinations(desk) == live
    assert await counted(desk, desk.admin) == open_tickets(desk)
    group1 = ok(await desk.tickets.GetGroupTicketInfo(*desk.agent)).RequestResults.string
    assert "Group.1.Queued=%d" % open_tickets(desk, group_id=1, status_id=1, agent_id=None) in group1


async def test_global_counts_shared_between_calls_change_at_once(desk):
    """GetTicketCounts_Global shares the answer of calls that read the same
    counts (lifecycle.shared_counts): a change by an operation, or by
    another node writing the database directly, is in the very next answer,
    from the tallies as from a fresh counts table."""
    group2, bob, bob_id = await second_group_with_bob(desk)
    for i in range(3):
        await new_ticket(desk, "t%d" % i, agent=desk.agent_id if i else 0)
    db = desk.server.runtime.db

    async def answered():
        return counts(await desk.tickets.GetTicketCounts_Global(*desk.admin))

    def expected():
        return [tuple(row) for row in live_combinations(desk)]

    first = await answered()
    assert first == await answered() == expected()
    await new_ticket(desk, "bob's", group=group2, agent=bob_id)  # by an operation of this node
    assert await answered() == expected() != first
    with db.transaction() as session:  # by another node: a bulk UPDATE the tallies' triggers see
        session.execute(update(Ticket).where(Ticket.agent_id == desk.agent_id).values(agent_id=None))
    assert await answered() == expected()
    # From the counts table while it is fresh: its rows, changed by each refresh.
    counts_table.refresh(db)
    from_table = await answered()
    assert from_table == await answered() == expected()
    with db.transaction() as session:
        session.execute(update(Ticket).where(Ticket.subject == "t0").values(status_id=2))
    assert await answered() == from_table  # the table lags until its next refresh, as documented
    counts_table.refresh(db)
    assert await answered() == expected() != from_table


def test_equal_rows_give_the_same_shared_counts():
    rows = [(1, 1, 1, 0, 2, 0, 1), (1, 1, 2, 5, 0, 3, 0)]
    shared = lifecycle.shared_counts(rows)
    assert shared is lifecycle.shared_counts([tuple(row) for row in rows])
    assert [tuple(vars(c).values()) for c in shared] == rows
    changed = lifecycle.shared_counts([rows[0], (1, 1, 2, 5, 0, 2, 0)])
    assert changed is not shared and changed[1].waiting == 2
