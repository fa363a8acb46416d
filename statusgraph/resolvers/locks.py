"""Row locks: how a mutation that reads, checks, then writes stays right under concurrency.

PostgreSQL runs transactions at READ COMMITTED: without a lock, two transactions read
the same row, both pass the same check ("not revoked yet", "next position is 3") and
both write (two revocations and two audit entries, two groups at position 3). A locking
read (`SELECT ... FOR ...`) waits for the transaction that holds the row, then returns
the row as that one committed it, or nothing if it deleted it. The check that follows
sees exactly what a call made afterwards would see, so the loser of a race gets the
same userError or NOT_FOUND as a second call, and writes nothing.

SQLite needs none of this: write transactions begin IMMEDIATE and run one at a time,
and SQLAlchemy prints no FOR clause for it.
"""

from enum import Enum
from typing import TypeVar

from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from statusgraph.db.models import Organization

Row = TypeVar("Row", bound=SQLModel)


class Lock(Enum):
    NONE = "none"
    # A row that what we insert will reference (a service an incident names): nobody may
    # delete it before we commit, or the insert fails on its foreign key. FOR KEY SHARE
    # blocks deletes only; updates of the row go on.
    REFERENCE = "reference"
    # A row we check and change. FOR NO KEY UPDATE, not FOR UPDATE: inserts of rows that
    # reference it (pings, status changes, audit entries) need not wait.
    UPDATE = "update"
    # A row we delete: the delete takes FOR UPDATE anyway; taking it up front means the
    # losers of a race find nothing and answer NOT_FOUND.
    DELETE = "delete"


def locking(statement: SelectOfScalar[Row], lock: Lock) -> SelectOfScalar[Row]:
    if lock is Lock.NONE:
        return statement
    return statement.with_for_update(
        read=lock is Lock.REFERENCE, key_share=lock is not Lock.DELETE
    ).execution_options(
        # The row may already sit in the session's identity map from an earlier, unlocked
        # read: the locked read's values must replace it.
        populate_existing=True
    )


async def lock_organization(session: AsyncSession, organization_id: str) -> None:
    """Serialises the organization's mutations that derive a value from all of its rows
    of a kind: the next position of a service or group, a reorder, the pages a plan
    still allows, which page is the default. Lock it before any other row (one order
    everywhere: no deadlocks). FOR NO KEY UPDATE: inserts referencing the organization
    (every tenant row) take FOR KEY SHARE and do not wait for it."""
    statement = (
        select(Organization.id)
        .where(col(Organization.id) == organization_id)
        .with_for_update(key_share=True)
    )
    await session.exec(statement)
