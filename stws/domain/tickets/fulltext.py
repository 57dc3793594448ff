"""The full-text index of tickets: subjects, messages and notes, kept up to
date incrementally by the Indexing thread, and the text test of
GetTicketsBySearch built on it.

Documents
---------
One document per item, numbered ``item id * 4 + kind`` (``doc_id``):

========  =====  ===========================================================
kind      code   content
========  =====  ===========================================================
ticket    1      the ticket's subject
message   2      the message's subject and plain-text body (the HTML body
                 turned into text when the message has no plain one)
note      3      the comment's text (HTML notes turned into text); notes of
                 a comment type not "included in search"
                 (``comment_types.include_in_search``) get no document
========  =====  ===========================================================

Only the first ``MAX_DOCUMENT_CHARS`` characters of an item are indexed.

Storage, per backend (created by migration 0005, not in the models):

- SQLite: the FTS5 table ``ticket_fts(ticket_id UNINDEXED, kind UNINDEXED,
  item_id UNINDEXED, content)`` with ``rowid = doc_id``, tokenizer
  ``unicode61 remove_diacritics 2`` (words are runs of letters and digits,
  matched without case and accents), in a database file of its own
  attached to every connection (stws.db.fulltext_store, migration 0021);
- PostgreSQL: the table ``ticket_search(id = doc_id, ticket_id, kind,
  item_id, document tsvector)`` with a GIN index on ``document``. The
  words are cut and folded here (``words``: letters and digits, lower
  case, accents removed) and stored with ``array_to_tsvector``, so both
  backends see the same words and the query needs no text-search
  configuration at all.

Keeping it up to date (``index_pending``)
-----------------------------------------
Rows of ``tickets``, ``ticket_messages`` and ``ticket_comments`` with
``is_indexed = false`` are due: new rows are (the column defaults to false),
``core.touch`` clears the flag of a ticket on every change (its subject
document is rebuilt: cheap, one short document), editing a note clears the
note's. A run reads the due rows of one table in id order, a batch at a
time, replaces their documents and sets the flag (``index_batch``), until
``max_documents`` are done. On PostgreSQL that is one short transaction
per batch (``BATCH``), the rows locked ``FOR UPDATE SKIP LOCKED`` so that an
edit committed during the batch is not marked as indexed with its old
text. On SQLite the documents are written in a transaction of the index
file, and then the rows still as they were read are marked, in a
transaction of the tickets' file: the index's merges never hold the
tickets' writer lock. A batch's ids travel as one parameter and its
documents in one statement: per-row parameter handling in SQLAlchemy cost
as much as the indexing. After working off a backlog, PostgreSQL's statistics of the table
are refreshed (``ANALYZE_AFTER_ROWS``). bench/indexing.py measures it all.

Rows deleted for good (the 90-day purge, cascades from a purged ticket)
leave their document id in ``fulltext_removals``, written by ``AFTER
DELETE`` triggers of the three tables (migration 0005); a run first deletes
those documents, a batch at a time. Soft-deleted tickets keep their
documents: a manager's search with ``IsDeleted=true`` finds them by text
too, and everyone else's search excludes them with the other criteria.

Searching (``text_condition``)
------------------------------
The text is split at white space into terms; a ticket matches when one of
its documents contains every term, each as a word or the start of a word
(``print`` finds "Printer"), without regard to case or accents. On SQLite a
term that holds punctuation is a phrase of its words ("example.com" finds
"example.com" and "example com", not "com example"); on PostgreSQL it is
just its words. Terms are always quoted: no user text is ever read as query
syntax (``"OR``, ``NEAR(``, ``-x``, ``a:*`` are words like any other). A text
with no letter or digit in it matches no ticket.

Not yet indexed (the lag of at most one run, usually seconds): a row whose
flag is still false also matches when each run of letters and digits of the
text is a substring of its text (LIKE: case-insensitive for ASCII letters
on SQLite; accents are not folded), so a ticket, message or note is found
from the moment it is committed. Until its run, a changed row matches by its
old indexed text as well as by its new text. The substring fallback only
reads the few unindexed rows, through the indexes on ``is_indexed``
(``unindexed_ids``); during a large backlog (after an upgrade or an import)
searches are slower until the thread has caught up.

Who sees what: agents search subjects, messages and notes; customers only
subjects and messages that are not drafts.

Who drives (``plan_text``): a search first counts the matching documents,
up to ``MANY_DOCUMENTS`` (the index yields them one at a time, so this
costs 0.1-0.5 ms). Fewer: the index drives, ``matching_ids``: every
matching document is read, mapped to its ticket, and the condition is one
``tickets.id IN (...)`` beside the other criteria (a rare word: under a
millisecond). As many or more: the list drives, ``ticket_matches``: the
tickets the other criteria select are walked in the list's own order (its
index, as without Text) and each one's documents tested, until the page
is full, so a word in one ticket of six fills a page of 20 after about 120
tickets, however many match elsewhere (reading every match first cost
0.35-0.7 s at 1,000,000 tickets). PostgreSQL tests a ticket's documents
where they lie; SQLite tests the list's tickets a chunk at a time, reading
the index only within the ranges of document ids the chunk's documents
cover (``CandidateTest``). A text common in the index but rare in
the list (a word found often, searched within one address or group) is
bounded: the walk stops after a number of candidates
(``search.CANDIDATES_PER_ROW``) and the index drives after all. Both
shapes find the same tickets in the same order (tests/workers/test_indexing.py
runs the searching tests with each).
"""
from __future__ import annotations

