"""Tells of maintenance windows starting and ending (maintenance.started, .completed)."""

from statusgraph.jobs.runner import Job, JobContext
from statusgraph.resolvers import maintenance

NAME = "maintenance_events"


async def announce(context: JobContext) -> int:
    told = 0
    while not context.stopping.is_set():
        async with context.db.begin() as session:
            batch = await maintenance.announce_due(session, now=context.clock())
        told += batch
        if batch < maintenance.ANNOUNCE_BATCH:
            break
    return told


def job(interval: float) -> Job:
    return Job(NAME, interval, announce)
