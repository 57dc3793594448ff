"""Statements that run on every call, executed on the driver connection.

SQLAlchemy's Core execution (cache key, execution context, parameter and
default processing, events, result metadata) costs several times what
SQLite takes to run an indexed single-row lookup or write. For the few
statements every SOAP call (or every new ticket) makes, these classes
compile the Core statement once per dialect and run the SQL on the DBAPI
connection under the call's SQLAlchemy connection, in its transaction
(which must be begun: ``Database.unit_of_work`` begins it on the driver,
a Session's ``connection()`` through SQLAlchemy), so a rollback loses
them with the rest:

- ``PreparedQuery``: a SELECT, its columns converted with the result
  processors SQLAlchemy would use (UTC datetimes, booleans on SQLite);
  ``all_shared`` converts each distinct driver row once for every call,
  ``driver_rows`` gives a query's rows unconverted.
- ``PreparedStatement``: an UPDATE or DELETE, and ``PreparedInsert``: an
  INSERT filling in the columns' Python-side defaults.

All convert their parameters with SQLAlchemy's bind processors, so they
bind and store exactly what SQLAlchemy would (tests/test_unit_of_work.py
compares the rows).

Not seen by query tracing (stws.tracing), which listens on
SQLAlchemy's cursor events: the short and full query logs do not show
these statements.
"""
from __future__ import annotations

import collections
import datetime as dt
import functools
import json
import operator
import typing

from sqlalchemy import Boolean, Date, DateTime, Integer, String, Time, bindparam, func, select
from sqlalchemy.types import NullType
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import BindParameter, ColumnElement
from sqlalchemy.orm import Session


class _Prepared:
    """A Core statement compiled once per dialect (``_binding``), its
    parameters converted with SQLAlchemy's bind processors."""

    def __init__(self, statement):
        self.statement = statement
        # Two threads preparing at once compute the same value: no lock.
        self._by_dialect: dict[str, _Binding] = {}

    def _binding(self, dialect) -> _Binding:
        binding = self._by_dialect.get(dialect.name)
        if binding is None:
            binding = self._by_dialect[dialect.name] = _binding(self.statement, dialect)
        return binding

    def _run(self, connection, values: dict, read):
        """Execute with ``values`` on the driver connection under
        ``connection``; returns the binding and ``read(cursor)``."""
        binding = self._binding(connection.dialect)
        return binding, _execute(connection, binding, values, read)


def _execute(connection, binding: _Binding, values: dict, read):
    """``binding``'s statement executed with ``values`` on the driver
    connection under ``connection``; returns ``read(cursor)``."""
    if binding.keeps_cursor:
        cursor = _kept_cursor(connection.connection)
        cursor.execute(binding.sql, binding.parameters(values))
        return read(cursor)
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(binding.sql, binding.parameters(values))
        return read(cursor)
    finally:
        cursor.close()


def _kept_cursor(pooled):
    """The cursor kept for the prepared statements of a psycopg connection
    (``pooled``: SQLAlchemy's pool entry of it). Making one per statement
    cost about a twentieth of a new ticket's CPU on PostgreSQL (psycopg
    copies its adapters map into every cursor). A client-side cursor holds
    the whole result once ``execute`` returns and the next ``execute``
    replaces it, so one cursor serves a connection's statements in turn.
    (Not on SQLite: a cursor left holding an unread row keeps its statement,
    and so its read snapshot, open.)"""
    driver = pooled.dbapi_connection
    kept = pooled.info.get("stws_cursor")
    if kept is None or kept.closed or kept.connection is not driver:
        kept = pooled.info["stws_cursor"] = driver.cursor()
    return kept


# Column types whose SQLite values JSON carries exactly (``all_shared``):
# integers, text, and booleans and dates stored as integers and text; not
# floats (json_array writes 15 significant digits) nor blobs.
_PACKABLE = (Integer, String, Boolean, DateTime, Date, Time)

_ONE_ROW = operator.methodcaller("fetchone")
_ALL_ROWS = operator.methodcaller("fetchall")
_ROWS_MATCHED = operator.attrgetter("rowcount")


