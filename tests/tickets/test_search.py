"""GetTicketsBySearch: every criterion, sorting, paging, visibility, bad
criteria, and the query's speed on 100,000 tickets."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import insert, select, text

from conftest import failed, strings
from stws.db.models import Ticket, TicketComment, TicketMessage
from stws.errors import ResultCode
from tickets.conftest import second_group_with_bob

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


async def new_ticket(desk, subject="Subject", address="someone@example.org", body="Body", caller=None,
                     group=0, agent=0, waiting=False) -> str:
    result = await desk.tickets.CreateTicket(*(caller or desk.admin), desk.department_id, group, agent, address,
                                             subject, body, False, waiting, False)
    assert result.Result, result.Message
    return result.RequestResult


def change(desk, number, **values):
    """Set ticket columns directly (dates, states the API cannot set yet)."""
    with desk.server.runtime.db.transaction() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.ticket_number == number)).one()
        for name, value in values.items():
            setattr(ticket, name, value)
        return ticket.id


async def found(desk, caller, *criteria):
    result = await desk.tickets.GetTicketsBySearch(*caller, strings(*criteria))
    assert result.Result, result.Message
    return [t.TicketNumber for t in (result.Tickets.TicketInfo if result.Tickets else [])]


# ---------------------------------------------------------------- criteria


async def test_email_and_is_open_sorted_by_last_reply(desk):
    a = await new_ticket(desk, "A", "cust@example.com")
    b = await new_ticket(desk, "B", "Cust@Example.COM")
    c = await new_ticket(desk, "C", "cust@example.com", waiting=True)
    closed = await new_ticket(desk, "D", "cust@example.com")
    await new_ticket(desk, "E", "other@example.com")
    change(desk, a, last_reply_utc=T0)
    change(desk, b, last_reply_utc=T0 + dt.timedelta(hours=2))
    change(desk, c, last_reply_utc=T0 + dt.timedelta(hours=1))
    change(desk, closed, status_id=3, last_reply_utc=T0 + dt.timedelta(hours=3))

    assert await found(desk, desk.admin, "EmailAddress=cust@example.com", "IsOpen=true") == [b, c, a]
    # Keys are case-insensitive, values of booleans too; the address as given or lower-cased.
    assert await found(desk, desk.admin, "emailaddress=CUST@EXAMPLE.COM", "ISOPEN=False") == [closed]
    assert await found(desk, desk.admin, "EmailAddress=cust@example.com") == [closed, b, c, a]
    result = await desk.tickets.GetTicketsBySearch(*desk.admin, strings("TicketNumber=" + b))
    (info,) = result.Tickets.TicketInfo
    assert info.Subject == "B" and info.IsOpen and info.IsActive and info.LastReplyDateUtc == T0 + dt.timedelta(hours=2)
    assert result.Message is None or result.Message == ""


async def test_a_ticket_changed_by_anyone_is_found_changed_at_once(desk):
    """Results are shared between calls that read the same rows
    (convert.shared_ticket_infos): a change to any column the answer shows,
    made through the API or straight in the database (another node), is
    in the next answer."""
    number = await new_ticket(desk, "Before", "shared@example.com")

    async def shown():
        result = await desk.tickets.GetTicketsBySearch(*desk.admin, strings("EmailAddress=shared@example.com"))
        return [(t.TicketNumber, t.Subject, t.IsOpen, t.IdAgent, t.LastReplyDateUtc) for t in result.Tickets.TicketInfo]

    first = await shown()
    assert await shown() == first
    change(desk, number, subject="After", last_reply_utc=T0)
    agent = first[0][3]
    assert await shown() == [(number, "After", True, agent, T0)]
    ok_close = await desk.tickets.CloseTicket(*desk.admin, number, "")
    assert ok_close.Result, ok_close.Message
    assert [row[:4] for row in await shown()] == [(number, "After", False, agent)]


async def test_ties_on_last_reply_sort_by_id_descending(desk):
    numbers = [await new_ticket(desk, "T%d" % i) for i in range(3)]
    for number in numbers:
        change(desk, number, last_reply_utc=T0)
    assert await found(desk, desk.admin, "Subject=T") == list(reversed(numbers))


async def test_status_active_priority_and_ids(desk):
    group2, bob, bob_id = await second_group_with_bob(desk)
    active = await new_ticket(desk, "active", agent=desk.agent_id)
    waiting = await new_ticket(desk, "waiting", agent=desk.agent_id, waiting=True)
    locked = await new_ticket(desk, "locked", group=group2, agent=bob_id)
    queued = await new_ticket(desk, "queued")
    change(desk, locked, status_id=4, priority_id=4)
    change(desk, queued, agent_id=None, customer_id=desk.customer_id)

    assert set(await found(desk, desk.admin, "Status=Waiting")) == {waiting}
    assert set(await found(desk, desk.admin, "Status=active, closed and locked")) == {active, queued, locked}
    assert set(await found(desk, desk.admin, "status=4")) == {locked}
    assert set(await found(desk, desk.admin, "IsActive=true")) == {active, queued}
    assert set(await found(desk, desk.admin, "IsActive=false")) == {waiting, locked}
    # Status and IsOpen intersect; a contradiction finds nothing.
    assert await found(desk, desk.admin, "IsOpen=true", "Status=Closed and Locked") == []
    assert set(await found(desk, desk.admin, "Priority=Urgent")) == {locked}
    assert set(await found(desk, desk.admin, "Priority=2")) == {active, waiting, queued}
    assert set(await found(desk, desk.admin, "GroupID=%d" % group2)) == {locked}
    assert set(await found(desk, desk.admin, "AgentId=%d" % desk.agent_id)) == {active, waiting}
    assert set(await found(desk, desk.admin, "AgentId=0")) == {queued}
    assert set(await found(desk, desk.admin, "UserId=%d" % desk.customer_id)) == {queued}
    assert set(await found(desk, desk.admin, "UserID=0")) == {active, waiting, locked}
    assert set(await found(desk, desk.admin, "DepartmentId=%d" % desk.department_id)) == {
        active, waiting, locked, queued}
    assert await found(desk, desk.admin, "DepartmentId=999") == []
    assert await found(desk, desk.admin, "BrandId=1", "TicketNumber=#" + locked.lower()) == [locked]


async def test_subject_and_text(desk):
    printer = await new_ticket(desk, "Printer ON FIRE", body="Smoke everywhere")
    percent = await new_ticket(desk, "Discount 100% off", body="no")
    underscore = await new_ticket(desk, "file_name issue", body="no")
    noted = await new_ticket(desk, "Quiet", body="nothing", address="cust@example.com")
    noted_id = change(desk, noted, customer_id=desk.customer_id)
    change(desk, printer, customer_id=desk.customer_id)
    with desk.server.runtime.db.transaction() as session:
        session.add(TicketComment(ticket_id=noted_id, comment_type_id=1, text="Internal: customer owes money"))
        session.add(TicketMessage(ticket_id=noted_id, direction=2, subject="Re: Quiet",
                                  body_text="My modem blinks", date_received_utc=T0))

    assert await found(desk, desk.admin, "Subject=on fire") == [printer]
    # LIKE wildcards in the value are taken literally.
    assert await found(desk, desk.admin, "Subject=100%") == [percent]
    assert await found(desk, desk.admin, "Subject=e_n") == [underscore]
    assert await found(desk, desk.admin, "Subject=%") == [percent]
    assert await found(desk, desk.admin, "Text=SMOKE") == [printer]
    assert await found(desk, desk.admin, "Text=modem") == [noted]
    assert await found(desk, desk.admin, "Text=fire") == [printer]  # the subject counts as text
    # Agents find notes; customers search only what they can read.
    assert await found(desk, desk.agent, "Text=owes money") == [noted]
    assert await found(desk, desk.customer, "Text=owes money") == []
    assert await found(desk, desk.customer, "Text=modem") == [noted]


async def test_date_ranges(desk):
    old = await new_ticket(desk, "old")
    new = await new_ticket(desk, "new")
    change(desk, old, date_opened_utc=T0 - dt.timedelta(days=30), last_reply_utc=T0 - dt.timedelta(days=1))
    change(desk, new, date_opened_utc=T0, last_reply_utc=T0 + dt.timedelta(days=1))

    assert await found(desk, desk.admin, "DateOpenedFrom=2025-03-01T12:00:00Z") == [new]  # inclusive
    assert await found(desk, desk.admin, "DateOpenedTo=2025-02-28") == [old]
    assert await found(desk, desk.admin, "DateOpenedFrom=2025-01-01", "DateOpenedTo=2025-03-01T13:00") == [new, old]
    # An offset is honoured: 14:00+02:00 is 12:00 UTC.
    assert await found(desk, desk.admin, "LastReplyFrom=2025-03-02T14:00:00+02:00") == [new]
    assert await found(desk, desk.admin, "LastReplyTo=2025-03-01T00:00:00Z") == [old]


async def test_paging_with_max_results_and_offset(desk):
    numbers = [await new_ticket(desk, "P%d" % i) for i in range(5)]
    for i, number in enumerate(numbers):
        change(desk, number, last_reply_utc=T0 + dt.timedelta(minutes=i))
    newest_first = list(reversed(numbers))

    first = await desk.tickets.GetTicketsBySearch(*desk.admin, strings("MaxResults=2"))
    assert [t.TicketNumber for t in first.Tickets.TicketInfo] == newest_first[:2]
    assert "Offset=2" in first.Message
    assert await found(desk, desk.admin, "MaxResults=2", "Offset=2") == newest_first[2:4]
    last = await desk.tickets.GetTicketsBySearch(*desk.admin, strings("MaxResults=2", "Offset=4"))
    assert [t.TicketNumber for t in last.Tickets.TicketInfo] == newest_first[4:]
    assert not last.Message
    assert await found(desk, desk.admin, "Offset=10") == []
    assert await found(desk, desk.admin, "MaxResults=10000") == newest_first


async def test_sort_order_and_sort_field_as_clients_send_them(desk):
    """SortOrder (ascending/descending) and SortBy or SortField, keys and
    values case-insensitive, as SmarterTrack integrations send them with
    their criteria (e.g. ``sortorder=ascending`` with ``userid=``)."""
    a = await new_ticket(desk, "banana", address="a@example.com")
    b = await new_ticket(desk, "apple", address="b@example.com")
    c = await new_ticket(desk, "cherry", address="c@example.com")
    never = await new_ticket(desk, "date", address="d@example.com")
    change(desk, a, last_reply_utc=T0 + dt.timedelta(hours=2), date_opened_utc=T0, priority_id=4)
    change(desk, b, last_reply_utc=T0, date_opened_utc=T0 + dt.timedelta(hours=1), priority_id=1)
    change(desk, c, last_reply_utc=T0 + dt.timedelta(hours=1), date_opened_utc=T0 + dt.timedelta(hours=2),
           priority_id=2)
    change(desk, never, last_reply_utc=None, date_opened_utc=T0 + dt.timedelta(hours=3), priority_id=2)

    by_reply = [a, c, b, never]  # newest first; no reply last
    assert await found(desk, desk.admin) == by_reply
    assert await found(desk, desk.admin, "SortOrder=Descending") == by_reply
    assert await found(desk, desk.admin, "sortorder=ascending", "userid=0") == [b, c, a, never]
    assert await found(desk, desk.admin, "SORTORDER=ASC", "SortBy=LastReplyDateUtc") == [b, c, a, never]
    assert await found(desk, desk.admin, "SortBy=DateOpened") == [never, c, b, a]
    assert await found(desk, desk.admin, "SortField=dateopenedutc", "SortOrder=asc") == [a, b, c, never]
    assert await found(desk, desk.admin, "sortby=Subject", "sortorder=Ascending") == [b, a, c, never]
    assert await found(desk, desk.admin, "SortBy=ticketnumber", "SortOrder=ascending") == [a, b, c, never]
    assert await found(desk, desk.admin, "SortBy=ID", "SortOrder=descending") == [never, c, b, a]
    # Priority by its rank (Urgent first when descending), ties newest ticket first.
    assert await found(desk, desk.admin, "SortBy=Priority") == [a, never, c, b]
    # Sorting and paging together: pages of the same order.
    assert await found(desk, desk.admin, "SortBy=Subject", "SortOrder=asc", "MaxResults=2", "Offset=2") == [c, never]


async def test_sorted_by_priority_pages_across_priorities(desk):
    """A group's or department's list of one status sorted by priority is read
    as the priorities' own pages (search._prepared_by_priority); its pages are
    those of the single sort other searches keep: by rank
    (ticket_priorities.sort_order), ties by id in the same direction,
    priorities of equal rank merged by id, after the priorities are
    reordered too."""
    group2, _, _ = await second_group_with_bob(desk)
    tickets = {}  # number -> (id, priority id)
    for i, priority in enumerate((4, 1, 2, 2, 3, 1, 4, 2, 1, 2, 3, 2, 4, 1, 2)):
        number = await new_ticket(desk, "P%d" % i)
        tickets[number] = (change(desk, number, priority_id=priority, group_id=desk.group_id), priority)
    # Not in the lists: another status, deleted; in the department's only: another group.
    for values in (dict(status_id=2), dict(is_deleted=True)):
        change(desk, await new_ticket(desk, "elsewhere"), priority_id=4, **values)
    other_group = await new_ticket(desk, "other group")
    in_department = {**tickets, other_group: (change(desk, other_group, priority_id=2, group_id=group2), 2)}
    lists = (
        (desk.agent, ["GroupId=%d" % desk.group_id, "IsActive=true"], tickets),
        (desk.admin, ["DepartmentId=%d" % desk.department_id, "IsActive=true"], in_department),
    )

    async def check(ranks: dict, wanted=None):
        narrowed = ["Priority=" + ",".join(map(str, wanted))] if wanted else []
        for descending in (False, True):
            order = ["SortBy=Priority", "SortOrder=" + ("Descending" if descending else "Ascending")]
            for caller, criteria, listed in lists:
                expected = [number for number, (_, priority) in
                            sorted(listed.items(), key=lambda item: (ranks[item[1][1]], item[1][0]),
                                   reverse=descending) if wanted is None or priority in wanted]
                assert await found(desk, caller, *criteria, *narrowed, *order) == expected
                # Pages shorter than a priority's tickets, some crossing priorities.
                for offset in (0, 1, 3, 4, 7, 10, 13, 16):
                    page = await found(desk, caller, *criteria, *narrowed, *order, "MaxResults=2", "Offset=%d" % offset)
                    assert page == expected[offset:offset + 2], (criteria, order, offset)
            # The single sort (no group or department) agrees.
            assert await found(desk, desk.admin, "IsActive=true", *narrowed, *order) == expected

    await check({1: 1, 2: 2, 3: 3, 4: 4})
    await check({1: 1, 2: 2, 3: 3, 4: 4}, wanted=(1, 4))
    # Reordered: Urgent lowest, Low and Normal of equal rank (merged by id).
    with desk.server.runtime.db.engine.begin() as connection:
        connection.execute(text("UPDATE ticket_priorities SET sort_order = CASE id WHEN 4 THEN 0 WHEN 3 THEN 7 "
                                "ELSE 5 END"))
    await check({4: 0, 1: 5, 2: 5, 3: 7})

    if desk.server.runtime.db.is_sqlite:
        # Each priority's page is a range of migration 0018's index.
        from stws.domain.context import Context
        from stws.domain.tickets import search
        from stws.security import roles
        from stws.security.principals import Principal

        agent = Principal(desk.agent_id, "alice", roles.effective_roles([roles.AGENT]))
        with desk.server.runtime.db.transaction(writes=False) as session:
            call = Context.in_session(session, agent, None)
            items = ["GroupId=%d" % desk.group_id, "IsActive=true", "SortBy=Priority", "MaxResults=25"]
            statement = search.search_statement(call, search.parse_criteria(call, items))
            sql = str(statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
            plan = [row[3] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql))]
        assert sum("ix_tickets_group_status_priority (group_id=? AND status_id=? AND priority_id=?)" in step
                   for step in plan) == 4, plan


async def test_empty_criteria_is_everything_the_caller_sees(desk):
    group2, bob, bob_id = await second_group_with_bob(desk)
    mine = await new_ticket(desk, "alice's", caller=desk.agent)
    theirs = await new_ticket(desk, "bob's", group=group2, agent=bob_id)
    assigned_to_alice = await new_ticket(desk, "other group, alice's", group=group2, agent=desk.agent_id)
    customers = await new_ticket(desk, "cust's", address="cust@example.com")
    change(desk, customers, customer_id=desk.customer_id)

    assert set(await found(desk, desk.admin)) == {mine, theirs, assigned_to_alice, customers}
    assert set(await found(desk, desk.agent)) == {mine, assigned_to_alice, customers}
    assert set(await found(desk, bob)) == {theirs, assigned_to_alice}
    assert await found(desk, desk.customer) == [customers]
    # A criterion does not widen what a caller sees.
    assert await found(desk, desk.agent, "GroupId=%d" % group2, "AgentId=%d" % bob_id) == []
    result = await desk.tickets.GetTicketsBySearch(*desk.agent, None)
    assert result.Result and len(result.Tickets.TicketInfo) == 3


async def test_one_criteria_shape_serves_other_values_and_callers(desk):
    """The statement is prepared once per criteria shape: the values, the
    viewer's id and the page are parameters, the viewer's kind is part of it."""
    group2, bob, bob_id = await second_group_with_bob(desk)
    a_alice = await new_ticket(desk, "a, alice", address="a@example.com", agent=desk.agent_id)
    a_bob = await new_ticket(desk, "a, bob", address="a@example.com", group=group2, agent=bob_id)
    b_alice = await new_ticket(desk, "b, alice", address="b@example.com", agent=desk.agent_id)
    a_closed = await new_ticket(desk, "a, closed", address="a@example.com", agent=desk.agent_id)
    cust = await new_ticket(desk, "customer's", address="cust@example.com", agent=desk.agent_id)
    change(desk, a_closed, status_id=3)
    change(desk, a_bob, priority_id=4)
    change(desk, cust, customer_id=desk.customer_id, priority_id=4)

    open_of = ["IsOpen=true", "EmailAddress=%s"]
    for caller, expected in ((desk.admin, {a_alice, a_bob}), (desk.agent, {a_alice}), (bob, {a_bob}),
                             (desk.customer, set())):
        assert set(await found(desk, caller, open_of[0], open_of[1] % "a@example.com")) == expected
    assert await found(desk, desk.admin, open_of[0], open_of[1] % "b@example.com") == [b_alice]
    assert await found(desk, bob, open_of[0], open_of[1] % "b@example.com") == []
    assert await found(desk, desk.customer, open_of[0], open_of[1] % "cust@example.com") == [cust]
    # Other shapes: without IsOpen, another status list, other list lengths, IS NULL vs a value.
    assert set(await found(desk, desk.admin, "EmailAddress=a@example.com")) == {a_alice, a_bob, a_closed}
    assert await found(desk, desk.admin, "IsOpen=false", "EmailAddress=a@example.com") == [a_closed]
    assert set(await found(desk, desk.admin, "Priority=4")) == {a_bob, cust}
    assert set(await found(desk, desk.admin, "Priority=4,2", "EmailAddress=a@example.com")) == {
        a_alice, a_bob, a_closed}
    assert await found(desk, desk.admin, "UserId=%d" % desk.customer_id, "Priority=4") == [cust]
    assert await found(desk, desk.admin, "UserId=0", "Priority=4") == [a_bob]
    # The page is a parameter too.
    newest = await found(desk, desk.admin, "EmailAddress=a@example.com")
    assert await found(desk, desk.admin, "EmailAddress=a@example.com", "MaxResults=1", "Offset=1") == newest[1:2]
    assert await found(desk, desk.admin, "EmailAddress=a@example.com", "MaxResults=1", "Offset=2") == newest[2:]


async def test_deleted_tickets(desk):
    kept = await new_ticket(desk, "kept")
    gone = await new_ticket(desk, "gone")
    change(desk, gone, is_deleted=True, date_deleted_utc=T0)
    assert await found(desk, desk.admin) == [kept]
    assert await found(desk, desk.admin, "IsDeleted=false") == [kept]
    result = await desk.tickets.GetTicketsBySearch(*desk.admin, strings("IsDeleted=true"))
    (info,) = result.Tickets.TicketInfo
    assert info.TicketNumber == gone and info.IsDeleted is True
    failed(await desk.tickets.GetTicketsBySearch(*desk.agent, strings("IsDeleted=true")),
           ResultCode.PERMISSION_DENIED, "Manager")


# ---------------------------------------------------------------- bad criteria


@pytest.mark.parametrize("items, mentions", [
    (["Colour=red"], ["'Colour'", "Search keys:"]),
    (["IsOpen=true", "isopen=false"], ["IsOpen is given twice"]),
    (["IsOpen=maybe"], ["IsOpen", "maybe"]),
    (["EmailAddress=not-an-address"], ["EmailAddress", "not-an-address"]),
    (["EmailAddress="], ["EmailAddress has no value"]),
    (["GroupId=abc"], ["GroupId", "abc"]),
    (["GroupId=0"], ["GroupId"]),
    (["AgentId=-1"], ["AgentId"]),
    (["Status=Pending"], ["Status", "Pending", "Active"]),
    (["Priority=Whenever"], ["Priority", "Whenever", "Urgent"]),
    (["DateOpenedFrom=yesterday"], ["DateOpenedFrom", "yesterday", "ISO 8601"]),
    (["LastReplyFrom=2025-02-01", "LastReplyTo=2025-01-01"], ["LastReplyFrom lies after LastReplyTo"]),
    (["MaxResults=10001"], ["MaxResults", "10000"]),
    (["MaxResults=0"], ["MaxResults"]),
    (["Offset=-5"], ["Offset"]),
    (["just words"], ["'just words' is not of the form Key=Value"]),
    (["SortOrder=sideways"], ["SortOrder", "sideways", "Ascending", "Descending"]),
    (["SortBy=Colour"], ["SortBy", "Colour", "LastReplyDateUtc", "Subject"]),
    (["SortBy=Subject", "SortField=ID"], ["SortBy is given twice"]),
])
async def test_bad_criteria_are_reported_by_name(desk, items, mentions):
    await new_ticket(desk)
    failed(await desk.tickets.GetTicketsBySearch(*desk.admin, strings(*items)), ResultCode.INVALID_ARGUMENT,
           "Invalid search criteria", *mentions)


async def test_every_problem_is_reported_at_once(desk):
    message = failed(await desk.tickets.GetTicketsBySearch(
        *desk.agent, strings("Foo=1", "IsOpen=perhaps", "Bar=2", "EmailAddress=cust@example.com")),
        ResultCode.INVALID_ARGUMENT)
    assert "'Foo'" in message and "'Bar'" in message and "IsOpen" in message
    assert "EmailAddress:" not in message


async def test_search_needs_valid_credentials(desk):
    failed(await desk.tickets.GetTicketsBySearch("alice", "wrong", strings()), ResultCode.AUTHENTICATION_FAILED)


# ---------------------------------------------------------------- speed


N_TICKETS = 100_000


def _seed_many(db, count: int) -> None:
    from stws.domain.seed import seed_default_organisation, seed_reference_data

    with db.transaction() as session:
        seed_reference_data(session)
        seed_default_organisation(session)
    rnd = random.Random(7)
    base = dt.datetime(2024, 1, 1, tzinfo=UTC)
    rows = [dict(
        ticket_number="001-%08X-%04X" % (i, i & 0xFFFF), brand_id=1, department_id=1, group_id=1,
        customer_email="user%d@example.com" % (i % 20_000), subject="Ticket %d" % i,
        status_id=rnd.choice((1, 2, 3, 3, 3, 4)), priority_id=2, is_deleted=False, is_spam=False,
        is_pinned_to_agent=False, requires_follow_up=False, show_in_follow_up_view=False, follow_up_pin=False,
        is_indexed=False, reply_count_in=1, reply_count_out=0,
        date_opened_utc=base + dt.timedelta(minutes=i), idle_start_utc=base + dt.timedelta(minutes=i),
        date_modified_utc=base + dt.timedelta(minutes=i), last_reply_utc=base + dt.timedelta(minutes=i),
    ) for i in range(count)]
    with db.engine.begin() as connection:
        for start in range(0, count, 10_000):
            connection.execute(insert(Ticket.__table__), rows[start:start + 10_000])
        if db.engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE tickets"))


def test_open_tickets_of_an_address_among_100000_tickets_are_read_through_its_index(database_url):
    """IsOpen=true AND EmailAddress=x among 100,000 tickets: the right page
    for an administrator and an agent, served by
    ix_tickets_customer_email_lower_status (the plan, not a timing: speed
    is measured in bench/, bench/list_queries.py l7)."""
    from stws.db.engine import Database
    from stws.domain.tickets import search
    from stws.security import roles
    from stws.security.principals import Principal

    db = Database(database_url, pool_size=2)
    try:
        _seed_many(db, N_TICKETS)

        class Call:
            def __init__(self, session, role, user_id):
                self.session = session
                self.connection = session.connection()
                self.principal = Principal(user_id, "perf", roles.effective_roles([role]))

        criteria = ["IsOpen=true", "EmailAddress=user4321@example.com"]
        expected = None
        for role in (roles.ADMINISTRATOR, roles.AGENT):
            with db.transaction(writes=False) as session:
                page = search.find_tickets(Call(session, role, 1), criteria)
                numbers = [t.ticket_number for t in page.tickets]
            if role == roles.ADMINISTRATOR:
                expected = numbers
                assert 0 < len(numbers) <= 5 and page.next_offset is None
            else:
                assert numbers == []  # the agent (id 1, in no group) sees none of them
        with db.transaction(writes=False) as session:
            opened = [n for (n,) in session.execute(
                select(Ticket.ticket_number).where(Ticket.customer_email == "user4321@example.com",
                                                   Ticket.status_id.in_((1, 2)))
                .order_by(Ticket.last_reply_utc.desc()))]
            assert expected == opened
            if db.engine.dialect.name == "sqlite":
                admin = Call(session, roles.ADMINISTRATOR, 1)
                statement = search.search_statement(admin, search.parse_criteria(admin, criteria))
                sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
                plan = " ".join(row[3] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
                assert "ix_tickets_customer_email_lower_status" in plan, plan
    finally:
        db.dispose()
