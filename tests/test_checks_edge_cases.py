"""Active checks at their edges, each case found in review: a check that races an edit
or an overlapping "check now", maintenance cancelled or entered after the fact, an old
monitor's long timeout, and times at the edge of what datetime holds."""

from datetime import timedelta
from typing import Any

import httpx

from statusgraph.checks import history, manual, results
from statusgraph.checks.guard import Guard
from statusgraph.checks.prober import Prober, Target, http_check
from statusgraph.checks.probes import Failure, Outcome, down
from statusgraph.checks.results import Checked
from statusgraph.checks.scheduler import LEASE_MARGIN, MAX_TIMEOUT
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Monitor
from tests.helpers import Personas, gql

LEASE = timedelta(seconds=MAX_TIMEOUT) + LEASE_MARGIN
UP = Outcome(up=True, reason="status 200", response_ms=5.0, status_code=200)
FAILED = down(Failure.STATUS, "status 503", status_code=503)

CREATE = """
mutation($input: CreateMonitorInput!) {
  createMonitor(input: $input) { monitor { id } userErrors { field message } }
}"""
UPDATE = """
mutation($id: ID!, $input: UpdateMonitorInput!) {
  updateMonitor(id: $id, input: $input) { userErrors { field message } }
}"""


async def create(client: httpx.AsyncClient, key: str, **fields: Any) -> str:
    body = (
        await gql(client, CREATE, {"input": {"name": "site", "type": "HTTP"} | fields}, key=key)
    ).json()
    assert body["data"]["createMonitor"]["userErrors"] == [], body
    monitor_id: str = body["data"]["createMonitor"]["monitor"]["id"]
    return monitor_id


async def update(client: httpx.AsyncClient, key: str, monitor_id: str, **fields: Any) -> None:
    body = (await gql(client, UPDATE, {"id": monitor_id, "input": fields}, key=key)).json()
    assert body["data"]["updateMonitor"]["userErrors"] == [], body


async def claim_one(db: SessionFactory, clock: FrozenClock) -> Target:
    async with db.begin() as session:
        [target] = await results.claim(session, now=clock(), limit=10, lease=LEASE)
    return target


async def record(
    db: SessionFactory, checked: Checked, clock: FrozenClock, *, manual: bool = False
) -> None:
    async with db.begin() as session:
        await results.record(session, [checked], now=clock(), manual=manual)


async def monitor_row(db: SessionFactory, monitor_id: str) -> Monitor:
    async with db() as session:
        row = await session.get(Monitor, monitor_id)
    assert row is not None
    return row


async def test_a_rename_while_a_check_runs_does_not_hold_the_monitor_until_the_lease_ends(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory, clock: FrozenClock
) -> None:
    key = people.alice.secret
    monitor_id = await create(client, key, url="http://127.0.0.1:9/", intervalSeconds=30)
    target = await claim_one(db, clock)
    started = clock()
    clock.advance(seconds=2)
    await update(client, key, monitor_id, name="renamed")  # touches no check setting
    clock.advance(seconds=1)
    await record(db, Checked(target, started, UP), clock)
    row = await monitor_row(db, monitor_id)
    # Due again about an interval (30 s) after the check; the claim's lease (120 s) stays.
    assert row.next_check_at is not None
    assert row.next_check_at <= started + timedelta(seconds=31), row.next_check_at - started


async def test_a_check_of_the_old_settings_that_starts_after_an_edit_is_not_counted(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory, clock: FrozenClock
) -> None:
    """The checker snapshots the settings when it claims, but starts the probe later
    (at the due time within the lookahead, or once a probe slot frees): the guard in
    record() compares the edit with the probe's start, not with the snapshot."""
    key = people.alice.secret
    monitor_id = await create(client, key, url="http://127.0.0.1:9/", confirmations=1)
    target = await claim_one(db, clock)  # the snapshot: the old, refused URL
    clock.advance(seconds=1)
    await update(client, key, monitor_id, url="http://127.0.0.1:19/fixed")
    clock.advance(seconds=1)  # a probe slot frees: the check of the old URL starts now
    prober = Prober(Guard(allow_private=True), rdap_bootstrap_url="http://127.0.0.1:9/")
    try:
        started = clock()
        outcome = await prober.probe(target, started)
    finally:
        await prober.close()
    assert outcome.reason == "connection to 127.0.0.1:9 refused"
    await record(db, Checked(target, started, outcome), clock)
    row = await monitor_row(db, monitor_id)
    # The new URL was never tried, yet the monitor is DOWN for the old one's failure.
    assert row.recorded_status == "pending"


async def test_a_late_result_of_an_older_check_leaves_history_and_status_agreeing(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory, clock: FrozenClock
) -> None:
    """A scheduled check and a "check now" overlap; the one that started first is
    written last. Its transition is stamped earlier than the one already written, so
    the transitions no longer chain and uptime reads DOWN while the monitor is UP."""
    key = people.alice.secret
    monitor_id = await create(client, key, url="http://127.0.0.1:9/")
    created = clock()
    clock.advance(seconds=1)
    target = await claim_one(db, clock)
    await record(db, Checked(target, clock(), UP), clock)  # PENDING -> UP
    clock.advance(seconds=62)
    target = await claim_one(db, clock)
    await record(db, Checked(target, clock(), FAILED), clock)  # one failure: retry in 20 s
    clock.advance(seconds=20)
    slow = await claim_one(db, clock)
    slow_started = clock()  # a slow answer: it will succeed, 8 s from now
    clock.advance(seconds=1)
    now_check = manual.target_of(await monitor_row(db, monitor_id), clock())
    await record(db, Checked(now_check, clock(), FAILED), clock, manual=True)  # UP -> DOWN
    clock.advance(seconds=7)
    await record(db, Checked(slow, slow_started, UP), clock)  # DOWN -> UP, stamped earlier
    clock.advance(hours=1)
    row = await monitor_row(db, monitor_id)
    async with db() as session:
        past = await history.histories(session, [row], created, clock())
    spans = past[monitor_id].spans
    assert spans[-1].status == row.recorded_status, (row.recorded_status, spans[-3:])


