"""The heartbeat evaluator against other evaluators and against pings, on PostgreSQL,
where they really run at once (on SQLite each write transaction holds the one write
lock, BEGIN IMMEDIATE, so they cannot interleave).

Each race is staged with row locks, so that it happens every time: a transaction holds a
monitor's row while the other side is started, and `until_waiting` sees it queue on the
lock (or finish) before the row is let go. Against the evaluator before it locked the
rows it read, both tests fail: the second evaluator records every transition again,
and the evaluator writes its stale deadline over the ping's.
"""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, func, select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Monitor, MonitorStatusChange, Organization
from statusgraph.ids import new_id
from statusgraph.resolvers import heartbeats
from tests.helpers import create_org


@pytest.fixture
def postgresql_only(app):
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: on SQLite write transactions never overlap")


async def overdue_monitors(
    db: SessionFactory, organization: Organization, now: datetime, count: int, *, period: int = 60
) -> list[str]:
    """`count` heartbeat monitors, UP until a second ago: each is due to turn LATE."""
    pinged = now - timedelta(seconds=period + 1)
    ids = [new_id("mon") for _ in range(count)]
    async with db.begin() as session:
        for n, monitor_id in enumerate(ids):
            session.add(
                Monitor(
                    id=monitor_id,
                    organization_id=organization.id,
                    name=f"job {n}",
                    type="heartbeat",
                    period_seconds=period,
                    grace_seconds=period,
                    last_ping_at=pinged,
                    last_ping_kind="success",
                    recorded_status="up",
                    next_deadline_at=pinged + timedelta(seconds=period),
                    created_at=pinged,
                    updated_at=pinged,
                )
            )
    return ids


async def transitions(db: SessionFactory) -> list[tuple[str, str, str]]:
    async with db() as session:
        rows = await session.exec(
            select(MonitorStatusChange).order_by(col(MonitorStatusChange.created_at))
        )
        return [(row.monitor_id, row.from_status, row.to_status) for row in rows]


async def until_waiting(db: SessionFactory, count: int, *tasks: asyncio.Task[Any]) -> None:
    """Until `count` sessions of this database wait on a lock, or every task is done."""
    statement = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(500):
        async with db() as session:
            waiting = (await session.exec(statement)).one()[0]  # type: ignore[call-overload]
        if waiting >= count or (tasks and all(task.done() for task in tasks)):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{waiting} sessions wait on a lock, not {count}")


async def evaluate(db: SessionFactory, now: datetime) -> int:
    async with db.begin() as session:
        return await heartbeats.evaluate_due(session, now=now)


async def test_a_second_evaluator_skips_the_monitors_the_first_is_recording(
    postgresql_only, db, clock
):
    organization = await create_org(db, clock, slug="acme")
    ids = await overdue_monitors(db, organization, clock(), 50)
    async with db.begin() as first:
        assert await heartbeats.evaluate_due(first, now=clock()) == 50
        # The first evaluator has not committed: its rows are still locked.
        second = asyncio.create_task(evaluate(db, clock()))
        await until_waiting(db, 1, second)
    assert await second == 0
    assert sorted(await transitions(db)) == sorted((id_, "up", "late") for id_ in ids)


async def test_two_evaluators_at_once_record_one_transition_per_monitor(postgresql_only, db, clock):
    organization = await create_org(db, clock, slug="acme")
    ids = await overdue_monitors(db, organization, clock(), 400)
    done = await asyncio.gather(*(evaluate(db, clock()) for _ in range(2)))
    assert sum(done) == 400, done
    assert sorted(await transitions(db)) == sorted((id_, "up", "late") for id_ in ids)


async def test_an_evaluator_racing_a_ping_never_loses_the_pings_deadline(
    postgresql_only, app, client, db, clock, people
):
    organization = people.alice.organization
    [monitor_id] = await overdue_monitors(db, organization, clock(), 1)
    async with app.state.engine.connect() as holder:
        # Stands for a ping's transaction before ours: the monitor's row is held.
        await holder.execute(
            text("SELECT id FROM monitor WHERE id = :id FOR UPDATE"), {"id": monitor_id}
        )
        ping = asyncio.create_task(
            client.post(f"/api/heartbeat/{monitor_id}", headers={"X-API-Key": people.alice.secret})
        )
        await until_waiting(db, 1)  # the ping's locked read queues first...
        evaluator = asyncio.create_task(evaluate(db, clock()))
        await until_waiting(db, 2, evaluator)  # ...then the evaluator queues, or skips
        await holder.commit()
    response = await ping
    assert await evaluator == 0  # the monitor was locked: its ping settles it
    deadline = clock() + timedelta(seconds=60)
    assert response.status_code == 200
    assert response.json()["status"] == "up"
    assert response.json()["next_deadline_at"] == deadline.isoformat()
    async with db() as session:
        monitor = await session.get(Monitor, monitor_id)
        assert monitor is not None
        assert (monitor.recorded_status, monitor.next_deadline_at) == ("up", deadline)
        changes = (await session.exec(select(func.count()).select_from(MonitorStatusChange))).one()
    assert changes == 0  # it was UP, and a ping kept it UP: no transition at all
