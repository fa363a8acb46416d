"""Records the heartbeat transitions no ping caused (UP to LATE, LATE to DOWN)."""

from statusgraph.jobs.runner import Job, JobContext
from statusgraph.resolvers import heartbeats

NAME = "heartbeat_evaluation"


async def evaluate_heartbeats(context: JobContext) -> int:
    """Every overdue monitor, a batch per transaction, until a batch comes back short
    (on PostgreSQL, monitors locked by a ping or another evaluator are left to them)."""
    evaluated = 0
    while not context.stopping.is_set():
        async with context.db.begin() as session:
            batch = await heartbeats.evaluate_due(session, now=context.clock())
        evaluated += batch
        if batch < heartbeats.EVALUATE_BATCH:
            break
    return evaluated


def job(interval: float) -> Job:
    return Job(NAME, interval, evaluate_heartbeats)