class PreparedQuery(_Prepared):
    """A SELECT; rows are named tuples of its columns."""

    def __init__(self, statement):
        super().__init__(statement)
        self._row = collections.namedtuple("Row", [column.key for column in statement.selected_columns])
        self._packable = all(issubclass(column.type._type_affinity or NullType, _PACKABLE)
                             for column in statement.selected_columns)
        self._packed: dict[str, _Binding] = {}  # all_shared's statement on SQLite, per dialect

    def first(self, connection, params: dict):
        """The first row, or None; ``connection`` is a SQLAlchemy Connection
        (its DBAPI connection runs the query)."""
        binding, row = self._run(connection, params, _ONE_ROW)
        return None if row is None else self._converted(row, binding)

    def all(self, connection, params: dict) -> list:
        """Every row."""
        binding, rows = self._run(connection, params, _ALL_ROWS)
        return [self._converted(row, binding) for row in rows]

    def driver_rows(self, connection, params: dict) -> list:
        """Every row as the driver gives it (a plain tuple, not named), for
        a query none of whose columns needs converting (else ValueError):
        the ~1 us a row of a named tuple saved where the rows are only a
        key (``stws.shared_values``) or summed."""
        binding, rows = self._run(connection, params, _ALL_ROWS)
        if binding.converters:
            raise ValueError("%s has columns to convert; use all()" % self.statement)
        return rows

    def all_shared(self, connection, params: dict, shared) -> list:
        """Every row, as ``all`` gives it, but converted once per distinct
        driver row: ``shared`` (a stws.shared_values.SharedValues) keeps
        the converted row of each driver row (a tuple of plain values)
        read before, so equal rows read by any call are one object. A
        converted row is a function of the driver row alone, and immutable:
        sharing it changes no answer. For queries that read the same rows
        call after call (a search polled by an integration), where
        converting them (two datetimes a ticket: ~4.5 us a row on SQLite)
        cost about what reading them did.

        On SQLite, when every column is an integer, text, boolean or date
        and time (``_PACKABLE``), each row comes from the database as one
        JSON array (``json_array`` of the columns, the statement otherwise
        the same) and that text is the key: the driver makes one string a
        row instead of a Python value a column (a 20-column ticket row:
        ~0.1 ms less for 37 rows), and a row is decoded only the first
        time it is seen. The JSON text of such values is one-to-one with
        them, so equal texts are equal rows."""
        dialect = connection.dialect
        if dialect.name == "sqlite" and self._packable:
            binding = self._binding(dialect)
            packed = self._packed.get(dialect.name)
            if packed is None:
                packed = self._packed[dialect.name] = _binding(self._packed_statement(), dialect)
            unpack = functools.partial(self._unpacked, binding=binding)
            return [shared.get(row[0], unpack) for row in _execute(connection, packed, params, _ALL_ROWS)]
        binding, rows = self._run(connection, params, _ALL_ROWS)
        convert = functools.partial(self._converted, binding=binding)
        return [shared.get(row, convert) for row in rows]

    def _packed_statement(self):
        return self.statement.with_only_columns(func.json_array(*self.statement.selected_columns),
                                                maintain_column_froms=True)

    def _unpacked(self, text: str, binding):
        return self._converted(json.loads(text), binding)

    def chunks(self, connection, params: dict, sizes):
        """The rows in lists of the successive ``sizes`` (an iterable of
        ints; the last one is repeated), read from the driver as they are
        asked for: a caller that stops early leaves the rest unread (SQLite
        steps the statement no further). Other statements may run on the
        connection between two chunks."""
        binding = self._binding(connection.dialect)
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(binding.sql, binding.parameters(values=params))
            size = None
            sizes = iter(sizes)
            while True:
                size = next(sizes, size)
                rows = cursor.fetchmany(size)
                if not rows:
                    return
                yield [self._converted(row, binding) for row in rows]
                if len(rows) < size:
                    return
        finally:
            cursor.close()

    def _converted(self, row, binding):
        # Only the columns that have a result processor are touched (most
        # have none): a quarter less time than zipping every value with one.
        if binding.converters:
            row = list(row)
            for index, process in binding.converters:
                row[index] = process(row[index])
        return self._row._make(row)


