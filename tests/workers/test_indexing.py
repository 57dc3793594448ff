"""The Indexing thread and the full-text search built on its index: new
tickets, messages and notes, changed tickets, edited notes and deleted
tickets; words across subject, messages and notes with each caller's
visibility; query syntax in the user's words; bounded batches; the
substring fallback for rows not indexed yet; a live run."""
from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import os
import threading
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, delete, make_url, select, text, update
from twisted.internet import threads

from conftest import strings
from stws.db import fulltext_store
from stws.db.engine import Database
from stws.db.models import CommentType, FulltextRemoval, Ticket, TicketComment, TicketMessage, ThreadState
from stws.domain.tickets import conversation, core, fulltext, search
from stws.security import roles
from stws.security.principals import Principal
from stws.domain.context import Context
from stws.workers.framework import JobContext
from stws.workers.jobs import indexing
from stws.workers.registry import definitions
from workers import rows
from workers.live import eventually, started_workers
from workers.test_framework import runtime  # noqa: F401 (fixture)

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
INDEXING = next(d for d in definitions() if d.name == "Indexing")
TICKET, MESSAGE, NOTE = fulltext.KIND_TICKET, fulltext.KIND_MESSAGE, fulltext.KIND_NOTE


def run_job(runtime) -> int:
    return indexing.run(JobContext(runtime, INDEXING, NOW))


@dataclass
class Desk:
    """Group 1 with agent alice, group 2 with agent bob, customer cust; principals to search as."""

    admin: Principal
    alice: Principal
    bob: Principal
    cust: Principal
    other_customer: Principal
    group2: int


def _principal(user, *role_names) -> Principal:
    return Principal(user.id if hasattr(user, "id") else user, getattr(user, "username", "admin"),
                     roles.effective_roles(role_names))


@pytest.fixture
def desk(runtime) -> Desk:
    with runtime.db.transaction() as session:
        alice = rows.user(session, "alice", agent=True)
        bob = rows.user(session, "bob", agent=True)
        cust = rows.user(session, "cust")
        other = rows.user(session, "other")
        group2 = rows.group(session, "Level 2")
        rows.member(session, 1, alice.id)
        rows.member(session, group2.id, bob.id)
        return Desk(_principal(1, roles.ADMINISTRATOR), _principal(alice, roles.AGENT), _principal(bob, roles.AGENT),
                    _principal(cust), _principal(other), group2.id)


@pytest.fixture(params=["index-drives", "list-drives"])
def drives(request, monkeypatch) -> str:
    """Search every Text with one shape (``fulltext.plan_text`` chooses by
    the number of matches; these tests have a handful): from the index, or
    by walking the list and testing each ticket. Both must find the same."""
    monkeypatch.setattr(fulltext, "MANY_DOCUMENTS", 10 ** 9 if request.param == "index-drives" else 0)
    return request.param


_numbers = itertools.count(1)


def new_ticket(runtime, subject, body="", *, group_id=1, customer=None, draft_body=None,
               message_subject=None) -> int:
    """A ticket with its first message (and a draft reply if asked); returns its id."""
    with runtime.db.transaction() as session:
        ticket = Ticket(ticket_number="001-TEST-%06d" % next(_numbers), brand_id=1,
                        department_id=1, group_id=group_id, subject=subject, status_id=core.ACTIVE,
                        priority_id=2, customer_id=customer.user_id if customer else None)
        session.add(ticket)
        session.flush()
        session.add(TicketMessage(ticket_id=ticket.id, direction=core.INCOMING,
                                  subject=subject if message_subject is None else message_subject, body_text=body,
                                  is_first_message=True))
        if draft_body:
            session.add(TicketMessage(ticket_id=ticket.id, direction=core.OUTGOING, subject="Re: " + subject,
                                      body_text=draft_body, is_draft=True))
        return ticket.id


def as_caller(runtime, principal, work, writes=True):
    """``work(call)`` in one transaction as ``principal`` (the domain functions' own code paths)."""
    with runtime.db.transaction(writes=writes) as session:
        return work(Context.in_session(session, principal, runtime))


def found(runtime, principal, *criteria) -> set[int]:
    """Ids of the tickets GetTicketsBySearch's query finds for ``principal``."""
    page = as_caller(runtime, principal, lambda call: search.find_tickets(call, list(criteria)), writes=False)
    return {ticket.id for ticket in page.tickets}


