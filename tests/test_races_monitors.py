"""Concurrent mutations of one monitor resolve as if they ran one after another (see
tests/races.py for how a burst is run)."""

from typing import Any

import httpx
from sqlmodel import col, select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Monitor, MonitorStatusChange
from tests.races import (
    N,
    audit_entries,
    burst,
    burst_mixed,
    not_found,
    one_wins,
    outcomes,
    user_error,
)
from tests.status_api import create_service, mutate

CREATE = "mutation($i: CreateMonitorInput!) { createMonitor(input: $i) { monitor { id } userErrors { field code message } } }"
UPDATE = "mutation($id: ID!, $i: UpdateMonitorInput!) { updateMonitor(id: $id, input: $i) { monitor { id } userErrors { field code message } } }"
PAUSE = "mutation($id: ID!) { pauseMonitor(id: $id) { monitor { status } userErrors { field code message } } }"
RESUME = "mutation($id: ID!) { resumeMonitor(id: $id) { monitor { status } userErrors { field code message } } }"
DELETE_SERVICE = (
    "mutation($id: ID!) { deleteService(id: $id) { deletedId userErrors { field code message } } }"
)
DELETE = (
    "mutation($id: ID!) { deleteMonitor(id: $id) { deletedId userErrors { field code message } } }"
)


async def create(client: httpx.AsyncClient, key: str, **fields: Any) -> str:
    payload = await mutate(client, key, CREATE, {"i": fields}, "createMonitor")
    monitor_id: str = payload["monitor"]["id"]
    return monitor_id


async def transitions(db: SessionFactory, monitor: str) -> list[tuple[str, str]]:
    async with db() as session:
        rows = await session.exec(
            select(MonitorStatusChange).where(col(MonitorStatusChange.monitor_id) == monitor)
        )
        # Sorted: the frozen clock gives every transition the same time.
        return sorted((row.from_status, row.to_status) for row in rows.all())


async def test_concurrent_pauses_pause_once(client, db, people):
    monitor = await create(
        client,
        people.alice.secret,
        name="cron",
        type="HEARTBEAT",
        periodSeconds=60,
        graceSeconds=60,
    )
    bodies = await burst(client, db, people.alice.secret, PAUSE, [{"id": monitor}] * N)
    one_wins(
        bodies, "pauseMonitor", user_error("id", "ALREADY_PAUSED", "Monitor is already paused")
    )
    assert await audit_entries(db, "monitor.paused", monitor) == 1
    assert await transitions(db, monitor) == [("pending", "paused")]


async def test_concurrent_resumes_resume_once(client, db, people):
    monitor = await create(
        client,
        people.alice.secret,
        name="cron",
        type="HEARTBEAT",
        periodSeconds=60,
        graceSeconds=60,
    )
    await mutate(client, people.alice.secret, PAUSE, {"id": monitor}, "pauseMonitor")
    bodies = await burst(client, db, people.alice.secret, RESUME, [{"id": monitor}] * N)
    one_wins(bodies, "resumeMonitor", user_error("id", "NOT_PAUSED", "Monitor is not paused"))
    assert await audit_entries(db, "monitor.resumed", monitor) == 1
    assert await transitions(db, monitor) == [("paused", "pending"), ("pending", "paused")]


async def test_pauses_racing_resumes_alternate_and_each_is_recorded(client, db, people):
    monitor = await create(
        client,
        people.alice.secret,
        name="cron",
        type="HEARTBEAT",
        periodSeconds=60,
        graceSeconds=60,
    )
    calls = [(PAUSE, {"id": monitor}), (RESUME, {"id": monitor})] * (N // 2)
    bodies = await burst_mixed(client, db, people.alice.secret, calls)
    answers = [(document, body) for (document, _), body in zip(calls, bodies, strict=True)]
    paused = len(outcomes([body for d, body in answers if d is PAUSE], "pauseMonitor")[0])
    resumed = len(outcomes([body for d, body in answers if d is RESUME], "resumeMonitor")[0])
    # Whatever the interleaving, a success flips the flag: pauses and resumes alternate.
    assert paused - resumed in (0, 1)
    changes = await transitions(db, monitor)
    assert changes == [("paused", "pending")] * resumed + [("pending", "paused")] * paused
    assert await audit_entries(db, "monitor.paused", monitor) == paused
    async with db() as session:
        assert (await session.get(Monitor, monitor)).paused is (paused > resumed)


async def test_concurrent_updates_of_different_settings_all_stick(client, db, people):
    monitor = await create(
        client, people.alice.secret, name="site", type="HTTP", url="https://example.com/"
    )
    changes = [
        {"url": "https://example.org/health"},
        {"method": "HEAD"},
        {"expectedStatusCodes": [200, 204]},
        {"name": "renamed"},
        {"intervalSeconds": 120},
        {"timeoutSeconds": 15},
    ] * (N // 6)
    variables = [{"id": monitor, "i": each} for each in changes]
    won, lost = outcomes(
        await burst(client, db, people.alice.secret, UPDATE, variables), "updateMonitor"
    )
    assert (len(won), lost) == (N, [])
    async with db() as session:
        row = await session.get(Monitor, monitor)
    assert row.settings == {
        "url": "https://example.org/health",
        "method": "HEAD",
        "expected_status_codes": [200, 204],
        # the defaults, untouched
        "follow_redirects": True,
        "verify_tls": True,
        "confirmations": 2,
        "retry_interval_seconds": 20,
    }
    assert (row.name, row.interval_seconds, row.timeout_seconds) == ("renamed", 120, 15)
    assert await audit_entries(db, "monitor.updated", monitor) == N


async def test_concurrent_deletes_delete_once(client, db, people):
    monitor = await create(
        client, people.alice.secret, name="site", type="HTTP", url="https://example.com/"
    )
    bodies = await burst(client, db, people.alice.secret, DELETE, [{"id": monitor}] * N)
    one_wins(bodies, "deleteMonitor", not_found("Monitor"))
    assert await audit_entries(db, "monitor.deleted", monitor) == 1


async def test_linking_a_service_being_deleted_never_deadlocks(client, db, people):
    # deleteService locks the service, then (ON DELETE SET NULL) its monitors;
    # updateMonitor takes the same order, so neither waits for the other in a cycle.
    key = people.alice.secret
    service = await create_service(client, key, "API")
    monitor = await create(
        client, key, name="site", type="HTTP", url="https://example.com/", serviceId=service
    )
    calls: list[tuple[str, dict[str, Any]]] = [
        (UPDATE, {"id": monitor, "i": {"serviceId": service}}),
        (DELETE_SERVICE, {"id": service}),
    ]
    bodies = await burst_mixed(client, db, key, calls * (N // 2))
    answers = [
        (document, body) for (document, _), body in zip(calls * (N // 2), bodies, strict=True)
    ]
    updates = outcomes([b for d, b in answers if d is UPDATE], "updateMonitor")[1]
    gone = user_error("serviceId", "NOT_FOUND", f"Service not found: {service}")
    assert all(lost == gone for lost in updates)
    one_wins([b for d, b in answers if d is DELETE_SERVICE], "deleteService", not_found("Service"))