def test_a_probe_never_outlasts_the_claims_lease() -> None:
    """Monitors saved before migration 0006 could have any timeout below their interval
    (the old rule); the migration keeps it, and the prober uses it as is."""
    target = Target(
        monitor_id="mon_x",
        type="http",
        settings={"url": "https://example.com/"},
        timeout_seconds=300,
        interval_seconds=600,
        due=FrozenClock()(),
        version=FrozenClock()(),
    )
    assert http_check(target).timeout <= MAX_TIMEOUT


MAINTENANCE = """
mutation($service: ID!, $starts: DateTime!, $ends: DateTime!) {
  createMaintenanceWindow(input: {title: "upgrade", serviceIds: [$service],
                                  startsAt: $starts, endsAt: $ends}) {
    maintenanceWindow { id }
    userErrors { message }
  }
}"""
FIGURES = """
query($id: ID!) {
  monitor(id: $id) {
    uptime(window: LAST_24_HOURS) { upSeconds downSeconds }
    dailyBars(days: 1) { maintenanceMinutes downtimeMinutes }
  }
}"""


async def linked_monitor(client: httpx.AsyncClient, key: str) -> tuple[str, str]:
    service = (
        await gql(
            client, 'mutation { createService(input: {name: "API"}) { service { id } } }', key=key
        )
    ).json()["data"]["createService"]["service"]["id"]
    return service, await create(client, key, url="http://127.0.0.1:9/", serviceId=service)


async def maintain(
    client: httpx.AsyncClient, key: str, service: str, starts: Any, ends: Any
) -> str:
    body = (
        await gql(
            client,
            MAINTENANCE,
            {"service": service, "starts": starts.isoformat(), "ends": ends.isoformat()},
            key=key,
        )
    ).json()
    assert body["data"]["createMaintenanceWindow"]["userErrors"] == [], body
    window_id: str = body["data"]["createMaintenanceWindow"]["maintenanceWindow"]["id"]
    return window_id


async def figures(client: httpx.AsyncClient, key: str, monitor_id: str) -> dict[str, Any]:
    body = (await gql(client, FIGURES, {"id": monitor_id}, key=key)).json()
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["monitor"]
    return found


async def test_a_maintenance_window_cancelled_while_in_progress_still_counts_the_time_it_ran(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory, clock: FrozenClock
) -> None:
    key = people.alice.secret
    service, monitor_id = await linked_monitor(client, key)
    await record(db, Checked(await claim_one(db, clock), clock(), UP), clock)
    window = await maintain(client, key, service, clock(), clock() + timedelta(hours=2))
    clock.advance(minutes=30)  # failures during these 30 minutes raised no DOWN
    cancelled = await gql(
        client,
        "mutation($id: ID!) { cancelMaintenanceWindow(id: $id) { userErrors { message } } }",
        {"id": window},
        key=key,
    )
    assert cancelled.json()["data"]["cancelMaintenanceWindow"]["userErrors"] == []
    clock.advance(minutes=30)
    found = await figures(client, key, monitor_id)
    assert found["dailyBars"][0]["maintenanceMinutes"] == 30, found


async def test_a_maintenance_window_made_afterwards_does_not_erase_recorded_downtime(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory, clock: FrozenClock
) -> None:
    key = people.alice.secret
    service, monitor_id = await linked_monitor(client, key)
    outage = clock()
    target = await claim_one(db, clock)
    await record(db, Checked(target, clock(), down(Failure.STATUS, "status 503")), clock)
    clock.advance(seconds=20)
    target = await claim_one(db, clock)
    await record(db, Checked(target, clock(), down(Failure.STATUS, "status 503")), clock)
    clock.advance(hours=1)
    target = await claim_one(db, clock)
    await record(db, Checked(target, clock(), UP), clock)
    assert (await figures(client, key, monitor_id))["uptime"]["downSeconds"] == 3600
    clock.advance(hours=1)
    # An hour after the outage ended, a window is created "for" it, in the past.
    await maintain(client, key, service, outage, outage + timedelta(hours=2))
    found = await figures(client, key, monitor_id)
    assert found["uptime"]["downSeconds"] == 3600, found


async def test_response_times_at_the_edge_of_time_is_a_user_error_not_a_500(
    client: httpx.AsyncClient, people: Personas
) -> None:
    key = people.alice.secret
    monitor_id = await create(client, key, url="http://127.0.0.1:9/")
    response = await gql(
        client,
        'query($id: ID!) { monitor(id: $id) { responseTimes(until: "0001-01-01T00:00:00Z")'
        " { p50Ms } } }",
        {"id": monitor_id},
        key=key,
    )
    errors = response.json().get("errors") or []
    assert [error["extensions"]["code"] for error in errors] == ["BAD_USER_INPUT"], errors