def documents(runtime) -> set[tuple[int, int, int]]:
    """(ticket id, kind, item id) of every document in the index."""
    table = "ticket_fts" if runtime.db.is_sqlite else "ticket_search"
    with runtime.db.transaction(writes=False) as session:
        return {tuple(row) for row in session.execute(text("SELECT ticket_id, kind, item_id FROM %s" % table))}


def unindexed(runtime) -> dict[str, list[int]]:
    with runtime.db.transaction(writes=False) as session:
        return {model.__tablename__: sorted(session.scalars(select(model.id).where(model.is_indexed.is_(False))))
                for model in (Ticket, TicketMessage, TicketComment)}


def message_ids(runtime, ticket_id) -> list[int]:
    with runtime.db.transaction(writes=False) as session:
        return sorted(session.scalars(select(TicketMessage.id).where(TicketMessage.ticket_id == ticket_id)))


def add_note(runtime, principal, ticket_id, note_text, kind="General", is_html=False) -> int:
    def work(call):
        ticket = call.session.get(Ticket, ticket_id)
        return conversation.add_comment(call, ticket, kind, note_text, is_html).id
    return as_caller(runtime, principal, work)


# ---------------------------------------------------------------- keeping the index up to date


def test_new_ticket_message_and_note_are_indexed_once(runtime, desk):
    ticket_id = new_ticket(runtime, "Printer on fire", "Smoke everywhere")
    (message_id,) = message_ids(runtime, ticket_id)
    note_id = add_note(runtime, desk.alice, ticket_id, "Customer owes money")
    # The note's code path leaves its row (and the touched ticket) to the thread.
    assert unindexed(runtime) == {"tickets": [ticket_id], "ticket_messages": [message_id],
                                  "ticket_comments": [note_id]}

    assert run_job(runtime) == 3
    assert documents(runtime) == {(ticket_id, TICKET, ticket_id), (ticket_id, MESSAGE, message_id),
                                  (ticket_id, NOTE, note_id)}
    assert unindexed(runtime) == {"tickets": [], "ticket_messages": [], "ticket_comments": []}
    assert run_job(runtime) == 0
    assert found(runtime, desk.admin, "Text=printer") == found(runtime, desk.admin, "Text=smoke") == {ticket_id}
    assert found(runtime, desk.admin, "Text=owes money") == {ticket_id}


def test_a_changed_ticket_gets_its_subject_reindexed_alone(runtime, desk, drives):
    ticket_id = new_ticket(runtime, "Invoice question", "Where is my invoice?", message_subject="Hello")
    run_job(runtime)
    with runtime.db.transaction() as session:
        ticket = session.get(Ticket, ticket_id)
        ticket.subject = "Refund request"
        core.touch(ticket)
    # Until the run: the new subject by substring, the old one still from the index.
    assert found(runtime, desk.admin, "Text=refund") == {ticket_id}
    assert found(runtime, desk.admin, "Text=question") == {ticket_id}

    assert run_job(runtime) == 1  # the subject only; the message did not change
    assert found(runtime, desk.admin, "Text=refund") == {ticket_id}
    assert found(runtime, desk.admin, "Text=question") == set()
    assert found(runtime, desk.admin, "Text=invoice") == {ticket_id}  # the message body


def test_a_new_message_is_found_at_once_and_by_words_once_indexed(runtime, desk, drives):
    ticket_id = new_ticket(runtime, "Connection", "It drops")
    run_job(runtime)

    def reply(call):
        ticket = call.session.get(Ticket, ticket_id)
        return conversation.add_message(call, ticket, from_address="c@example.com", to_address=None,
                                        cc_address=None, subject=None, body="My modem blinks orange",
                                        is_html=False, to_customer=False, send_email=False).id
    message_id = as_caller(runtime, desk.admin, reply)
    assert message_id in unindexed(runtime)["ticket_messages"]
    # Not indexed yet: found by any substring (the lag fallback).
    assert found(runtime, desk.admin, "Text=modem") == {ticket_id}
    assert found(runtime, desk.admin, "Text=odem") == {ticket_id}

    assert run_job(runtime) == 2  # the message, and the ticket it touched
    assert (ticket_id, MESSAGE, message_id) in documents(runtime)
    # Indexed: words and word beginnings, in any order, any case.
    assert found(runtime, desk.admin, "Text=modem") == {ticket_id}
    assert found(runtime, desk.admin, "Text=ORANGE mod") == {ticket_id}
    assert found(runtime, desk.admin, "Text=odem") == set()


