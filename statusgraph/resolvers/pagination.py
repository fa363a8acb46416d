"""Keyset pagination for Relay connections, newest first, on (created_at, id).

Offsets drift when rows are inserted between pages and get slower the deeper you
page; a keyset cursor does neither.
"""

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, func, or_
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from statusgraph.errors import BadUserInputError, ExcessivePaginationError

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

Row = TypeVar("Row")


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


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, row_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BadUserInputError("Invalid cursor") from error
    if created_at.tzinfo is None or not row_id:
        raise BadUserInputError("Invalid cursor")
    return created_at, row_id


async def paginate(
    session: AsyncSession,
    statement: SelectOfScalar[Row],
    model: Any,
    args: PageArgs,
    *,
    with_count: bool = False,
) -> Page[Row]:
    """One page of `statement` (already filtered to the tenant) ordered newest first."""
    size = args.size()
    created, ident = model.created_at, model.id
    filtered = statement
    if args.after is not None:
        at, row_id = decode_cursor(args.after)
        filtered = filtered.where(or_(created < at, and_(created == at, ident < row_id)))
    if args.before is not None:
        at, row_id = decode_cursor(args.before)
        filtered = filtered.where(or_(created > at, and_(created == at, ident > row_id)))

    backwards = args.last is not None
    order = (created.asc(), ident.asc()) if backwards else (created.desc(), ident.desc())
    rows = list((await session.exec(filtered.order_by(*order).limit(size + 1))).all())
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
        cursors=[encode_cursor(row.created_at, row.id) for row in rows],  # type: ignore[attr-defined]
        has_next_page=more if not backwards else args.before is not None,
        has_previous_page=more if backwards else args.after is not None,
        total_count=total,
    )
