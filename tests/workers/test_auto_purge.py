"""The Auto-Purge Deleted Items thread: 90 days after deletion, tickets (with
their parts and files), call logs, users, groups and departments go, except
what section 4.6 keeps and what kept rows still refer to."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from stws.db.models import (
    Base, CallLog, Department, Group, GroupAgent, OutgoingMessage, Ticket, TicketAttachment, TicketComment,
    TicketCustomValue, TicketEvent, TicketLink, TicketMessage, TimeLog, User, UserRole,
)
from stws.workers.framework import JobContext, RunOutcome, ThreadDefinition
from stws.workers.jobs import auto_purge
from workers import rows
from workers.live import eventually, started_workers
from workers.test_framework import EPOCH, Harness, runtime, with_rows  # noqa: F401 (runtime: fixture)

NOW = EPOCH + dt.timedelta(days=1000)
DUE = NOW - dt.timedelta(days=91)  # deleted long enough ago
RECENT = NOW - dt.timedelta(days=89)
DEFINITION = ThreadDefinition("Auto-Purge Deleted Items", 3600, "test", job=auto_purge.run)


def purge(runtime, now=NOW) -> int:
    return auto_purge.run(JobContext(runtime, DEFINITION, now))


def exists(runtime, model, row_id) -> bool:
    with runtime.db.transaction(writes=False) as session:
        return session.get(model, row_id) is not None


def count(runtime, model, *where) -> int:
    with runtime.db.transaction(writes=False) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_ticket_deleted_over_90_days_ago_goes_with_its_parts_and_files(runtime):
    files = runtime.data.attachments
    (files / "aa").mkdir()
    (files / "aa" / "aa01.bin").write_bytes(b"purged")
    (files / "bb").mkdir()
    (files / "bb" / "bb01.bin").write_bytes(b"kept")
    with runtime.db.transaction() as session:
        old = rows.ticket(session, deleted_at=DUE)
        message = rows.message(session, old)
        rows.comment(session, old)
        rows.event(session, old)
        rows.attachment(session, old, "aa/aa01.bin", message)
        session.add(TimeLog(ticket_id=old.id, date_start_utc=DUE, date_end_utc=DUE))
        session.add(TicketCustomValue(ticket_id=old.id, field_id=_custom_field(session), value="v"))
        session.add(OutgoingMessage(ticket_id=old.id, ticket_message_id=message.id, from_address="a@b.c",
                                    recipients="c@d.e", message_id_header="<x@y>", raw_content=b"x"))
        also_deleted = rows.ticket(session, deleted_at=DUE)
        rows.link(session, old, linked_ticket=also_deleted)
        recent = rows.ticket(session, deleted_at=RECENT)
        rows.attachment(session, recent, "bb/bb01.bin")
        live = rows.ticket(session)
        old_id, recent_id, live_id = old.id, recent.id, live.id

    assert purge(runtime) == 2  # old and also_deleted
    assert not exists(runtime, Ticket, old_id)
    for model in (TicketMessage, TicketComment, TicketEvent, TicketAttachment, TimeLog, TicketCustomValue):
        assert count(runtime, model, model.ticket_id == old_id) == 0, model
    assert count(runtime, TicketLink) == 0
    assert not (files / "aa" / "aa01.bin").exists()
    # The spool keeps its record of what was sent, without the ticket.
    with runtime.db.transaction(writes=False) as session:
        spooled = session.scalars(select(OutgoingMessage)).one()
        assert (spooled.ticket_id, spooled.ticket_message_id) == (None, None)
    assert exists(runtime, Ticket, recent_id) and exists(runtime, Ticket, live_id)
    assert (files / "bb" / "bb01.bin").read_bytes() == b"kept"
    assert purge(runtime) == 0
    # Two days later the recent one is due too.
    assert purge(runtime, NOW + dt.timedelta(days=2)) == 1
    assert not (files / "bb" / "bb01.bin").exists()


def _custom_field(session) -> int:
    from stws.db.models import CustomField
    field = CustomField(display_name="Purge test field")
    session.add(field)
    session.flush()
    return field.id


def test_tickets_with_a_resolution_are_never_purged(runtime):
    with runtime.db.transaction() as session:
        resolved = rows.ticket(session, deleted_at=NOW - dt.timedelta(days=3000))
        rows.comment(session, resolved, rows.GENERAL)
        rows.comment(session, resolved, rows.RESOLUTION)
        noted = rows.ticket(session, deleted_at=DUE)
        rows.comment(session, noted, rows.GENERAL)
        resolved_id, noted_id = resolved.id, noted.id
    assert purge(runtime) == 1
    assert exists(runtime, Ticket, resolved_id) and not exists(runtime, Ticket, noted_id)
    assert purge(runtime, NOW + dt.timedelta(days=10000)) == 0


def test_related_items_keep_each_other_until_both_are_deleted(runtime):
    with runtime.db.transaction() as session:
        links_to_live = rows.ticket(session, deleted_at=DUE)
        live = rows.ticket(session)
        rows.link(session, links_to_live, linked_ticket=live)
        linked_from_live = rows.ticket(session, deleted_at=DUE)
        rows.link(session, live, linked_ticket=linked_from_live)
        with_call = rows.ticket(session, deleted_at=DUE)
        call = rows.call_log(session)
        rows.link(session, with_call, linked_call_log=call)
        # A call log deleted long ago, related to a live ticket.
        old_call = rows.call_log(session, deleted_at=DUE)
        rows.link(session, live, linked_call_log=old_call)
        ids = dict(links_to_live=links_to_live.id, linked_from_live=linked_from_live.id, with_call=with_call.id,
                   live=live.id, call=call.id, old_call=old_call.id)
    assert purge(runtime) == 0

    # The live ticket and the call log are deleted (today): the items related
    # to them are due now, the two themselves in 90 days.
    later = NOW + dt.timedelta(days=1)
    with runtime.db.transaction() as session:
        for model, key in ((Ticket, "live"), (CallLog, "call")):
            row = session.get(model, ids[key])
            row.is_deleted, row.date_deleted_utc = True, NOW
    assert purge(runtime, later) == 4
    assert exists(runtime, Ticket, ids["live"]) and exists(runtime, CallLog, ids["call"])
    assert not exists(runtime, CallLog, ids["old_call"])
    assert purge(runtime, NOW + dt.timedelta(days=91)) == 2


def test_accounts_groups_and_departments_go_only_when_nothing_kept_refers_to_them(runtime):
    with runtime.db.transaction() as session:
        loner = rows.user(session, "loner", agent=True, deleted_at=DUE)
        rows.member(session, 1, loner.id)
        customer = rows.user(session, "customer", deleted_at=DUE)
        rows.ticket(session, customer_id=customer.id)  # a live ticket of theirs
        former_agent = rows.user(session, "former", agent=True, deleted_at=DUE)
        # Their only trace: the history of a ticket purged in the same run.
        purged_ticket = rows.ticket(session, deleted_at=DUE)
        rows.event(session, purged_ticket, user_id=former_agent.id)
        recently = rows.user(session, "recently", deleted_at=RECENT)
        # A deleted department whose front line is a deleted group: both go.
        gone_department = rows.department(session, "Gone", deleted_at=DUE)
        gone_group = rows.group(session, "Gone L1", gone_department.id, deleted_at=DUE)
        gone_department.front_line_group_id = gone_group.id
        # A deleted group that still has a (live) ticket stays, and so does its deleted department.
        kept_department = rows.department(session, "Kept", deleted_at=DUE)
        kept_group = rows.group(session, "Kept L1", kept_department.id, deleted_at=DUE)
        rows.ticket(session, group_id=kept_group.id, department_id=kept_department.id)
        ids = {name: row.id for name, row in dict(
            loner=loner, customer=customer, former_agent=former_agent, recently=recently,
            gone_department=gone_department, gone_group=gone_group, kept_department=kept_department,
            kept_group=kept_group).items()}

    assert purge(runtime) == 1 + 2 + 2  # purged_ticket; loner, former_agent; gone group and department
    assert not exists(runtime, User, ids["loner"]) and not exists(runtime, User, ids["former_agent"])
    assert count(runtime, GroupAgent, GroupAgent.user_id == ids["loner"]) == 0
    assert count(runtime, UserRole, UserRole.user_id == ids["loner"]) == 0
    assert exists(runtime, User, ids["customer"]) and exists(runtime, User, ids["recently"])
    assert not exists(runtime, Group, ids["gone_group"]) and not exists(runtime, Department, ids["gone_department"])
    assert exists(runtime, Group, ids["kept_group"]) and exists(runtime, Department, ids["kept_department"])


def test_a_run_is_bounded_and_the_oldest_deletions_go_first(runtime, monkeypatch):
    monkeypatch.setattr(auto_purge, "BATCH", 2)
    monkeypatch.setattr(auto_purge, "MAX_PER_RUN", 5)
    with runtime.db.transaction() as session:
        tickets = [rows.ticket(session, deleted_at=DUE - dt.timedelta(days=n)) for n in range(7)]
        oldest_first = [t.id for t in reversed(tickets)]
    assert purge(runtime) == 5
    with runtime.db.transaction(writes=False) as session:
        assert sorted(session.scalars(select(Ticket.id))) == sorted(oldest_first[5:])
    assert purge(runtime) == 2


def test_everything_a_purged_ticket_takes_along_can_go(runtime):
    """Rows deleted with a ticket (ON DELETE CASCADE) must not be referred to
    by keys that would refuse the delete: a table added later with such a
    key would make every purge fail."""
    tables = Base.metadata.tables
    taken_along, todo = set(), ["tickets"]
    while todo:
        name = todo.pop()
        for table in Base.metadata.sorted_tables:
            for key in table.foreign_keys:
                if key.column.table.name != name:
                    continue
                action = (key.ondelete or "").upper()
                assert action in ("CASCADE", "SET NULL"), "%s.%s refers to %s without ON DELETE" % (
                    table.name, key.parent.name, name)
                if action == "CASCADE" and table.name not in taken_along:
                    taken_along.add(table.name)
                    todo.append(table.name)
    assert {"ticket_messages", "ticket_attachments", "ticket_events", "ticket_links"} <= taken_along
    assert tables["tickets"] is not None


def test_the_clock_driven_thread_purges_once_the_90_days_are_over(runtime):
    definition = ThreadDefinition("Auto-Purge Deleted Items", 30 * 86400, "test", job=auto_purge.run)
    with_rows(runtime, definition)
    with runtime.db.transaction() as session:
        ticket_id = rows.ticket(session, deleted_at=EPOCH).id
    harness = Harness(runtime, definition)
    harness.runner.start()
    for _ in range(3):  # 30, 60 and 90 days after the deletion
        assert harness.advance(definition.interval) == RunOutcome.RAN
        assert exists(runtime, Ticket, ticket_id)
    assert harness.advance(definition.interval) == RunOutcome.RAN
    assert not exists(runtime, Ticket, ticket_id)


async def test_the_thread_purges_on_a_live_runtime(runtime):
    now = dt.datetime.now(dt.timezone.utc)
    with runtime.db.transaction() as session:
        due = rows.ticket(session, deleted_at=now - dt.timedelta(days=91)).id
        kept = rows.ticket(session, deleted_at=now - dt.timedelta(days=80)).id
    service = await started_workers(runtime, {"Auto-Purge Deleted Items": 0.2})
    try:
        await eventually(lambda: not exists(runtime, Ticket, due))
    finally:
        await service.stopService()
    assert exists(runtime, Ticket, kept)