def test_an_edited_note_is_reindexed(runtime, desk):
    ticket_id = new_ticket(runtime, "Account", "Hello")
    note_id = add_note(runtime, desk.alice, ticket_id, "Customer owes money")
    run_job(runtime)
    assert found(runtime, desk.alice, "Text=owes") == {ticket_id}

    def edit(call):
        number = call.session.get(Ticket, ticket_id).ticket_number
        conversation.edit_comment(call, note_id, number, None, "Paid in full")
    as_caller(runtime, desk.alice, edit)
    assert note_id in unindexed(runtime)["ticket_comments"]

    assert run_job(runtime) == 2  # the note and its ticket
    assert found(runtime, desk.alice, "Text=owes") == set()
    assert found(runtime, desk.alice, "Text=paid full") == {ticket_id}


def test_deleted_tickets(runtime, desk, drives):
    kept = new_ticket(runtime, "Kept ticket", "Same words")
    gone = new_ticket(runtime, "Gone ticket", "Same words")
    note_id = add_note(runtime, desk.alice, gone, "Same words in a note")
    (gone_message,) = message_ids(runtime, gone)
    run_job(runtime)

    # Soft-deleted: out of every search but a manager's IsDeleted=true one, which finds it by text too.
    with runtime.db.transaction() as session:
        ticket = session.get(Ticket, gone)
        ticket.is_deleted, ticket.date_deleted_utc = True, NOW
        core.touch(ticket)
    run_job(runtime)
    assert found(runtime, desk.admin, "Text=same words") == {kept}
    assert found(runtime, desk.admin, "Text=same words", "IsDeleted=true") == {gone}

    # Purged: its documents (subject, message, note) leave the index at the next run.
    with runtime.db.transaction() as session:
        session.execute(delete(Ticket).where(Ticket.id == gone))
        queued = set(session.scalars(select(FulltextRemoval.doc_id)))
    assert queued == {fulltext.doc_id(TICKET, gone), fulltext.doc_id(MESSAGE, gone_message),
                      fulltext.doc_id(NOTE, note_id)}
    assert run_job(runtime) == 3
    assert {doc[0] for doc in documents(runtime)} == {kept}
    with runtime.db.transaction(writes=False) as session:
        assert session.scalars(select(FulltextRemoval)).all() == []
    assert found(runtime, desk.admin, "Text=same words", "IsDeleted=true") == set()


def test_a_reused_id_is_not_removed_with_the_deleted_row(runtime, desk):
    """SQLite may give a deleted row's id to the next row: the queued removal must not take the new document."""
    ticket_id = new_ticket(runtime, "Ticket", "Body")
    run_job(runtime)
    with runtime.db.transaction() as session:
        session.add(FulltextRemoval(doc_id=fulltext.doc_id(TICKET, ticket_id)))  # as if an older row had it
        session.execute(update(Ticket).where(Ticket.id == ticket_id).values(is_indexed=False))
    assert fulltext.index_batch(runtime.db, fulltext.SOURCES[0], 10) == 1
    run_job(runtime)
    assert (ticket_id, TICKET, ticket_id) in documents(runtime)


def test_runs_work_in_bounded_batches(runtime, desk):
    ids = [new_ticket(runtime, "Batch %d" % i) for i in range(4)]  # 4 tickets + 4 messages
    progress = fulltext.index_pending(runtime.db, max_documents=5, batch=2)
    assert (progress.indexed, progress.removed) == (5, 0)
    assert unindexed(runtime)["tickets"] == [] and len(unindexed(runtime)["ticket_messages"]) == 3
    progress = fulltext.index_pending(runtime.db, max_documents=5, batch=2)
    assert progress.indexed == 3
    assert len(documents(runtime)) == 8 and {doc[0] for doc in documents(runtime)} == set(ids)


def test_notes_of_a_type_left_out_of_search_get_no_document(runtime, desk):
    ticket_id = new_ticket(runtime, "Types", "Body")
    with runtime.db.transaction() as session:
        session.execute(update(CommentType).where(CommentType.english_name == "Sticky").values(include_in_search=False))
    add_note(runtime, desk.alice, ticket_id, "Stickyword here", kind="Sticky")
    general = add_note(runtime, desk.alice, ticket_id, "Generalword here")
    assert found(runtime, desk.alice, "Text=stickyword") == set()
    run_job(runtime)
    assert [doc for doc in documents(runtime) if doc[1] == NOTE] == [(ticket_id, NOTE, general)]
    assert unindexed(runtime)["ticket_comments"] == []
    assert found(runtime, desk.alice, "Text=stickyword") == set()
    assert found(runtime, desk.alice, "Text=generalword") == {ticket_id}


