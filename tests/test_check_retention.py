"""Check history past its keeping is purged: raw results after
STATUSGRAPH_CHECK_RESULTS_RETENTION_DAYS, rollups and transitions after 400 days."""

from datetime import timedelta

import pytest
from sqlmodel import col, select

from statusgraph.checks import retention
from statusgraph.clock import FrozenClock
from statusgraph.config import Settings
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import CheckResult, CheckRollup, Monitor, MonitorStatusChange
from statusgraph.jobs import catalog
from tests.helpers import create_org


async def test_old_results_rollups_and_transitions_are_purged(
    db: SessionFactory, clock: FrozenClock, settings: Settings
) -> None:
    organization = await create_org(db, clock, slug="acme")
    now = clock()
    ages = {"new": timedelta(days=6, hours=23), "old": timedelta(days=7, seconds=1)}
    history = {"kept": timedelta(days=399), "gone": timedelta(days=400, seconds=1)}
    async with db.begin() as session:
        session.add(
            Monitor(
                id="mon_a",
                organization_id=organization.id,
                name="a",
                type="http",
                settings={"url": "https://e.com"},
                created_at=now - timedelta(days=500),
                updated_at=now,
            )
        )
        await session.flush()
        for name, age in ages.items():
            session.add(
                CheckResult(
                    id=f"chk_{name}",
                    monitor_id="mon_a",
                    checked_at=now - age,
                    up=True,
                    reason="status 200",
                )
            )
        for name, age in history.items():
            session.add(
                MonitorStatusChange(
                    id=f"chg_{name}",
                    monitor_id="mon_a",
                    from_status="up",
                    to_status="down",
                    reason="x",
                    created_at=now - age,
                )
            )
            session.add(
                CheckRollup(monitor_id="mon_a", period="day", starts_at=now - age, checks=1)
            )
    assert await retention.purge(db, now=now, results_days=7) == 3
    async with db() as session:
        assert (await session.exec(select(CheckResult.id))).all() == ["chk_new"]
        assert (await session.exec(select(MonitorStatusChange.id))).all() == ["chg_kept"]
        kept = (await session.exec(select(col(CheckRollup.starts_at)))).all()
        assert kept == [now - history["kept"]]
    # The job runs it with the setting's days.
    [job] = [job for job in catalog.jobs_for(settings) if job.name == "check_retention"]
    assert job.interval == 3600


async def test_purges_go_in_batches(
    db: SessionFactory, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    organization = await create_org(db, clock, slug="acme")
    now = clock()
    async with db.begin() as session:
        session.add(
            Monitor(
                id="mon_a",
                organization_id=organization.id,
                name="a",
                type="http",
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        for n in range(5):
            session.add(
                CheckResult(
                    id=f"chk_{n}",
                    monitor_id="mon_a",
                    checked_at=now - timedelta(days=8),
                    up=True,
                    reason="ok",
                )
            )
    assert await retention.purge(db, now=now, results_days=7) == 5
    async with db() as session:
        assert (await session.exec(select(CheckResult.id))).all() == []
