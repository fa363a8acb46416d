"""Reminds of monitors still DOWN (notifications/reminders.py)."""

from statusgraph.jobs.runner import Job, JobContext
from statusgraph.notifications import reminders

NAME = "monitor_reminders"


async def remind(context: JobContext) -> int:
    async with context.db.begin() as session:
        return await reminders.remind(session, now=context.clock())


def job(interval: float) -> Job:
    return Job(NAME, interval, remind)