import functools
import json
import logging
import re
import sqlite3
import time
import unicodedata
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger, Column, Integer, MetaData, SmallInteger, Table, Text, and_, any_, bindparam, cast, delete, exists,
    false, func, literal, literal_column, or_, select, union_all, update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql

from stws.db import fulltext_store
from stws.db.models import CommentType, FulltextRemoval, Ticket, TicketComment, TicketMessage
from stws.db.prepared import PreparedQuery

log = logging.getLogger("stws.threads")

KIND_TICKET, KIND_MESSAGE, KIND_NOTE = 1, 2, 3
KINDS = 4  # doc_id = item id * KINDS + kind

MAX_DOCUMENT_CHARS = 100_000
# Longer "words" (base64 blobs, hashes, long URLs cut at punctuation) are not indexed on PostgreSQL.
MAX_WORD_CHARS = 100
BATCH = 1_000  # documents per transaction
MAX_DOCUMENTS_PER_RUN = 20_000

_meta = MetaData()
# SQLite: the FTS5 virtual table (rowid = doc_id).
fts_table = Table(
    "ticket_fts", _meta,
    Column("rowid", BigInteger), Column("ticket_id", Integer), Column("kind", SmallInteger),
    Column("item_id", BigInteger), Column("content", Text),
)
# PostgreSQL: one row per document with its words as a tsvector.
search_table = Table(
    "ticket_search", _meta,
    Column("id", BigInteger, primary_key=True), Column("ticket_id", Integer), Column("kind", SmallInteger),
    Column("item_id", BigInteger), Column("document", postgresql.TSVECTOR),
)



def doc_id(kind: int, item_id: int) -> int:
    return item_id * KINDS + kind