def test_html_is_indexed_as_its_text(runtime, desk):
    ticket_id = new_ticket(runtime, "Markup", "plain")
    add_note(runtime, desk.alice, ticket_id, "<p>Hello <b>wor</b>ld &amp; <span class='x'>caf&eacute;</span></p>",
             is_html=True)
    run_job(runtime)
    assert found(runtime, desk.alice, "Text=world") == {ticket_id}
    assert found(runtime, desk.alice, "Text=cafe") == {ticket_id}
    assert found(runtime, desk.alice, "Text=span") == found(runtime, desk.alice, "Text=class") == set()


# ---------------------------------------------------------------- searching


@pytest.mark.parametrize("indexed", [False, True], ids=["not-indexed-yet", "indexed"])
def test_words_across_subject_messages_and_notes_with_visibility(runtime, desk, drives, indexed):
    mine = new_ticket(runtime, "Printer jam", "Paper stuck in tray two", customer=desk.cust,
                      draft_body="Draftword reply not sent")
    add_note(runtime, desk.alice, mine, "Internal: customer owes money")
    theirs = new_ticket(runtime, "Printer toner", "Toner empty", group_id=desk.group2, customer=desk.other_customer)
    if indexed:
        run_job(runtime)
        assert unindexed(runtime)["tickets"] == []

    assert found(runtime, desk.admin, "Text=printer") == {mine, theirs}
    assert found(runtime, desk.admin, "Text=tray") == {mine}          # a message body
    assert found(runtime, desk.admin, "Text=owes money") == {mine}    # a note
    assert found(runtime, desk.admin, "Text=draftword") == {mine}     # agents see drafts
    # Agents: the tickets of their groups (and assigned to them) only.
    assert found(runtime, desk.alice, "Text=printer") == {mine}
    assert found(runtime, desk.bob, "Text=printer") == {theirs}
    assert found(runtime, desk.bob, "Text=owes") == set()
    assert found(runtime, desk.alice, "Text=owes") == {mine}
    # Customers: their own tickets, by subject and sent messages; never notes or drafts.
    assert found(runtime, desk.cust, "Text=printer") == {mine}
    assert found(runtime, desk.cust, "Text=stuck") == {mine}
    assert found(runtime, desk.cust, "Text=owes money") == set()
    assert found(runtime, desk.cust, "Text=draftword") == set()
    assert found(runtime, desk.other_customer, "Text=tray") == set()
    # With the other criteria, in the same query.
    assert found(runtime, desk.admin, "Text=printer", "GroupId=%d" % desk.group2) == {theirs}
    assert found(runtime, desk.admin, "Text=printer", "IsOpen=false") == set()


SUBJECT = "Quote \"OR\" NEAR(x) AND it's 100% a back\\slash col:umn {braces} caret^ Crème Brûlée"


@pytest.mark.parametrize("words, matches", [
    ('"OR', True),             # an FTS5 string opener and operator: a word here
    ("NEAR(", True),
    ("fire OR zzz", False),    # OR is a word to find, not an alternative: zzz is required
    ("quote NOT near", False),  # NOT too: "not" is not in the subject
    ("-quote", True),          # no exclusion operator
    ("col:umn", True),         # no column filter
    ("quo:*", True),           # no tsquery syntax
    ("it's", True),
    ("100%", True),
    ("back\\slash", True),
    ("{braces}", True),
    ("caret^", True),
    ("creme brulee", True),    # accents and case do not matter (once indexed)
    ("CRÈME", True),
    ("'", False),              # no letter or digit: no ticket
    ('"', False),
    ("%", False),
    ("* ( ) : ^", False),
    ("quote zzz", False),      # every word is required
])
@pytest.mark.parametrize("indexed", [False, True], ids=["not-indexed-yet", "indexed"])
def test_the_words_are_never_query_syntax(runtime, desk, words, matches, drives, indexed):
    ticket_id = new_ticket(runtime, SUBJECT, "body")
    new_ticket(runtime, "Unrelated", "fire")
    if indexed:
        run_job(runtime)
    elif words in ("creme brulee", "CRÈME"):
        pytest.skip("the substring fallback does not fold accents or non-ASCII case")
    assert found(runtime, desk.admin, "Text=" + words) == ({ticket_id} if matches else set())


