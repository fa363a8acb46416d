"""How long check history is kept (DESIGN §10): raw results
`STATUSGRAPH_CHECK_RESULTS_RETENTION_DAYS` (7), rollups and status transitions 400 days.

Deleted in batches, each in its own transaction, so that a purge of millions of rows
never holds a long lock; uptime never needs a transition older than its window (the
status before a window is read from the first transition inside it, or is the current
one: checks/history.py).
"""

from datetime import datetime, timedelta

from sqlalchemy import Table, delete, select

from statusgraph.checks import tables
from statusgraph.db.engine import SessionFactory

HISTORY_DAYS = 400
BATCH = 10_000


async def _purge_by_id(db: SessionFactory, table: Table, moment: str, cutoff: datetime) -> int:
    purged = 0
    while True:
        async with db.begin() as session:
            old = select(table.c.id).where(table.c[moment] < cutoff).limit(BATCH)
            result = await session.exec(delete(table).where(table.c.id.in_(old.scalar_subquery())))
        purged += result.rowcount
        if result.rowcount < BATCH:
            return purged


async def purge(db: SessionFactory, *, now: datetime, results_days: int) -> int:
    """Deletes what is past keeping; how many rows."""
    purged = await _purge_by_id(
        db, tables.RESULTS, "checked_at", now - timedelta(days=results_days)
    )
    history = now - timedelta(days=HISTORY_DAYS)
    purged += await _purge_by_id(db, tables.CHANGES, "created_at", history)
    async with db.begin() as session:
        result = await session.exec(
            delete(tables.ROLLUPS).where(tables.ROLLUPS.c.starts_at < history)
        )
    return purged + int(result.rowcount)
