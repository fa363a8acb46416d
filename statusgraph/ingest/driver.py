"""SQLAlchemy statements compiled once and run on the driver's own cursor.

For the one hot write path (heartbeat pings, ingest/batcher.py): executing even
a cached Core statement costs ~35 µs of SQLAlchemy machinery (on asyncpg, greenlet
switches too) and converts parameters row by row, which was half of a ping's database
time. executemany() and fetchall() run on a DBAPI cursor (sqlite3); an async driver
(asyncpg) is called with `sql`, parameters() and read(). Here the SQL
and the order of its parameters still come from SQLAlchemy's compiler, and every value
goes through its column type's own processors, so what is stored and read back is what
SQLAlchemy would store and read back; only the per-execution bookkeeping is skipped.
It reads the compiler's attributes (string, positiontup, params, binds):
tests/test_upstream_contracts.py checks that what it sends is what SQLAlchemy sends.
"""

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ClauseElement, Dialect, Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any] | None


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    """The type's own processor, or the faster equivalent it offers for this path
    (types.UtcDateTime.driver_bind_processor)."""
    fast = getattr(type_, "driver_bind_processor", None)
    return (fast and fast(dialect)) or type_.dialect_impl(dialect).bind_processor(dialect)


class DriverStatement:
    def __init__(
        self, statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys or ()) or None)
        if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
            raise TypeError("a SQL statement for a dialect with positional parameters is needed")
        self.sql = compiled.string
        names = list(compiled.positiontup)
        # Literal values the statement binds itself (`type = 'heartbeat'`); every other
        # parameter must come with the row (itemgetter raises KeyError if one is missing).
        self.defaults = {
            name: value
            for name, value in compiled.params.items()
            if not compiled.binds[name].required
        }
        self.values_of = operator.itemgetter(*names)
        self.single = len(names) == 1  # itemgetter of one name returns the bare value
        # (position, processor) for the parameters whose type converts them.
        self.binders = [
            (position, binder)
            for position, name in enumerate(names)
            if (binder := _bind_processor(compiled.binds[name].type, dialect))
        ]
        self.readers: list[Processor] = (
            [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in statement.selected_columns
            ]
            if isinstance(statement, Select)
            else []
        )

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any]:
        if self.defaults:
            values = {**self.defaults, **values}
        found = self.values_of(values)
        if self.single:
            found = (found,)
        if not self.binders:
            return found  # type: ignore[no-any-return]
        converted = list(found)
        for position, binder in self.binders:
            converted[position] = binder(converted[position])
        return converted

    def read(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """A fetched row, each value through its column type's result processor."""
        return tuple(
            value if reader is None else reader(value)
            for value, reader in zip(row, self.readers, strict=True)
        )

    def executemany(self, cursor: Any, rows: Iterable[Mapping[str, Any]]) -> None:
        cursor.executemany(self.sql, [self.parameters(row) for row in rows])

    def fetchall(self, cursor: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return [self.read(row) for row in cursor.execute(self.sql, self.parameters(values))]
