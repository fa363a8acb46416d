"""Purges check results past their retention, and rollups and transitions past 400 days."""

from statusgraph.checks import retention
from statusgraph.jobs.runner import Job, JobContext

NAME = "check_retention"


def job(interval: float, *, results_days: int) -> Job:
    async def run(context: JobContext) -> int:
        return await retention.purge(context.db, now=context.clock(), results_days=results_days)

    return Job(NAME, interval, run)
