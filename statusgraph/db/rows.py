"""Reads that only read: rows as SQLAlchemy Core returns them, not ORM instances.

A row answers each column under the model's attribute name, with the values the column
types give (UTC datetimes, JSON), so code that reads `row.name` cannot tell the two
apart; it skips the ORM's instance state and identity map, ~15 % of a 20-row list
request (bench/README.md). Only for rows nobody changes or adds to a session:
mutations load ORM instances. tests/test_pagination_rows.py holds every table model's
columns to its attribute names, and Core rows to the ORM's values.
"""

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

Model = TypeVar("Model", bound=SQLModel)


async def core_connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, in its transaction, for a Core read. The ORM flushes
    pending changes before it queries; a Core read must ask (free when, as in a
    request's read session, there are none)."""
    await session.flush()
    return await session.connection()


async def read_rows(
    session: AsyncSession,
    statement: SelectOfScalar[Model],
    params: Mapping[str, Any] | None = None,
) -> list[Model]:
    """The rows `statement` (a select of one model) returns, read on the session's
    connection, in its transaction. Typed as the model: they read like it."""
    connection = await core_connection(session)
    result = await connection.execute(statement, dict(params) if params else None)
    return cast(list[Model], list(result))
