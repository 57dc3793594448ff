"""SELECTs that run on every call, executed on the driver connection.

SQLAlchemy's Core execution (cache key, execution context, events, result
metadata) costs several times what SQLite takes to run an indexed
single-row lookup. For the few statements every SOAP call makes, a
``PreparedQuery`` compiles the Core statement once per dialect and runs
the SQL on the DBAPI connection under the call's SQLAlchemy connection,
in the same transaction, converting the columns with the same result
processors SQLAlchemy would (UTC datetimes, booleans on SQLite).

Limits, by design: ``first``'s parameters are plain values (no bind
processors run; ``all`` runs them, for datetimes), and these queries are
not seen by query tracing (stws.diagnostics.tracing), which listens on
SQLAlchemy's cursor events.
"""
from __future__ import annotations

import collections


class PreparedQuery:
    def __init__(self, statement):
        self.statement = statement
        self._row = collections.namedtuple("Row", [column.key for column in statement.selected_columns])
        # Two threads preparing at once compute the same value: no lock.
        self._by_dialect: dict[str, tuple] = {}

    def _prepared(self, dialect) -> tuple:
        prepared = self._by_dialect.get(dialect.name)
        if prepared is None:
            compiled = self.statement.compile(dialect=dialect)
            names = tuple(compiled.positiontup) if dialect.positional else None
            processors = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
            # Literals in the statement (``== 1``) are parameters with a value.
            defaults = dict(compiled.params)
            prepared = self._by_dialect[dialect.name] = (compiled.string, names, processors, defaults)
        return prepared

    def first(self, connection, params: dict):
        """The first row (a named tuple), or None; ``connection`` is a
        SQLAlchemy Connection (its DBAPI connection runs the query)."""
        sql, names, processors, defaults = self._prepared(connection.dialect)
        if defaults:
            params = {**defaults, **params}
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, tuple(params[name] for name in names) if names is not None else params)
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        return self._row._make(
            value if process is None else process(value) for value, process in zip(row, processors)
        )

    # {dialect name: {parameter name: bind processor}}, made by ``all`` on first use.
    _binds_by_dialect: dict | None = None

    def all(self, connection, params: dict) -> list:
        """Every row (named tuples), like ``first``; here the parameters also go
        through their types' bind processors, as SQLAlchemy would run them
        (a UTC datetime becomes the naive text SQLite stores)."""
        dialect = connection.dialect
        sql, names, processors, defaults = self._prepared(dialect)
        params = {**defaults, **params}
        for name, process in self._bind_processors(dialect).items():
            params[name] = process(params[name])
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, tuple(params[name] for name in names) if names is not None else params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        # Only the columns that have a processor are touched (most have none):
        # a quarter less time than zipping every value with its processor.
        converted = [(index, process) for index, process in enumerate(processors) if process is not None]
        make = self._row._make
        result = []
        for row in rows:
            if converted:
                row = list(row)
                for index, process in converted:
                    row[index] = process(row[index])
            result.append(make(row))
        return result

    def _bind_processors(self, dialect) -> dict:
        if self._binds_by_dialect is None:
            self._binds_by_dialect = {}
        binds = self._binds_by_dialect.get(dialect.name)
        if binds is None:
            compiled = self.statement.compile(dialect=dialect)
            binds = self._binds_by_dialect[dialect.name] = {
                name: process for name, bind in compiled.binds.items()
                if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
            }
        return binds