def connection_of(db):
    """The Core connection to run prepared statements on: ``db`` itself, or
    a Session's connection, the session flushed first as its own queries
    would autoflush, so that the driver sees its pending changes."""
    if isinstance(db, Session):
        if db.autoflush:
            db.flush()
        return db.connection()
    return db


class _Binding(typing.NamedTuple):
    """A compiled statement and how a dict of its bind values becomes the
    driver's parameters."""

    sql: str
    positional: bool
    # (bind name, the driver's name for it, bind processor or None), in the
    # order of the SQL's placeholders when the paramstyle is positional.
    binds: tuple
    # Values bound in the statement itself (``== "primary"``, LIMIT 2).
    literals: dict
    # (column index, result processor) of the columns it returns (a
    # SELECT's, or RETURNING's) that have one.
    converters: tuple
    # Runs on a cursor kept per connection (``_kept_cursor``): psycopg's.
    keeps_cursor: bool

    def parameters(self, values: dict):
        if self.literals:
            values = {**self.literals, **values}
        # values[name] raises KeyError for a bind given no value, as
        # SQLAlchemy refuses one (with its own error).
        if self.positional:
            return tuple([values[name] if process is None else process(values[name])
                          for name, _, process in self.binds])
        return {key: values[name] if process is None else process(values[name]) for name, key, process in self.binds}


def _binding(statement, dialect) -> _Binding:
    compiled = statement.compile(dialect=dialect)
    if compiled.insert_prefetch or compiled.update_prefetch:
        # Column defaults SQLAlchemy would compute per execution (an UPDATE's
        # onupdate, an INSERT leaving out a column with a default).
        raise ValueError("%s needs SQLAlchemy's column defaults; it cannot be prepared" % statement)
    if any(bind.expanding for bind in compiled.binds.values()):
        raise ValueError("%s has an IN list parameter, spliced into the SQL per execution" % statement)
    processors = {name: _shared(dialect, compiled.binds[name].type, process)
                  for name, process in compiled._bind_processors.items()}
    escaped = compiled.escaped_bind_names
    names = compiled.positiontup if dialect.positional else list(compiled.binds)
    returned = statement.selected_columns if statement.is_select else compiled.effective_returning or ()
    converters = tuple((index, process) for index, column in enumerate(returned)
                       if (process := column.type.dialect_impl(dialect).result_processor(dialect, None)))
    return _Binding(
        compiled.string, dialect.positional,
        tuple((name, escaped.get(name, name), processors.get(name)) for name in names),
        {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required},
        converters,
        dialect.driver == "psycopg",
    )


_MISSING = object()
# Bind processors of date and time types, one per dialect and type.
_TIME_PROCESSORS: dict = {}


def _shared(dialect, type_, process):
    """``process``, or for a date or time type the one processor of the
    dialect's for that type, remembering its last value: a new ticket
    writes the same ``now`` into up to 16 datetime columns over its
    statements, and converting one costs ~4.5 us on SQLite (the UTC
    decorator and the string formatting)."""
    key = (dialect.name, type_._static_cache_key)
    if process is None or not issubclass(type_._type_affinity, (DateTime, Date, Time)) \
            or not isinstance(key[1], tuple):  # (not a tuple: a TypeDecorator without cache_ok)
        return process
    shared = _TIME_PROCESSORS.get(key)
    if shared is None:
        shared = _TIME_PROCESSORS[key] = _remembering(process)
    return shared


def _remembering(process):
    last = [(_MISSING, None)]  # (value, result), replaced as a whole: threads share it

    def remembered(value):
        seen, result = last[0]
        if value is seen:
            return result
        result = process(value)
        # Only immutable values: a value that is the same object has the same result.
        if value.__class__ in (dt.datetime, dt.date, dt.time):
            last[0] = (value, result)
        return result

    return remembered