def test_the_queries_cannot_be_broken_by_quotes():
    assert fulltext.fts5_query('a"b "c') == '"a""b"* """c"*'
    assert fulltext.fts5_query("% ' ()") is None
    assert fulltext.tsquery("It's Crème:*") == "'it':* & 's':* & 'creme':*"
    assert fulltext.tsquery("&|!<->") is None


def test_unindexed_rows_are_read_through_their_partial_indexes(runtime, desk):
    if not runtime.db.is_sqlite:
        pytest.skip("the SQLite query plan")
    new_ticket(runtime, "Plan", "Body")
    statement = as_caller(runtime, desk.alice, lambda call: search.search_statement(
        call, search.parse_criteria(call, ["Text=plan"])), writes=False)
    with runtime.db.transaction(writes=False) as session:
        sql = str(statement.compile(runtime.db.engine, compile_kwargs={"literal_binds": True}))
        plan = " ".join(row[3] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
    for index in ("ix_tickets_unindexed", "ix_ticket_messages_unindexed", "ix_ticket_comments_unindexed"):
        assert index in plan, plan
    assert "VIRTUAL TABLE INDEX" in plan and "ticket_fts" in plan, plan


def test_rows_locked_by_a_writer_wait_for_the_next_run(runtime, desk):
    """PostgreSQL: a ticket being changed right now (row locked) is skipped, not
    flagged indexed with the text it had before the change commits."""
    if runtime.db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: the batch holds the lock")
    busy = new_ticket(runtime, "Old subject", message_subject="Hi")
    other = new_ticket(runtime, "Other")
    engine = create_engine(runtime.db.url)
    try:
        with engine.connect() as writer:
            writer.execute(text("UPDATE tickets SET subject = 'New subject' WHERE id = :id"), {"id": busy})
            fulltext.index_pending(runtime.db)
            assert unindexed(runtime)["tickets"] == [busy]
            assert (other, TICKET, other) in documents(runtime)
            writer.commit()
    finally:
        engine.dispose()
    run_job(runtime)
    assert found(runtime, desk.admin, "Text=new subject") == {busy}
    assert found(runtime, desk.admin, "Text=old") == set()


# ---------------------------------------------------------------- SQLite: the index in a file of its own


def sqlite_only(runtime):
    if not runtime.db.is_sqlite:
        pytest.skip("SQLite keeps the index in a file of its own (stws.db.fulltext_store)")


def test_sqlite_rows_changed_or_deleted_while_their_documents_are_written(runtime, desk, monkeypatch):
    """SQLite writes a batch's documents in the index file and marks the rows
    in the tickets' file afterwards: a row changed in between stays due (its
    new text is indexed at the next run, its old text never counts), a row
    deleted in between has its document removed at the next run."""
    sqlite_only(runtime)
    changed = new_ticket(runtime, "Old subject", message_subject="Hi")
    purged = new_ticket(runtime, "Purged subject", message_subject="Hi")
    kept = new_ticket(runtime, "Kept subject", message_subject="Hi")
    writer = runtime.db.fulltext_index
    real_transaction = writer.transaction

    @contextlib.contextmanager
    def others_write_meanwhile():
        with real_transaction() as index:
            yield index
        with runtime.db.transaction() as session:  # after the documents, before the rows are marked
            session.execute(update(Ticket).where(Ticket.id == changed).values(subject="New subject"))
            session.execute(delete(Ticket).where(Ticket.id == purged))

    monkeypatch.setattr(writer, "transaction", others_write_meanwhile)
    assert fulltext.index_batch(runtime.db, fulltext.SOURCES[0], 10) == 3
    monkeypatch.undo()  # the next runs write as the thread does
    assert unindexed(runtime)["tickets"] == [changed]
    assert (kept, TICKET, kept) in documents(runtime)
    run_job(runtime)
    assert unindexed(runtime)["tickets"] == []
    assert found(runtime, desk.admin, "Text=new subject") == {changed}
    assert found(runtime, desk.admin, "Text=old") == set()
    assert not {doc for doc in documents(runtime) if doc[0] == purged}


def test_sqlite_index_writes_and_ticket_writes_do_not_wait_for_each_other(runtime, desk):
    """The index file is attached read-only to the pooled connections, so a
    ticket's writing transaction (BEGIN IMMEDIATE) does not take the index's
    writer lock, and FTS5's merges in the index never hold the tickets'."""
    sqlite_only(runtime)
    done = threading.Event()

    def create_a_ticket():
        new_ticket(runtime, "Written while the index is written")
        done.set()

    with runtime.db.fulltext_index.transaction() as index:
        index.execute("INSERT INTO ticket_fts (rowid, ticket_id, kind, item_id, content) VALUES (5, 1, 1, 1, 'x')")
        thread = threading.Thread(target=create_a_ticket)
        thread.start()
        finished = done.wait(10)
        index.execute("DELETE FROM ticket_fts WHERE rowid = 5")
    thread.join()
    assert finished, "a ticket's transaction waited for the index file's writer"
    with runtime.db.transaction() as session:  # the other way round
        session.execute(update(Ticket).where(Ticket.id == 1).values(subject="Held"))
        with runtime.db.fulltext_index.transaction() as index:
            index.execute("INSERT INTO ticket_fts (rowid, ticket_id, kind, item_id, content) VALUES (9, 2, 1, 2, 'y')")
    with runtime.db.transaction(writes=False) as session:
        assert session.execute(text("SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH 'y'")).scalars().all() == [9]


def test_sqlite_a_lost_index_file_is_made_again_and_everything_indexed_anew(runtime, desk, caplog):
    sqlite_only(runtime)
    ticket_id = new_ticket(runtime, "Lost and found", "Somewhere in the body")
    run_job(runtime)
    path = fulltext_store.index_path(make_url(runtime.db.url).database)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    caplog.set_level(logging.WARNING, "stws.system")
    again = Database(runtime.db.url, pool_size=2)  # as the next server start would
    try:
        assert "is indexed anew" in caplog.text
        with again.transaction(writes=False) as session:
            assert session.execute(text("SELECT count(*) FROM ticket_fts")).scalar() == 0
            assert session.scalar(select(Ticket.is_indexed).where(Ticket.id == ticket_id)) is False
        fulltext.index_pending(again)
        with again.transaction(writes=False) as session:
            matched = session.execute(text("SELECT ticket_id FROM ticket_fts WHERE ticket_fts MATCH 'somewhere'"))
            assert matched.scalars().all() == [ticket_id]
    finally:
        again.dispose()


# ---------------------------------------------------------------- who drives


def plan(runtime, words) -> fulltext.TextPlan:
    return as_caller(runtime, None, lambda call: fulltext.plan_text(call.connection, words), writes=False)


def page(runtime, principal, *criteria) -> tuple[list[int], int | None]:
    """The ids of one page of GetTicketsBySearch's query, in order, and the next page's Offset."""
    found_page = as_caller(runtime, principal, lambda call: search.find_tickets(call, list(criteria)), writes=False)
    return [ticket.id for ticket in found_page.tickets], found_page.next_offset


def set_columns(runtime, ticket_id, **values):
    with runtime.db.transaction() as session:
        session.execute(update(Ticket).where(Ticket.id == ticket_id).values(**values))


def test_the_list_drives_when_the_words_are_in_many_documents(runtime, desk, monkeypatch):
    monkeypatch.setattr(fulltext, "MANY_DOCUMENTS", 10)
    common = [new_ticket(runtime, "Website down %d" % i, "The website is down") for i in range(10)]
    rare = new_ticket(runtime, "Printer", "Paper jam, see the website")
    run_job(runtime)
    if not runtime.db.is_sqlite:  # the planner's estimates come from its statistics
        with runtime.db.transaction() as session:
            session.execute(text("ANALYZE ticket_search"))
    assert plan(runtime, "website").list_drives  # 21 documents
    if runtime.db.is_sqlite:  # PostgreSQL estimates a prefix from statistics a few rows barely fill
        assert plan(runtime, "web").list_drives  # a prefix of them
    assert plan(runtime, "website down").list_drives  # 20
    assert not plan(runtime, "printer").list_drives  # 2
    # SQLite counts 1 (both words in one document), PostgreSQL's least common word is in 1.
    assert not plan(runtime, "website paper").list_drives

    def statement(words):
        return as_caller(runtime, desk.admin, lambda call: str(search.search_statement(
            call, search.parse_criteria(call, ["Text=" + words]))), writes=False)
    assert "candidates" in statement("website") and "candidates" not in statement("printer")
    assert found(runtime, desk.admin, "Text=website") == set(common) | {rare}
    assert found(runtime, desk.admin, "Text=printer") == {rare}


SORTS = [[], ["SortBy=Subject", "SortOrder=Ascending"], ["SortBy=DateOpened"], ["SortBy=Priority"],
         ["SortBy=LastReplyDateUtc", "SortOrder=Ascending"]]


@pytest.mark.parametrize("sort", SORTS, ids=lambda sort: "-".join(sort) or "default")
def test_both_shapes_find_the_same_pages(runtime, desk, monkeypatch, sort):
    """Pages in every order, matches in subjects, messages and notes, tickets
    without a reply, customers' and deleted tickets left out: the same
    tickets in the same order whoever drives."""
    matching = []
    for i in range(12):
        where = ("subject", "message", "note")[i % 3]
        ticket_id = new_ticket(runtime, "Website %02d" % i if where == "subject" else "Other %02d" % i,
                               "the website again" if where == "message" else "nothing", customer=desk.cust)
        if where == "note":
            add_note(runtime, desk.alice, ticket_id, "Website checked")
        set_columns(runtime, ticket_id, priority_id=1 + i % 4,
                    last_reply_utc=None if i % 5 == 0 else NOW - dt.timedelta(hours=(i * 7) % 12))
        matching.append((ticket_id, where))
    for i in range(6):
        new_ticket(runtime, "Unrelated %d" % i, "words")
    set_columns(runtime, matching[0][0], is_deleted=True)
    run_job(runtime)

    def every_page(principal, size=5):
        ids, offset, pages = [], 0, []
        while offset is not None:
            found_ids, offset = page(runtime, principal, "Text=website", "MaxResults=%d" % size,
                                     "Offset=%d" % (offset or 0), *sort)
            pages.append(found_ids)
            ids += found_ids
        return ids, pages

    shapes = {}
    for shape, threshold in (("index", 10 ** 9), ("list", 0), ("list, small chunks and ranges", 0)):
        monkeypatch.setattr(fulltext, "MANY_DOCUMENTS", threshold)
        if shape.startswith("list, small"):
            # SQLite's walk: a few tickets per chunk, every document its own range of the index.
            monkeypatch.setattr(search, "_chunk_sizes", lambda wanted, found: iter([1, 2, 3]))
            monkeypatch.setattr(fulltext, "_RANGE_GAP", 0)
        shapes[shape] = {who: every_page(principal) for who, principal in
                         (("admin", desk.admin), ("alice", desk.alice), ("cust", desk.cust))}
    assert shapes["list"] == shapes["index"]
    assert shapes["list, small chunks and ranges"] == shapes["index"]
    admin_ids, admin_pages = shapes["list"]["admin"]
    assert sorted(admin_ids) == sorted(ticket_id for ticket_id, _ in matching[1:])
    assert [len(p) for p in admin_pages] == [5, 5, 1]
    # Customers: not by their notes.
    assert sorted(shapes["list"]["cust"][0]) == sorted(ticket_id for ticket_id, where in matching[1:]
                                                       if where != "note")


def test_a_walk_that_meets_too_few_matches_lets_the_index_drive(runtime, desk, monkeypatch):
    """A text common in the index but rare in the list being walked: the
    walk stops at its bound and the index drives; a short list is walked
    to its end instead."""
    monkeypatch.setattr(fulltext, "MANY_DOCUMENTS", 0)
    monkeypatch.setattr(search, "MIN_CANDIDATES", 3)
    monkeypatch.setattr(search, "CANDIDATES_PER_ROW", 1)
    oldest = new_ticket(runtime, "Website", "down")
    newer = [new_ticket(runtime, "Newer %d" % i, "nothing") for i in range(5)]
    in_group2 = new_ticket(runtime, "Website in group 2", "down", group_id=desk.group2)
    for hours, ticket_id in enumerate([oldest, *newer, in_group2]):
        set_columns(runtime, ticket_id, last_reply_utc=NOW + dt.timedelta(hours=hours))
    run_job(runtime)
    # 7 tickets, the newest 3 walked: only in_group2 matches there; the page wants 2 + 1.
    assert page(runtime, desk.admin, "Text=website", "MaxResults=2") == ([in_group2, oldest], None)
    assert page(runtime, desk.admin, "Text=website", "MaxResults=1") == ([in_group2], 1)
    assert page(runtime, desk.admin, "Text=website", "MaxResults=1", "Offset=1") == ([oldest], None)
    # Group 1's list: 6 tickets, the matching one last.
    assert page(runtime, desk.admin, "Text=website", "GroupId=1") == ([oldest], None)
    # Group 2's list is one ticket long: walked whole.
    assert page(runtime, desk.admin, "Text=website", "GroupId=%d" % desk.group2) == ([in_group2], None)


def test_sqlite_spells_a_prefix_out_as_the_words_of_the_index(runtime, desk, monkeypatch):
    """FTS5 merges a prefix's doclists whole before its first match; the same words spelled out it reads lazily."""
    if not runtime.db.is_sqlite:
        pytest.skip("PostgreSQL tests each candidate's tsvector with the prefix itself")
    ticket_id = new_ticket(runtime, "Web webcam website", "webinar down")
    new_ticket(runtime, "Websites", "we")
    run_job(runtime)
    assert plan(runtime, "WEB down").params["text_query"] == (
        '("web" OR "webcam" OR "webinar" OR "website" OR "websites") AND ("down")')
    assert plan(runtime, "websites").params["text_query"] == '("websites")'
    # Not plain ASCII words, or too many: left to FTS5's tokenizer and prefix search.
    assert plan(runtime, "wébsite").params["text_query"] == '"wébsite"*'
    assert plan(runtime, "web-cam").params["text_query"] == '"web-cam"*'
    monkeypatch.setattr(fulltext, "MAX_SPELLED_WORDS", 4)
    assert plan(runtime, "web").params["text_query"] == '"web"*'
    monkeypatch.setattr(fulltext, "MANY_DOCUMENTS", 0)
    assert found(runtime, desk.admin, "Text=webinar") == found(runtime, desk.admin, "Text=web do") == {ticket_id}


# ---------------------------------------------------------------- live


async def test_live_thread_indexes_what_soap_calls_write(make_config, start_server):
    server = await start_server.started(make_config())
    client = await server.client("svcTickets")
    admin = server.admin
    created = await client.CreateTicket(*admin, 1, 0, 0, "cust@example.com", "Scanner offline",
                                        "It shows error E42", False, False, False)
    assert created.Result, created.Message
    number = created.RequestResult
    assert (await client.AddTicketNote(*admin, number, "general", "Replaced the fuser")).Result
    service = await started_workers(server.runtime, {"Indexing": 0.2})
    try:
        await eventually(lambda: unindexed(server.runtime) == {"tickets": [], "ticket_messages": [],
                                                               "ticket_comments": []})

        async def search_numbers(words):
            result = await client.GetTicketsBySearch(*admin, strings("Text=" + words))
            assert result.Result, result.Message
            return [t.TicketNumber for t in (result.Tickets.TicketInfo if result.Tickets else [])]

        assert await search_numbers("scanner e42") == [number]
        assert await search_numbers("fuser") == [number]
        note_id = await threads.deferToThread(lambda: single_note_id(server.runtime))
        edited = await client.EditTicketNote(*admin, note_id, number, "general", "Cleaned the rollers")
        assert edited.Result, edited.Message
        await eventually(lambda: not unindexed(server.runtime)["ticket_comments"])
        await eventually(lambda: not unindexed(server.runtime)["tickets"])
        assert await search_numbers("fuser") == []
        assert await search_numbers("rollers") == [number]
    finally:
        await service.stopService()
    state = await threads.deferToThread(lambda: thread_state(server.runtime))
    assert state.total_runs >= 2 and state.last_error == ""


def single_note_id(runtime) -> int:
    with runtime.db.transaction(writes=False) as session:
        return session.scalars(select(TicketComment.id)).one()


def thread_state(runtime) -> ThreadState:
    with runtime.db.transaction(writes=False) as session:
        return session.get(ThreadState, "Indexing")


def test_postgresql_statistics_are_refreshed_after_a_backlog(runtime, desk, monkeypatch, caplog):
    """Statistics taken during a backlog would make every Text search read whole tables by substring."""
    if runtime.db.is_sqlite:
        pytest.skip("SQLite is told which index to use instead")
    monkeypatch.setattr(fulltext, "ANALYZE_AFTER_ROWS", 3)
    monkeypatch.setattr(fulltext, "_indexed_since_analyze", {})
    for i in range(3):
        new_ticket(runtime, "Backlog %d" % i)
    fulltext.index_pending(runtime.db, batch=2)
    assert "backlog of tickets worked off" in caplog.text
    assert "backlog of ticket_messages worked off" in caplog.text
    assert "ticket_comments" not in caplog.text  # nothing to work off there
    with runtime.db.transaction(writes=False) as session:
        analyzed = session.scalar(text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'tickets'"))
    assert analyzed is not None
