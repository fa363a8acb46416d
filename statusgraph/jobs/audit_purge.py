"""Deletes audit log entries past their retention (resolvers/audit.py)."""

import logging

from statusgraph.jobs.runner import Job, JobContext
from statusgraph.resolvers import audit

NAME = "audit_purge"

logger = logging.getLogger("statusgraph.jobs")


async def purge_audit_log(context: JobContext) -> int:
    async with context.db.begin() as session:
        purged = await audit.purge(session, now=context.clock())
    if purged:
        logger.info("purged %d audit entries older than 365 days", purged)
    return purged


def job(interval: float) -> Job:
    return Job(NAME, interval, purge_audit_log)