class PreparedStatement(_Prepared):
    """An UPDATE or DELETE (or any statement whose result is not read);
    what it writes is what ``connection.execute(statement, params)`` would."""

    def execute(self, connection, params: dict) -> int:
        """Runs the statement; returns the number of rows it matched."""
        return self._run(connection, params, _ROWS_MATCHED)[1]


class next_key(ColumnElement):
    """The value the database's autoincrement would give the next row of
    ``table`` (its autoincrementing integer key), for ``PreparedInsert``'s
    ``key``: on SQLite one more than the largest key the table ever had
    (AUTOINCREMENT's rule: sqlite_sequence, or the largest row's; writing
    the key updates sqlite_sequence, so keys are still never reused), on
    PostgreSQL the next value of the column's sequence. Only under SQLite's
    write lock may two writers not take the same one: a writing transaction
    there holds it from its BEGIN IMMEDIATE (stws.db.engine)."""

    inherit_cache = True
    type = Integer()

    def __init__(self, table):
        self.table = table

    @property
    def _static_cache_key(self):  # one table, one statement
        return (self.__class__, self.table.name)


@compiles(next_key, "sqlite")
def _next_key_sqlite(element, compiler, **kw):
    table, column = element.table.name, element.table.autoincrement_column.name
    return ("(max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = '%s'), 0), "
            "coalesce((SELECT max(%s) FROM %s), 0)) + 1)" % (table, column, table))


@compiles(next_key, "postgresql")
def _next_key_postgresql(element, compiler, **kw):
    return "nextval(pg_get_serial_sequence('%s', '%s'))" % (element.table.name,
                                                            element.table.autoincrement_column.name)


class _DefaultContext:
    """What a column default function taking an argument gets instead of
    SQLAlchemy's execution context: the row's values so far."""

    __slots__ = ("current_parameters", "current_column")

    def __init__(self, row: dict, column):
        self.current_parameters = row
        self.current_column = column

    def get_current_parameters(self, isolate_multiinsert_groups=True) -> dict:
        return self.current_parameters


