"""Revokes keys older than their organization's key policy allows
(resolvers/organization_settings.disable_old_keys; docs/organization.md)."""

import logging

from statusgraph.jobs.runner import Job, JobContext
from statusgraph.resolvers import organization_settings

NAME = "key_policy"

logger = logging.getLogger("statusgraph.jobs")


async def disable_old_keys(context: JobContext) -> int:
    async with context.db.begin() as session:
        disabled = await organization_settings.disable_old_keys(session, now=context.clock())
    if disabled:
        logger.info("revoked %d API keys older than their organization's key policy", disabled)
    return disabled


def job(interval: float) -> Job:
    return Job(NAME, interval, disable_old_keys)
