"""The shape every mutation field shares: one write transaction; problems the caller
can fix come back as userErrors, with nothing written."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.types.unset import UNSET

from statusgraph.resolvers.user_errors import UserInputError
from statusgraph.schema.context import Context
from statusgraph.schema.user_errors import UserError

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class Rejected:
    user_errors: list[UserError]


async def in_transaction(
    ctx: Context, work: Callable[[AsyncSession], Awaitable[Result]]
) -> Result | Rejected:
    await ctx.end_read()
    try:
        async with ctx.db.begin() as session:
            return await work(session)
    except UserInputError as error:
        return Rejected(UserError.of(error.errors))


def provided(source: Any, names: dict[str, str]) -> dict[str, Any]:
    """{column: value} for the input fields the caller actually sent (not UNSET)."""
    return {
        column: getattr(source, attribute)
        for attribute, column in names.items()
        if getattr(source, attribute) is not UNSET
    }