class PreparedInsert(PreparedStatement):
    """INSERT of rows of ``table`` naming every column but the
    autoincrementing key: a value a row leaves out is its column's
    Python-side default (a scalar, or the function SQLAlchemy would call)
    or NULL, as ``connection.execute(insert(table), row)`` writes it.

    ``returning``: a column (the key) whose value ``insert`` returns, by
    INSERT ... RETURNING (SQLite 3.35 and later, PostgreSQL).

    Columns with a server default and no Python one are not written (the
    database fills them); defaults that are SQL expressions or sequences
    are not supported.

    ``key``: an SQL expression for the autoincrementing key of the row (as
    ``next_key(table)``), evaluated once in the statement, and ``derived``:
    {column key: function of that expression -> the column's SQL
    expression}, for columns made from the key in the same INSERT (a
    ticket's number) rather than by an UPDATE once the key is known. The
    statement is then ``INSERT ... SELECT`` from a one-row subquery.
    """

    def __init__(self, table, returning=None, key=None, derived=None):
        derived = derived or {}
        columns = [column for column in table.columns if column is not table.autoincrement_column
                   and column.key not in derived
                   and not (column.server_default is not None and column.default is None)]
        fixed, made = {}, []
        for column in columns:
            default = column.default
            if default is None:
                fixed[column.key] = None
            elif default.is_scalar:
                fixed[column.key] = default.arg
            elif default.is_callable:
                fixed[column.key] = _MISSING  # never written: replaced in _completed
                made.append((column.key, column, default.arg))
            else:
                raise ValueError("%s: SQL expression and sequence defaults are not supported" % column)
        bound = [bindparam(column.key, type_=column.type) for column in columns]
        if key is None:
            # inline(): no implicit RETURNING of the key (PostgreSQL adds one to
            # fetch inserted_primary_key, which only a Result has).
            statement = table.insert().inline().values(dict(zip([column.key for column in columns], bound)))
        else:
            name = table.autoincrement_column.key
            new = select(key.label(name)).subquery("new_row")
            made_from_key = [make(new.c[name]) for make in derived.values()]
            statement = table.insert().inline().from_select(
                [name, *derived, *[column.key for column in columns]],
                select(new.c[name], *made_from_key, *bound).select_from(new))
        super().__init__(statement if returning is None else statement.returning(returning))
        self.table = table
        self._returns = returning is not None
        # Every column's value when a row gives none, but for ``_made``'s.
        self._fixed = fixed
        self._made = tuple(made)
        self._columns = tuple(columns)
        self._several: dict[int, _SeveralRows] = {}  # by number of rows (insert_many)
        # Values that are no column's, which ``derived`` expressions bind (a row must give them).
        self._extra = frozenset(element.key for expression in (made_from_key if key is not None else ())
                                for element in visitors.iterate(expression) if isinstance(element, BindParameter))

    def _completed(self, row: dict) -> dict:
        values = {**self._fixed, **row}
        if len(values) != len(self._fixed) + len(self._extra):
            unknown = sorted(set(row) - set(self._fixed) - self._extra)
            if unknown:
                raise CompileError("Unconsumed column names: %s (not columns of %s this insert writes)"
                                   % (", ".join(unknown), self.table.name))
            raise CompileError("No value for %s" % ", ".join(sorted(self._extra - set(row))))
        for key, column, make in self._made:
            if values[key] is _MISSING:
                values[key] = make(_DefaultContext(values, column))
        return values

    def insert(self, connection, row: dict):
        """Writes one row; returns its ``returning`` value (else None)."""
        binding, returned = self._run(connection, self._completed(row), _ONE_ROW if self._returns else _ROWS_MATCHED)
        if not self._returns:
            return None
        value = returned[0]
        for _, process in binding.converters:
            value = process(value)
        return value

    def insert_many(self, connection, rows: list[dict]) -> None:
        """Writes ``rows`` (no RETURNING): up to ``FEW_ROWS`` in one INSERT
        of as many VALUES, more in one executemany. Each row is completed
        on its own (SQLAlchemy's executemany takes the columns to write
        from the first row).

        Why one statement for a few (a new ticket's two history rows): a
        driver's executemany costs more than a single statement with the
        same rows; psycopg's runs a pipeline, about 1.6 times a one-row
        INSERT's CPU for two rows (bench/tickets_inprocess.py c1)."""
        if self._returns:
            raise ValueError("insert_many returns nothing: prepare the insert without returning")
        if 1 < len(rows) <= FEW_ROWS:
            several = self._several.get(len(rows))
            if several is None:
                several = self._several[len(rows)] = _SeveralRows(self, len(rows))
            several.insert(connection, [self._completed(row) for row in rows])
            return
        binding = self._binding(connection.dialect)
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.executemany(binding.sql, [binding.parameters(self._completed(row)) for row in rows])
        finally:
            cursor.close()


FEW_ROWS = 8


class _SeveralRows(_Prepared):
    """``PreparedInsert``'s INSERT of ``count`` rows in one VALUES list (no
    ``key``/``derived``), the bind of column ``c`` of row ``i`` named ``c_i``."""

    def __init__(self, insert: PreparedInsert, count: int):
        if insert._extra or insert.statement.select is not None:
            raise ValueError("only a plain PreparedInsert writes several rows at once")
        self._names = tuple(tuple((column.key, "%s_%d" % (column.key, i)) for column in insert._columns)
                            for i in range(count))
        super().__init__(insert.table.insert().values([
            {column.key: bindparam(name, type_=column.type) for column, (_, name) in zip(insert._columns, names)}
            for names in self._names]))

    def insert(self, connection, rows: list[dict]) -> None:
        values = {}
        for row, names in zip(rows, self._names):
            for key, name in names:
                values[name] = row[key]
        self._run(connection, values, _ROWS_MATCHED)