def _is_sqlite(session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


# --------------------------------------------------------------- words


def fold(text: str) -> str:
    """Lower case without accents: "Crème Brûlée" -> "creme brulee"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The words of ``text`` as PostgreSQL's documents hold them: folded runs of letters and digits."""
    return _WORD.findall(fold(text))


def terms(text: str | None) -> list[str]:
    """The search terms of ``text``: its white-space separated parts holding a letter or digit."""
    return [part for part in (text or "").split() if _WORD.search(part)]


def fts5_query(text: str | None) -> str | None:
    """An FTS5 query: every term as a quoted prefix phrase, all required; None if no term."""
    quoted = ['"%s"*' % term.replace('"', '""') for term in terms(text)]
    return " ".join(quoted) or None


def tsquery(text: str | None) -> str | None:
    """A tsquery (cast, not parsed by a configuration): every word a required prefix; None if none."""
    return " & ".join(_prefix_lexemes(text)) or None


def _prefix_lexemes(text: str | None) -> list[str]:
    """The words of ``text`` as tsquery prefix lexemes, each once, in order."""
    lexemes = []
    for term in terms(text):
        for word in words(term):
            if word not in lexemes:
                lexemes.append(word)
    # Words hold letters and digits only; quoting is belt and braces.
    return ["'%s':*" % w.replace("\\", "\\\\").replace("'", "''") for w in lexemes]


# --------------------------------------------------------------- documents


def _html_to_text(markup: str) -> str:
    from stws.domain.tickets.core import html_to_text

    return html_to_text(markup)


def _cut(text: str) -> str:
    return text[:MAX_DOCUMENT_CHARS]


# The index of each table's rows not indexed yet (partial ones hold just those rows).
_UNINDEXED_INDEX = {
    "tickets": "ix_tickets_unindexed",
    "ticket_messages": "ix_ticket_messages_unindexed",
    "ticket_comments": "ix_ticket_comments_unindexed",
}


def unindexed_ids(sqlite: bool, model):
    """SELECT id of the rows of ``model``'s table not indexed yet, through its
    index on is_indexed. Forced on SQLite (INDEXED BY): its planner trusts
    statistics, and statistics taken while most rows were unindexed (after
    an import, an upgrade) make it scan the whole table for every search and
    every batch instead (60 ms per query at 100,000 messages)."""
    name = model.__tablename__
    source = "%s INDEXED BY %s" % (name, _UNINDEXED_INDEX[name]) if sqlite else name
    return select(literal_column("id")).select_from(sql_text(source)).where(literal_column("is_indexed") == false())


@dataclass
class _Source:
    """One table whose rows become documents."""

    kind: int
    model: type

    def due(self, session, limit: int):
        """The ids and contents of up to ``limit`` rows not indexed yet, oldest first."""
        batch = unindexed_ids(_is_sqlite(session), self.model).order_by(literal_column("id")).limit(limit)
        # PostgreSQL: lock the batch; rows being changed right now wait for the next run.
        return session.execute(self._rows(self.model.id.in_(batch)).with_for_update(of=self.model, skip_locked=True)
                               ).all()

    def rows(self, session, ids: list[int]):
        """The ids and contents of the rows ``ids`` as they are now."""
        return session.execute(self._rows(_among(session, self.model.id, ids))).all()

    def _rows(self, which):
        model = self.model
        if self.kind == KIND_TICKET:
            columns = (Ticket.id, Ticket.id, Ticket.subject)
        elif self.kind == KIND_MESSAGE:
            columns = (TicketMessage.id, TicketMessage.ticket_id, TicketMessage.subject, TicketMessage.body_text,
                       TicketMessage.body_html)
        else:
            columns = (TicketComment.id, TicketComment.ticket_id, TicketComment.text, TicketComment.is_html,
                       CommentType.include_in_search)
        query = select(*columns).where(which).order_by(model.id)
        if self.kind == KIND_NOTE:
            query = query.join(CommentType, CommentType.id == TicketComment.comment_type_id)
        return query

    def content(self, row) -> str | None:
        """The document's text, or None for an item that gets no document."""
        if self.kind == KIND_TICKET:
            return _cut(row[2] or "")
        if self.kind == KIND_MESSAGE:
            body = row[3] or (_html_to_text(row[4]) if row[4] else "")
            return _cut("%s\n%s" % (row[2] or "", body))
        if not row[4]:  # the comment type is not included in search
            return None
        return _cut(_html_to_text(row[2]) if row[3] else row[2] or "")


SOURCES = (_Source(KIND_TICKET, Ticket), _Source(KIND_MESSAGE, TicketMessage), _Source(KIND_NOTE, TicketComment))


_removals = FulltextRemoval.__table__


def _among(session, column, values: list[int]):
    """``column IN values`` with the values as one parameter (a JSON array on
    SQLite, an array on PostgreSQL): a batch's thousand ids as separate
    parameters cost more to compile than the statement costs to run."""
    if _is_sqlite(session):
        return column.in_(select(literal_column("value")).select_from(func.json_each(json.dumps(values))))
    return column == any_(bindparam(None, values, type_=postgresql.ARRAY(BigInteger)))


def _replace_documents(index, doc_ids: list[int], documents: list[tuple[int, int, int, str]]) -> None:
    """SQLite: delete the documents ``doc_ids`` from the index file and add
    ``documents`` ((kind, item id, ticket id, text)), on the index writer's
    connection (stws.db.fulltext_store), in one executemany: SQLAlchemy's
    per-row parameter handling would cost as much as the indexing itself."""
    if doc_ids:
        index.execute("DELETE FROM ticket_fts WHERE rowid IN (SELECT value FROM json_each(?))",
                      (json.dumps(doc_ids),))
    rows = [(doc_id(kind, item), ticket, kind, item, text) for kind, item, ticket, text in documents if text.strip()]
    if rows:
        index.executemany("INSERT INTO ticket_fts (rowid, ticket_id, kind, item_id, content) VALUES (?, ?, ?, ?, ?)",
                          rows)


def _replace_rows(session, doc_ids: list[int], documents: list[tuple[int, int, int, str]]) -> None:
    """PostgreSQL: as ``_replace_documents``, in ``ticket_search`` in the session's transaction."""
    if doc_ids:
        session.execute(delete(search_table).where(_among(session, search_table.c.id, doc_ids)))
    rows = []
    for kind, item, ticket, text in documents:
        lexemes = sorted({w for w in words(text) if len(w) <= MAX_WORD_CHARS})
        if lexemes:
            # Words hold no white space: a document's words travel as one string.
            rows.append((doc_id(kind, item), ticket, kind, item, " ".join(lexemes)))
    if rows:
        # One statement for the batch: the columns as arrays, unnested on the server.
        session.connection().exec_driver_sql(
            "INSERT INTO ticket_search (id, ticket_id, kind, item_id, document) "
            "SELECT id, ticket_id, kind, item_id, array_to_tsvector(string_to_array(words, ' ')) "
            "FROM unnest(%s::bigint[], %s::integer[], %s::smallint[], %s::bigint[], %s::text[]) "
            "AS batch (id, ticket_id, kind, item_id, words)",
            tuple(list(column) for column in zip(*rows)))


def _documents(source: _Source, rows) -> list[tuple[int, int, int, str]]:
    documents = []
    for row in rows:
        text = source.content(row)
        if text is not None:
            documents.append((source.kind, row[0], row[1], text))
    return documents


def _dequeue_removals(session, doc_ids: list[int]) -> None:
    session.execute(delete(_removals).where(_among(session, _removals.c.doc_id, doc_ids)))


def _mark_indexed(session, source: _Source, ids: list[int]) -> None:
    # A removal queued for an id SQLite once gave to a new row is void: the row is indexed now.
    _dequeue_removals(session, [doc_id(source.kind, item) for item in ids])
    table = source.model.__table__
    session.execute(update(table).where(_among(session, table.c.id, ids)).values(is_indexed=True))


def index_batch(db, source: _Source, limit: int) -> int:
    """(Re)index up to ``limit`` due rows of ``source``; returns how many.

    PostgreSQL: in one transaction, the rows locked. SQLite: the rows are
    read, their documents written in a transaction of the index file, and
    only then, in a transaction of the tickets' file, the rows marked
    indexed: those that are still as they were read (a row changed or
    deleted meanwhile stays due, or its removal queued)."""
    if not db.is_sqlite:
        with db.transaction() as session:
            rows = source.due(session, limit)
            ids = [row[0] for row in rows]
            _replace_rows(session, [doc_id(source.kind, item) for item in ids], _documents(source, rows))
            if ids:
                _mark_indexed(session, source, ids)
            return len(rows)
    with db.transaction(writes=False) as session:
        rows = source.due(session, limit)
    if not rows:
        return 0
    read = {row[0]: tuple(row) for row in rows}
    with db.fulltext_index.transaction() as index:
        _replace_documents(index, [doc_id(source.kind, item) for item in read], _documents(source, rows))
    with db.transaction() as session:
        unchanged = [row[0] for row in source.rows(session, list(read)) if tuple(row) == read[row[0]]]
        if unchanged:
            _mark_indexed(session, source, unchanged)
    return len(rows)


def remove_batch(db, limit: int) -> int:
    """Delete up to ``limit`` documents of deleted rows; returns how many were queued."""
    queued = select(FulltextRemoval.doc_id).order_by(FulltextRemoval.doc_id).limit(limit)
    if not db.is_sqlite:
        with db.transaction() as session:
            doc_ids = list(session.scalars(queued.with_for_update(skip_locked=True)))
            if doc_ids:
                _replace_rows(session, doc_ids, [])
                _dequeue_removals(session, doc_ids)
            return len(doc_ids)
    with db.transaction(writes=False) as session:
        doc_ids = list(session.scalars(queued))
    if doc_ids:
        # Ids are never handed out twice (migration 0012): no new row can take a document id meanwhile.
        with db.fulltext_index.transaction() as index:
            _replace_documents(index, doc_ids, [])
        with db.transaction() as session:
            _dequeue_removals(session, doc_ids)
    return len(doc_ids)


@dataclass
class Progress:
    indexed: int = 0
    removed: int = 0
    seconds: float = 0.0

    @property
    def documents(self) -> int:
        return self.indexed + self.removed


def index_pending(db, max_documents: int = MAX_DOCUMENTS_PER_RUN, batch: int = BATCH) -> Progress:
    """Remove the documents of deleted rows, then index due rows, ``batch`` per
    transaction, until none is due or ``max_documents`` were done."""
    started = time.monotonic()
    progress = Progress()
    budget = max_documents
    while budget > 0:
        limit = min(batch, budget)
        done = remove_batch(db, limit)
        progress.removed += done
        budget -= done
        if done < limit:
            break
    for source in SOURCES:
        table = source.model.__tablename__
        while budget > 0:
            limit = min(batch, budget)
            done = index_batch(db, source, limit)
            progress.indexed += done
            budget -= done
            _indexed_since_analyze[table] = _indexed_since_analyze.get(table, 0) + done
            if done < limit:
                if not db.is_sqlite and _indexed_since_analyze[table] >= ANALYZE_AFTER_ROWS:
                    _analyze(db, table)
                break
    progress.seconds = time.monotonic() - started
    return progress


# PostgreSQL plans the substring fallback from its statistics of is_indexed.
# Taken during a backlog (autovacuum analyzes after 10 % of a table changed),
# they claim most rows are unindexed long after the backlog is gone, and every
# Text search then reads the whole table by substring (40 times slower at
# 100,000 tickets). So once a backlog of this many rows is worked off, the
# job refreshes that table's statistics itself. (SQLite is told which index
# to use: ``unindexed_ids``.)
ANALYZE_AFTER_ROWS = MAX_DOCUMENTS_PER_RUN
_indexed_since_analyze: dict[str, int] = {}


def _analyze(db, table: str) -> None:
    started = time.monotonic()
    with db.transaction() as session:
        session.execute(sql_text("ANALYZE %s" % table))
    _indexed_since_analyze[table] = 0
    log.info("Indexing: backlog of %s worked off; statistics refreshed in %.2f s", table,
             time.monotonic() - started)


def pending_count(session) -> int:
    """Rows waiting to be indexed or removed (for status and tests)."""
    total = session.scalar(select(func.count()).select_from(FulltextRemoval))
    for source in SOURCES:
        total += session.scalar(select(func.count()).select_from(source.model)
                                .where(source.model.is_indexed == false()))
    return total


# --------------------------------------------------------------- searching


def _like_all(column, parts: int):
    """Every part (bind parameters ``text_part_<i>``, ``%part%`` patterns from
    ``text_parameters``) is a substring of ``column`` (case-insensitive). Parts
    are runs of letters and digits: they hold no LIKE wildcard to escape."""
    return and_(*(column.ilike(bindparam("text_part_%d" % i, type_=Text)) for i in range(parts)))


# SQLite: a matching document's ticket, from its rowid (``doc_id``) rather than
# from its UNINDEXED ticket_id column, which FTS5 reads with one lookup in its
# content table per match (statement and all): a subject's ticket is its
# rowid / KINDS, a message's or a note's one primary-key lookup. A document
# whose item was purged (its removal not run yet) gets NULL, no ticket.
_FTS_DOC = "ticket_fts.rowid"
_FTS_KIND = literal_column("%s %% %d" % (_FTS_DOC, KINDS))
_FTS_ITEM = literal_column("%s / %d" % (_FTS_DOC, KINDS))
_FTS_TICKET = literal_column(
    "CASE {kind} WHEN {ticket} THEN {item} "
    "WHEN {message} THEN (SELECT ticket_id FROM ticket_messages WHERE ticket_messages.id = {item}) "
    "WHEN {note} THEN (SELECT ticket_id FROM ticket_comments WHERE ticket_comments.id = {item}) END".format(
        kind=_FTS_KIND, item=_FTS_ITEM, ticket=KIND_TICKET, message=KIND_MESSAGE, note=KIND_NOTE))


def text_form(text: str | None) -> int | None:
    """What of ``text`` shapes the SQL of its search: how many runs of letters
    and digits the substring fallback looks for; None when ``text`` has no
    term (it matches nothing)."""
    if not terms(text):
        return None
    return len(_WORD.findall(text))


def text_parameters(dialect_name: str, text: str) -> dict:
    """The bind values of ``matching_ids(dialect_name, text_form(text), ...)``."""
    values = {"text_query": fts5_query(text) if dialect_name == "sqlite" else tsquery(text)}
    # The fallback looks for each run of letters and digits as it was typed (no accent folding).
    values.update(("text_part_%d" % i, "%" + part + "%") for i, part in enumerate(_WORD.findall(text)))
    return values


def _fts_match():
    """SQLite: the WHERE clause of the documents matching the bind parameter ``text_query``."""
    return literal_column("ticket_fts").match(bindparam("text_query", type_=Text))


def _tsquery_match():
    """PostgreSQL: the WHERE clause of the documents matching the bind parameter ``text_query``."""
    return search_table.c.document.op("@@")(cast(bindparam("text_query", type_=Text), postgresql.TSQUERY))


def matching_ids(dialect_name: str, parts: int, include_notes: bool):
    """A SELECT of the ids of tickets whose documents match a text of ``parts``
    substring parts (``text_form``; see the module docstring), its words and
    parts bind parameters (``text_parameters``): built once per shape, so a
    search with text can be prepared like any other (composing and compiling
    this union cost several milliseconds per call). The index drives: every
    matching document is read (``ticket_matches`` is the other way round)."""
    sqlite = dialect_name == "sqlite"
    if sqlite:
        indexed = select(_FTS_TICKET).select_from(fts_table).where(_fts_match())
        kind, item = _FTS_KIND, _FTS_ITEM
    else:
        index = search_table
        indexed = select(index.c.ticket_id).where(_tsquery_match())
        kind, item = index.c.kind, index.c.item_id
    if not include_notes:
        draft = exists(select(TicketMessage.id).where(TicketMessage.id == item, TicketMessage.is_draft.is_(True)))
        indexed = indexed.where(kind != KIND_NOTE, ~((kind == KIND_MESSAGE) & draft))
    return union_all(indexed, *_unindexed_branches(sqlite, parts, include_notes))


def _unindexed_branches(sqlite: bool, parts: int, include_notes: bool) -> list:
    """SELECTs of the ids of tickets whose rows not indexed yet hold every
    substring part, by substring; each served by its partial index on
    is_indexed (a few rows, read once per search whoever drives)."""
    unindexed_tickets = Ticket.__table__.alias("unindexed_tickets")
    branches = [
        select(unindexed_tickets.c.id).where(unindexed_tickets.c.id.in_(unindexed_ids(sqlite, Ticket)),
                                             _like_all(unindexed_tickets.c.subject, parts)),
    ]
    messages = select(TicketMessage.ticket_id).where(
        TicketMessage.id.in_(unindexed_ids(sqlite, TicketMessage)),
        _like_all(TicketMessage.subject + literal("\n") + TicketMessage.body_text, parts))
    if not include_notes:
        messages = messages.where(TicketMessage.is_draft.is_(False))
    branches.append(messages)
    if include_notes:
        branches.append(
            select(TicketComment.ticket_id)
            .join(CommentType, CommentType.id == TicketComment.comment_type_id)
            .where(TicketComment.id.in_(unindexed_ids(sqlite, TicketComment)),
                   CommentType.include_in_search.is_(True), _like_all(TicketComment.text, parts)))
    return branches


def ticket_matches(parts: int, include_notes: bool, ticket_id):
    """PostgreSQL: a WHERE clause: the ticket whose id is ``ticket_id`` (a
    column of the list being walked) has a document matching
    ``text_query`` or a row not indexed yet holding the ``parts``
    (``_unindexed_branches``). The list drives: a candidate's own documents
    (its subject's document id, its messages' and notes' through their
    ticket_id indexes) are tested where they lie (``ticket_search`` by
    primary key), however many documents match elsewhere. (SQLite tests
    the candidates a chunk at a time instead: ``CandidateTest``.)

    Customers' exclusions as in ``matching_ids``: no notes, no drafts."""
    unindexed = ticket_id.in_(union_all(*_unindexed_branches(False, parts, include_notes)))
    messages = select(TicketMessage.id).where(TicketMessage.ticket_id == ticket_id)
    if not include_notes:
        messages = messages.where(TicketMessage.is_draft.is_(False))
    notes = select(TicketComment.id).where(TicketComment.ticket_id == ticket_id) if include_notes else None
    index = search_table

    def matched(item_id, kind):
        # tickets.id is an integer, its document id (x 4) a bigint.
        return (index.c.id == cast(item_id, BigInteger) * KINDS + kind) & _tsquery_match()

    # One EXISTS over a UNION ALL: tested row by row, stopping at the first
    # match. (Separate EXISTS under an OR PostgreSQL turns into hashed
    # subplans: every match read once per search, the very cost avoided here.)
    tests = [select(literal(1)).select_from(index).where(matched(ticket_id, KIND_TICKET)),
             messages.with_only_columns(literal(1)).join_from(TicketMessage, index,
                                                              matched(TicketMessage.id, KIND_MESSAGE))]
    if notes is not None:
        tests.append(notes.with_only_columns(literal(1)).join_from(TicketComment, index,
                                                                   matched(TicketComment.id, KIND_NOTE)))
    return or_(exists(union_all(*tests)), unindexed)


# --------------------------------------------------------------- SQLite: testing candidates


@functools.lru_cache(maxsize=32)
def _unindexed_tickets(parts: int, include_notes: bool) -> PreparedQuery:
    """SQLite: the ids of tickets whose rows not indexed yet hold the ``parts`` (``_unindexed_branches``)."""
    return PreparedQuery(union_all(*_unindexed_branches(True, parts, include_notes)))


# Two documents of the candidates further apart than this (in document ids)
# are looked up in separate ranges of the index (``CandidateTest``). A range
# costs its setup (the words looked up in every segment: ~80 us at 1,000,000
# tickets) plus the matches inside it, which SQLite checks against the
# candidates' ids without handing them to Python (~0.2 us each); measured
# at 1,000,000 tickets, 4,096 to 262,144 cost about the same and the whole
# index as one range 20 times more.
_RANGE_GAP = 16_384

# The document ids of candidate tickets' messages and notes (customers: no notes, no drafts).
_CANDIDATE_DOCUMENTS = {
    include_notes: "SELECT id * {kinds} + {message}, ticket_id FROM ticket_messages "
                   "WHERE ticket_id IN (SELECT value FROM json_each(?1)){drafts}{notes}".format(
                       kinds=KINDS, message=KIND_MESSAGE, drafts="" if include_notes else " AND is_draft = 0",
                       notes=" UNION ALL SELECT id * {kinds} + {note}, ticket_id FROM ticket_comments "
                             "WHERE ticket_id IN (SELECT value FROM json_each(?1))".format(kinds=KINDS, note=KIND_NOTE)
                       if include_notes else "")
    for include_notes in (True, False)}
# "+rowid": the IN is no constraint for FTS5 to look each id up by (the per-document cost
# again); SQLite tests each match of the range against it.
_MATCHES_IN_RANGE = ("SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH ? AND rowid BETWEEN ? AND ? "
                     "AND +rowid IN (SELECT value FROM json_each(?))")


class CandidateTest:
    """SQLite, when the list drives (``plan_text``): which of a chunk of the
    list's tickets have a document matching the text, asked a chunk at a time.

    FTS5 cannot test one document cheaply: a MATCH constrained to one rowid
    looks the words up in every segment of the index (~50-80 us per
    document at ten segments). Reading every matching document once per
    search (the IN of ``matching_ids``) costs what the word's frequency
    says: 75 ms for a word in 334,000 documents at 1,000,000 tickets. Here
    the chunk's documents (its subjects' ids, its messages' and notes'
    through their ticket_id indexes) are sorted and cut into ranges of
    close ids, and each range is read from the index with its rowid
    bounds: FTS5 seeks to the range and yields only the matches inside.
    A list's tickets of the same days have documents of neighbouring ids,
    so a chunk costs a few ranges, whatever the word's frequency.

    Rows not indexed yet hold the text by substring (``_unindexed_branches``),
    read once per search: they are few."""

    def __init__(self, connection, params: dict, parts: int, include_notes: bool):
        self._driver = connection.connection.dbapi_connection
        self._query = params["text_query"]
        self._include_notes = include_notes
        self._unindexed = {row[0] for row in _unindexed_tickets(parts, include_notes).all(connection, params)}

    def matching(self, ticket_ids: list[int]) -> set[int]:
        """The ids among ``ticket_ids`` whose documents match."""
        found = self._unindexed.intersection(ticket_ids)
        owner = {ticket_id * KINDS + KIND_TICKET: ticket_id for ticket_id in ticket_ids if ticket_id not in found}
        owner.update(self._driver.execute(_CANDIDATE_DOCUMENTS[self._include_notes], (json.dumps(ticket_ids),)))
        documents = sorted(document for document, ticket_id in owner.items() if ticket_id not in found)
        among = json.dumps(documents)
        for low, high in _ranges(documents):
            for (document,) in self._driver.execute(_MATCHES_IN_RANGE, (self._query, low, high, among)):
                found.add(owner[document])
        return found


def _ranges(documents: list[int]):
    """(low, high) ranges covering the sorted ``documents``, cut where two are more than ``_RANGE_GAP`` apart."""
    if not documents:
        return
    low = previous = documents[0]
    for document in documents[1:]:
        if document - previous > _RANGE_GAP:
            yield low, previous
            low = document
        previous = document
    yield low, previous


# --------------------------------------------------------------- who drives

# A text in fewer documents than this is searched from the index (every match
# read: ``matching_ids``, a few milliseconds at most); in this many or more,
# the list drives (``ticket_matches``). Counting stops here (``plan_text``).
MANY_DOCUMENTS = 5_000
# SQLite: a prefix of more words than this is left a prefix (``_spelled_out``).
MAX_SPELLED_WORDS = 8


@dataclass
class TextPlan:
    """How to search a text: ``list_drives`` (else the index does) and the
    bind values of the statement that shape needs (``text_parameters``,
    with an equivalent query of whole words on SQLite when it has one)."""

    list_drives: bool
    params: dict


# SQLite: how many documents match, counted up to ``cap``.
_count_documents = PreparedQuery(select(func.count().label("documents")).select_from(
    select(literal(1)).select_from(fts_table).where(_fts_match()).limit(bindparam("cap", type_=Integer)).subquery()))


def plan_text(connection, text: str) -> TextPlan:
    """Decide who drives the search of ``text`` (which has a term) as a
    planner would, from how many documents match it (``connection``: the
    call's Core connection):

    - SQLite: counted, up to ``MANY_DOCUMENTS`` (0.1-0.5 ms: FTS5 yields
      the matches of whole words one by one, and the count stops there);
    - PostgreSQL: the planner's own estimate for the least common of its
      words (EXPLAIN, from its statistics of ticket_search: ~0.2 ms a word;
      an upper bound of the documents holding them all).
      Counting costs more there: with a LIMIT the planner reads the table
      until it has found enough (10-70 ms for a common word), and its
      estimate for several words together assumes they are independent,
      which common phrases are not ("website down": 5,800 estimated,
      33,000 found)."""
    dialect_name = connection.dialect.name
    params = text_parameters(dialect_name, text)
    if dialect_name == "sqlite":
        spelled = _spelled_out(connection, text)
        if spelled is not None:
            params["text_query"] = spelled
        count = _count_documents.first(connection, {"text_query": params["text_query"], "cap": MANY_DOCUMENTS})[0]
    else:
        count = _estimated_documents(connection, text)
    return TextPlan(count >= MANY_DOCUMENTS, params)


def _estimated_documents(connection, text: str) -> int:
    """PostgreSQL: the planner's estimate of the documents holding the least common word of ``text``."""
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        estimates = []
        for lexeme in _prefix_lexemes(text):
            # The word or a word it starts: the planner estimates a prefix from its
            # most common words alone, which a small table's statistics barely hold.
            either = "%s | %s" % (lexeme, lexeme[:-2])
            # Never a prepared statement: a generic plan would estimate without the word.
            cursor.execute("EXPLAIN (FORMAT JSON) SELECT 1 FROM ticket_search WHERE document @@ %s::tsquery",
                           (either,), prepare=False)
            estimates.append(cursor.fetchone()[0][0]["Plan"]["Plan Rows"])
    finally:
        cursor.close()
    return min(estimates)


# SQLite: the words of the index, one row each (FTS5's fts5vocab, a virtual
# table of the connection's temp schema reading ticket_fts's own index in
# the attached index file).
_index_words = Table("ticket_fts_words", _meta, Column("term", Text), Column("doc", Integer), schema="temp")
_CREATE_INDEX_WORDS = ("CREATE VIRTUAL TABLE IF NOT EXISTS temp.ticket_fts_words "
                       "USING fts5vocab(%s, ticket_fts, row)" % fulltext_store.SCHEMA)
_longer_words = PreparedQuery(
    select(_index_words.c.term)
    .where(_index_words.c.term >= bindparam("low", type_=Text), _index_words.c.term < bindparam("high", type_=Text))
    .limit(bindparam("most", type_=Integer)))
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")


def _spelled_out(connection, text: str) -> str | None:
    """SQLite: ``fts5_query(text)`` with each prefix term replaced by the
    words of the index it stands for (``"web"*`` -> ``("web" OR "webcam"
    OR "website")``), which matches the same documents; None when a term is
    not plain ASCII letters and digits (FTS5's tokenizer then decides what
    its words are) or stands for more than ``MAX_SPELLED_WORDS`` words.

    Why: FTS5 answers a prefix query by first merging the doclists of all
    the words it stands for into one, whole (25 ms for "website" at
    1,000,000 tickets), and only then yields the first match; whole words it
    reads as it goes, so the count of ``plan_text`` stops early and the
    matches are read once. Looking the longer words up reads their
    doclists (fts5vocab counts them): cheap unless they are common too."""
    groups = []
    for term in terms(text):
        if not _ASCII_WORD.fullmatch(term):
            return None
        prefix = term.lower()
        # Every longer word: prefix + one more character or more ("\x01" sorts before them all).
        params = {"low": prefix + "\x01", "high": prefix + "\U0010ffff", "most": MAX_SPELLED_WORDS}
        try:
            longer = _longer_words.all(connection, params)
        except sqlite3.OperationalError as error:  # the connection's first search: no fts5vocab table yet
            if "ticket_fts_words" not in str(error):
                raise
            connection.connection.dbapi_connection.execute(_CREATE_INDEX_WORDS)
            longer = _longer_words.all(connection, params)
        if len(longer) >= MAX_SPELLED_WORDS:
            return None
        group = [prefix] + [row.term for row in longer]
        groups.append("(%s)" % " OR ".join('"%s"' % word for word in group))
    return " AND ".join(groups) or None


def matching_ticket_ids(session, text: str, include_notes: bool):
    """A SELECT of the ids of tickets whose documents match ``text`` (see the module docstring),
    or None when ``text`` has no term (it matches nothing)."""
    parts = text_form(text)
    if parts is None:
        return None
    dialect_name = session.get_bind().dialect.name
    return matching_ids(dialect_name, parts, include_notes).params(text_parameters(dialect_name, text))


def text_condition(session, text: str, include_notes: bool):
    """A WHERE clause over ``Ticket``: the tickets whose text matches (module docstring)."""
    ids = matching_ticket_ids(session, text, include_notes)
    return false() if ids is None else Ticket.id.in_(ids)


__all__ = [
    "BATCH", "KIND_MESSAGE", "KIND_NOTE", "KIND_TICKET", "MAX_DOCUMENTS_PER_RUN", "Progress", "doc_id",
    "fold", "fts5_query", "index_pending", "matching_ids", "matching_ticket_ids", "pending_count", "terms",
    "text_condition", "text_form", "text_parameters", "tsquery", "words",
]
