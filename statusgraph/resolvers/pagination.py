"""Keyset pagination for Relay connections.

Offsets drift when rows are inserted between pages and get slower the deeper you
page; a keyset cursor does neither. A cursor holds the sort-key values of its row
(by default `(created_at, id)`, newest first), opaque to clients.
"""

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, func, or_
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from statusgraph.db.rows import read_rows
from statusgraph.errors import BadUserInputError, ExcessivePaginationError

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

Row = TypeVar("Row")
Model = TypeVar("Model", bound=SQLModel)


@dataclass(frozen=True, slots=True)
class Sort:
    """Columns of a unique sort key, the last one being the primary key."""

    columns: tuple[str, ...] = ("created_at", "id")
    descending: bool = True


NEWEST_FIRST = Sort()
BY_POSITION = Sort(columns=("position", "id"), descending=False)


@dataclass(frozen=True, slots=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def size(self) -> int:
        if self.first is not None and self.last is not None:
            raise BadUserInputError("Pass either first or last, not both")
        size = self.last if self.last is not None else self.first
        if size is None:
            return DEFAULT_PAGE_SIZE
        if size < 0:
            raise BadUserInputError("first and last must not be negative")
        if size > MAX_PAGE_SIZE:
            raise ExcessivePaginationError(
                f"Requesting {size} records exceeds the limit of {MAX_PAGE_SIZE}",
                maxPageSize=MAX_PAGE_SIZE,
            )
        return size


@dataclass(slots=True)
class Page(Generic[Row]):
    rows: list[Row]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    total_count: int | None = field(default=None)


def _encode_value(value: Any) -> Any:
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        parsed = datetime.fromisoformat(value["t"])
        if parsed.tzinfo is None:
            raise ValueError("naive datetime in cursor")
        return parsed
    if not isinstance(value, str | int):
        raise ValueError("unexpected cursor value")
    return value


def encode_cursor(values: tuple[Any, ...]) -> str:
    raw = json.dumps([_encode_value(value) for value in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort) -> tuple[Any, ...]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(sort.columns):
            raise ValueError("wrong shape")
        return tuple(_decode_value(value) for value in values)
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise BadUserInputError("Invalid cursor") from error


def _beyond(columns: list[Any], values: tuple[Any, ...], *, greater: bool) -> Any:
    """Rows strictly after `values` in the lexicographic order of `columns`."""
    first, rest = columns[0], columns[1:]
    step = first > values[0] if greater else first < values[0]
    if not rest:
        return step
    return or_(step, and_(first == values[0], _beyond(rest, values[1:], greater=greater)))


async def paginate(
    session: AsyncSession,
    statement: SelectOfScalar[Model],
    model: Any,
    args: PageArgs,
    *,
    sort: Sort = NEWEST_FIRST,
    with_count: bool = False,
) -> Page[Model]:
    """One page of `statement` (already filtered to the tenant)."""
    size = args.size()
    columns = [getattr(model, name) for name in sort.columns]
    filtered = statement
    if args.after is not None:
        values = decode_cursor(args.after, sort)
        filtered = filtered.where(_beyond(columns, values, greater=not sort.descending))
    if args.before is not None:
        values = decode_cursor(args.before, sort)
        filtered = filtered.where(_beyond(columns, values, greater=sort.descending))

    backwards = args.last is not None
    ascending = sort.descending == backwards
    order = [column.asc() if ascending else column.desc() for column in columns]
    # A page is only read: Core rows, not ORM instances (db/rows.py).
    rows = await read_rows(session, filtered.order_by(*order).limit(size + 1))
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()

    total = None
    if with_count:
        count_statement = select(func.count()).select_from(statement.subquery())
        total = (await session.exec(count_statement)).one()
    return Page(
        rows=rows,
        cursors=[encode_cursor(tuple(getattr(row, name) for name in sort.columns)) for row in rows],
        has_next_page=more if not backwards else args.before is not None,
        has_previous_page=more if backwards else args.after is not None,
        total_count=total,
    )
