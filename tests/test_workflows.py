"""Workflows (DESIGN §15, issue #20): CRUD rules with their exact userErrors, other
organizations' IDs, scopes, and the engine on real heartbeat transitions: a DOWN opens
an incident from its template and posts to it, the UP resolves it; a duplicated event,
or one handled by two runners at once on PostgreSQL, opens one incident; a failing
action is recorded FAILED and the actions after it still run."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select

from statusgraph.auth.sealed import Sealer
from statusgraph.auth.subscriber_tokens import SubscriberTokens
from statusgraph.checks.guard import Guard
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import AuditEvent, Delivery, Event, Incident, Service
from statusgraph.db.models.workflows import Workflow, WorkflowRun
from statusgraph.notifications.notifier import Notifier
from statusgraph.notifications.transport import Transport
from statusgraph.resolvers import heartbeats
from statusgraph.workflows import engine
from tests.helpers import PEPPER, Personas, create_key, gql

CREATE = """
mutation($input: CreateWorkflowInput!) {
  createWorkflow(input: $input) {
    workflow { id name enabled trigger monitorIds monitorTypes
      actions { type title message impact status services { serviceId status }
                serviceId serviceStatus channelId } }
    userErrors { field code message }
  }
}"""
UPDATE = """
mutation($id: ID!, $input: UpdateWorkflowInput!) {
  updateWorkflow(id: $id, input: $input) {
    workflow { id name enabled trigger actions { type } }
    userErrors { field code message }
  }
}"""
RUN = """
mutation($id: ID!, $input: RunWorkflowInput) {
  runWorkflow(id: $id, input: $input) {
    run { id trigger status monitorId note incidentId actor { type id label }
          actions { type outcome reason incidentId } }
    userErrors { field code message }
  }
}"""
RUNS = """
query($id: ID!) {
  workflowRuns(workflowId: $id) {
    totalCount
    edges { node { trigger status eventId monitorId incidentId actor { type id label }
                   actions { type outcome reason incidentId } } }
  }
}"""


@pytest.fixture
async def notifier(db: SessionFactory, clock: FrozenClock) -> AsyncIterator[Notifier]:
    transport = Transport(Guard(allow_private=True), timeout=5, base_url="https://status.test")
    made = Notifier(
        db, transport, Sealer(PEPPER.encode()), SubscriberTokens(PEPPER.encode()), clock=clock
    )
    yield made
    await transport.close()


async def data(client: httpx.AsyncClient, query: str, variables: dict[str, Any], key: str) -> Any:
    body = (await gql(client, query, variables, key=key)).json()
    assert "errors" not in body, body
    return body["data"]


async def service(client: httpx.AsyncClient, key: str, name: str = "API") -> str:
    query = "mutation($i: CreateServiceInput!) { createService(input: $i) { service { id } } }"
    return str(
        (await data(client, query, {"i": {"name": name}}, key))["createService"]["service"]["id"]
    )


async def heartbeat(client: httpx.AsyncClient, key: str, name: str = "nightly backup") -> str:
    query = """mutation($i: CreateMonitorInput!) {
      createMonitor(input: $i) { monitor { id } userErrors { message } } }"""
    variables = {
        "i": {"name": name, "type": "HEARTBEAT", "periodSeconds": 3600, "graceSeconds": 300}
    }
    return str((await data(client, query, variables, key))["createMonitor"]["monitor"]["id"])


async def channel(client: httpx.AsyncClient, key: str, *, enabled: bool = True) -> str:
    query = """mutation($i: CreateNotificationChannelInput!) {
      createNotificationChannel(input: $i) { notificationChannel { id } } }"""
    # A closed port on loopback: the delivery is attempted, refused, and retried later.
    variables = {
        "i": {"name": "ops", "kind": "WEBHOOK", "url": "http://127.0.0.1:9/", "enabled": enabled}
    }
    return str(
        (await data(client, query, variables, key))["createNotificationChannel"][
            "notificationChannel"
        ]["id"]
    )


async def create(client: httpx.AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await data(client, CREATE, {"input": fields}, key))["createWorkflow"]
    return payload


async def ping(client: httpx.AsyncClient, key: str, monitor_id: str) -> None:
    response = await client.post(f"/api/heartbeat/{monitor_id}", headers={"X-API-Key": key})
    assert response.status_code == 200, response.text


async def goes_down(db: SessionFactory, clock: FrozenClock, monitors: int = 1) -> None:
    """Past the period and the grace time: the heartbeat evaluator records DOWN."""
    clock.advance(seconds=3600 + 300 + 1)
    async with db.begin() as session:
        assert await heartbeats.evaluate_due(session, now=clock()) == monitors


async def count(db: SessionFactory, model: Any) -> int:
    async with db() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


OPEN = {
    "type": "OPEN_INCIDENT",
    "title": "{monitor.name} is down",
    "message": "{monitor.name} ({monitor.type}) failed: {reason}",
    "impact": "MAJOR",
}


async def test_a_monitor_going_down_opens_an_incident_posts_and_recovery_resolves_it(
    client: httpx.AsyncClient,
    db: SessionFactory,
    people: Personas,
    clock: FrozenClock,
    notifier: Notifier,
) -> None:
    key = people.alice.secret
    api = await service(client, key)
    monitor = await heartbeat(client, key)
    other = await heartbeat(client, key, name="other")
    down = await create(
        client,
        key,
        name="Auto-incident",
        trigger="MONITOR_DOWN",
        monitorIds=[monitor],
        actions=[
            OPEN | {"services": [{"serviceId": api, "status": "MAJOR_OUTAGE"}]},
            {
                "type": "POST_UPDATE",
                "message": "Paging the on-call engineer",
                "status": "IDENTIFIED",
            },
        ],
    )
    assert down["userErrors"] == []
    up = await create(
        client,
        key,
        name="Auto-resolve",
        trigger="MONITOR_UP",
        monitorTypes=["HEARTBEAT"],
        actions=[{"type": "RESOLVE_INCIDENT", "message": "{monitor.name} is back: {reason}"}],
    )
    await ping(client, key, monitor)
    await ping(client, key, other)
    await goes_down(db, clock, monitors=2)  # both go down; only `monitor` is in the filter
    await notifier.run_once()

    async with db() as session:
        [incident] = (await session.exec(select(Incident))).all()
        [run] = (await session.exec(select(WorkflowRun))).all()
    assert incident.title == "nightly backup is down"
    assert (incident.status, incident.impact) == ("identified", "major")
    assert run.incident_id == incident.id
    assert run.monitor_id == monitor
    query = """query($id: ID!) { incident(id: $id) {
      affectedServices { status service { id } } updates { status message author { type id label } } } }"""
    shown = (await data(client, query, {"id": incident.id}, key))["incident"]
    assert shown["affectedServices"] == [{"status": "MAJOR_OUTAGE", "service": {"id": api}}]
    assert [(u["status"], u["message"]) for u in shown["updates"]] == [
        ("INVESTIGATING", "nightly backup (HEARTBEAT) failed: no ping within the grace time"),
        ("IDENTIFIED", "Paging the on-call engineer"),
    ]
    assert shown["updates"][0]["author"] == {
        "type": "SYSTEM",
        "id": down["workflow"]["id"],
        "label": "workflow Auto-incident",
    }
    runs = (await data(client, RUNS, {"id": down["workflow"]["id"]}, key))["workflowRuns"]
    assert runs["totalCount"] == 1
    [node] = [edge["node"] for edge in runs["edges"]]
    assert node["trigger"] == "MONITOR_DOWN"
    assert node["status"] == "SUCCEEDED"
    assert node["eventId"] is not None
    assert node["incidentId"] == incident.id
    assert node["actor"]["type"] == "SYSTEM"
    assert node["actions"] == [
        {"type": "OPEN_INCIDENT", "outcome": "OK", "reason": None, "incidentId": incident.id},
        {"type": "POST_UPDATE", "outcome": "OK", "reason": None, "incidentId": incident.id},
    ]

    clock.advance(seconds=10)
    await ping(client, key, monitor)  # UP again
    await notifier.run_once()
    async with db() as session:
        resolved = await session.get(Incident, incident.id)
        assert resolved is not None
        assert resolved.resolved_at == clock()
        assert (await session.get(Service, api)).status == "operational"  # type: ignore[union-attr]
        audited = (
            await session.exec(
                select(AuditEvent.action, AuditEvent.actor_type, AuditEvent.actor_label)
                .where(col(AuditEvent.actor_label).startswith("workflow "))
                .order_by(col(AuditEvent.created_at), col(AuditEvent.id))
            )
        ).all()
    assert [tuple(row) for row in audited] == [
        ("incident.created", "system", "workflow Auto-incident"),
        ("incident.updated", "system", "workflow Auto-incident"),
        ("incident.resolved", "system", "workflow Auto-resolve"),
    ]
    runs = (await data(client, RUNS, {"id": up["workflow"]["id"]}, key))["workflowRuns"]
    [node] = [edge["node"] for edge in runs["edges"]]
    assert node["trigger"] == "MONITOR_UP"
    assert node["actions"] == [
        {"type": "RESOLVE_INCIDENT", "outcome": "OK", "reason": None, "incidentId": incident.id}
    ]
    query = """query($id: ID!) { incident(id: $id) { status updates { status message } } }"""
    shown = (await data(client, query, {"id": incident.id}, key))["incident"]
    assert shown["status"] == "RESOLVED"
    assert shown["updates"][-1] == {
        "status": "RESOLVED",
        "message": "nightly backup is back: ping",
    }


async def test_a_run_acts_on_the_incident_it_opened_and_a_later_run_opens_anew(
    client: httpx.AsyncClient,
    db: SessionFactory,
    people: Personas,
    clock: FrozenClock,
    notifier: Notifier,
) -> None:
    """OPEN_INCIDENT then RESOLVE_INCIDENT in one run; run again by hand for the same
    monitor, it finds its incident resolved and opens a new one."""
    key = people.alice.secret
    monitor = await heartbeat(client, key)
    flow = await create(
        client,
        key,
        name="Both",
        trigger="MONITOR_DOWN",
        actions=[OPEN, {"type": "RESOLVE_INCIDENT"}],
    )
    await ping(client, key, monitor)
    await goes_down(db, clock)
    await notifier.run_once()
    async with db() as session:
        [incident] = (await session.exec(select(Incident))).all()
    assert incident.resolved_at is not None  # opened, then resolved in the same run
    run = (
        await data(
            client, RUN, {"id": flow["workflow"]["id"], "input": {"monitorId": monitor}}, key
        )
    )["runWorkflow"]
    assert run["userErrors"] == []
    assert [a["outcome"] for a in run["run"]["actions"]] == ["OK", "OK"]
    assert await count(db, Incident) == 2  # the first was resolved: a new one opens


async def test_a_duplicated_event_opens_one_incident(
    client: httpx.AsyncClient,
    db: SessionFactory,
    people: Personas,
    clock: FrozenClock,
    notifier: Notifier,
) -> None:
    key = people.alice.secret
    monitor = await heartbeat(client, key)
    await create(client, key, name="Auto", trigger="MONITOR_DOWN", actions=[OPEN])
    await ping(client, key, monitor)
    await goes_down(db, clock)
    await notifier.run_once()
    async with db.begin() as session:  # the event is handed over again
        [event] = (await session.exec(select(Event).where(Event.type == "monitor.down"))).all()
        event.dispatched_at = None
        session.add(event)
    await notifier.run_once()
    async with db.begin() as session:  # and straight to the engine, twice
        again = await session.get(Event, event.id)
        assert again is not None
        assert await engine.on_events(session, [again, again], now=clock()) == 0
    assert await count(db, Incident) == 1
    assert await count(db, WorkflowRun) == 1


async def test_two_runners_handling_one_event_at_once_open_one_incident(
    client: httpx.AsyncClient,
    db: SessionFactory,
    people: Personas,
    clock: FrozenClock,
    database_url: str,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one write transaction at a time")
    key = people.alice.secret
    monitor = await heartbeat(client, key)
    await create(client, key, name="Auto", trigger="MONITOR_DOWN", actions=[OPEN])
    await ping(client, key, monitor)
    await goes_down(db, clock)
    async with db() as session:
        [event] = (await session.exec(select(Event).where(Event.type == "monitor.down"))).all()
    first_in = asyncio.Event()
    ran: list[int] = []

    async def first() -> None:
        async with db.begin() as session:
            ran.append(await engine.on_events(session, [event], now=clock()))
            first_in.set()
            await asyncio.sleep(0.3)  # the second runner is waiting on us meanwhile

    async def second() -> None:
        await first_in.wait()
        async with db.begin() as session:
            ran.append(await engine.on_events(session, [event], now=clock()))

    await asyncio.wait_for(asyncio.gather(first(), second()), timeout=10)
    assert ran == [1, 0]
    assert await count(db, Incident) == 1
    assert await count(db, WorkflowRun) == 1


async def test_a_failing_action_is_recorded_and_the_next_ones_still_run(
    client: httpx.AsyncClient, db: SessionFactory, people: Personas
) -> None:
    key = people.alice.secret
    api = await service(client, key)
    off = await channel(client, key, enabled=False)
    flow = await create(
        client,
        key,
        name="Mixed",
        trigger="MANUAL",
        actions=[
            {"type": "NOTIFY_CHANNEL", "channelId": off, "message": "hello"},
            {"type": "POST_UPDATE", "message": "no incident yet"},
            {"type": "SET_SERVICE_STATUS", "serviceId": api, "serviceStatus": "PARTIAL_OUTAGE"},
        ],
    )
    run = (
        await data(client, RUN, {"id": flow["workflow"]["id"], "input": {"note": "drill"}}, key)
    )["runWorkflow"]
    assert run["userErrors"] == []
    assert run["run"]["status"] == "FAILED"
    assert run["run"]["note"] == "drill"
    assert run["run"]["trigger"] == "MANUAL"
    assert run["run"]["actor"] == {"type": "API_KEY", "id": people.alice.key_id, "label": "alice"}
    assert run["run"]["actions"] == [
        {
            "type": "NOTIFY_CHANNEL",
            "outcome": "FAILED",
            "reason": "The channel is disabled",
            "incidentId": None,
        },
        {
            "type": "POST_UPDATE",
            "outcome": "SKIPPED",
            "reason": engine.NO_INCIDENT,
            "incidentId": None,
        },
        {"type": "SET_SERVICE_STATUS", "outcome": "OK", "reason": None, "incidentId": None},
    ]
    async with db() as session:
        assert (await session.get(Service, api)).status == "partial_outage"  # type: ignore[union-attr]
        assert (
            await session.exec(
                select(func.count()).select_from(Event).where(Event.type == "workflow.notification")
            )
        ).one() == 0
        actions = (
            await session.exec(
                select(AuditEvent.action, AuditEvent.actor_label).order_by(
                    col(AuditEvent.created_at), col(AuditEvent.id)
                )
            )
        ).all()
    assert sorted(tuple(a) for a in actions if a[0] in ("service.updated", "workflow.run")) == [
        ("service.updated", "workflow Mixed"),
        ("workflow.run", "alice"),
    ]


async def test_notify_channel_delivers_through_the_channel(
    client: httpx.AsyncClient,
    db: SessionFactory,
    people: Personas,
    clock: FrozenClock,
    notifier: Notifier,
) -> None:
    key = people.alice.secret
    ops = await channel(client, key)
    monitor = await heartbeat(client, key, name="{reason}")
    await create(
        client,
        key,
        name="Tell ops",
        trigger="MONITOR_DOWN",
        actions=[
            {
                "type": "NOTIFY_CHANNEL",
                "channelId": ops,
                "message": "{monitor.name} / {reason} / {unknown",
            }
        ],
    )
    await ping(client, key, monitor)
    await goes_down(db, clock)
    await notifier.run_once()
    async with db() as session:
        [event] = (
            await session.exec(select(Event).where(Event.type == "workflow.notification"))
        ).all()
        deliveries = (
            await session.exec(select(Delivery).where(Delivery.event_id == event.id))
        ).all()
    # Plain substitution: a value is never read as a template again.
    assert event.data["message"].startswith("{reason} / ")
    assert event.data["message"].endswith(" / {unknown")
    assert [(d.channel_id, d.attempts) for d in deliveries] == [(ops, 1)]


# --- CRUD rules ---------------------------------------------------------------------


async def test_create_returns_the_workflow_as_stored(
    client: httpx.AsyncClient, people: Personas
) -> None:
    key = people.alice.secret
    api = await service(client, key)
    monitor = await heartbeat(client, key)
    created = await create(
        client,
        key,
        name="  Auto  ",
        trigger="MONITOR_DOWN",
        monitorIds=[monitor],
        monitorTypes=["HEARTBEAT", "HTTP"],
        actions=[
            OPEN | {"services": [{"serviceId": api, "status": "PARTIAL_OUTAGE"}]},
            {
                "type": "SET_SERVICE_STATUS",
                "serviceId": api,
                "serviceStatus": "DEGRADED_PERFORMANCE",
            },
        ],
    )
    assert created["userErrors"] == []
    workflow = created["workflow"]
    assert workflow["name"] == "Auto"
    assert workflow["enabled"] is True
    assert workflow["monitorIds"] == [monitor]
    assert workflow["monitorTypes"] == ["HEARTBEAT", "HTTP"]
    assert workflow["actions"][0] == {
        "type": "OPEN_INCIDENT",
        "title": "{monitor.name} is down",
        "message": "{monitor.name} ({monitor.type}) failed: {reason}",
        "impact": "MAJOR",
        "status": "INVESTIGATING",
        "services": [{"serviceId": api, "status": "PARTIAL_OUTAGE"}],
        "serviceId": None,
        "serviceStatus": None,
        "channelId": None,
    }
    assert workflow["actions"][1]["serviceStatus"] == "DEGRADED_PERFORMANCE"
    assert workflow["actions"][1]["status"] is None
    listed = await data(client, "{ workflows { totalCount edges { node { id } } } }", {}, key)
    assert listed["workflows"]["totalCount"] == 1


NOTIFY = {"type": "NOTIFY_CHANNEL", "message": "m"}


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"name": " "}, [("name", "INVALID", "Name must be 1 to 200 characters")]),
        ({"name": "n" * 201}, [("name", "INVALID", "Name must be 1 to 200 characters")]),
        ({"actions": []}, [("actions", "INVALID", "A workflow has 1 to 10 actions")]),
        (
            {"actions": [{"type": "RESOLVE_INCIDENT"}] * 11},
            [("actions", "INVALID", "A workflow has 1 to 10 actions")],
        ),
        (
            {"trigger": "MANUAL", "monitorTypes": ["HTTP"]},
            [("monitorIds", "INVALID", "Monitor filters apply to monitor triggers only")],
        ),
        (
            {"monitorTypes": ["HTTP", "HTTP"]},
            [("monitorTypes", "DUPLICATE", "monitorTypes lists the same type twice")],
        ),
        (
            {"actions": [{"type": "OPEN_INCIDENT"}]},
            [
                ("actions.0.title", "REQUIRED", "title is required"),
                ("actions.0.message", "REQUIRED", "message is required"),
            ],
        ),
        (
            {"actions": [OPEN | {"title": "t" * 201, "message": "m" * 2001}]},
            [
                ("actions.0.title", "INVALID", "title must be 1 to 200 characters"),
                ("actions.0.message", "INVALID", "message must be 1 to 2000 characters"),
            ],
        ),
        (
            {"actions": [OPEN | {"title": "{monitor.nmae} down", "status": "RESOLVED"}]},
            [
                (
                    "actions.0.title",
                    "INVALID",
                    "Unknown placeholder {monitor.nmae}; use {monitor.id}, {monitor.name}, "
                    "{monitor.type}, {monitor.url}, {reason}, {note}, {workflow.name}",
                ),
                ("actions.0.status", "INVALID", "An incident cannot open RESOLVED"),
            ],
        ),
        (
            {
                "actions": [
                    {"type": "RESOLVE_INCIDENT"},
                    {"type": "POST_UPDATE", "message": "m", "status": "RESOLVED"},
                ]
            },
            [("actions.1.status", "INVALID", "Use a RESOLVE_INCIDENT action to resolve")],
        ),
        (
            {"actions": [{"type": "RESOLVE_INCIDENT", "message": " "}]},
            [("actions.0.message", "INVALID", "message must be 1 to 2000 characters")],
        ),
        (
            {"actions": [{"type": "SET_SERVICE_STATUS"}, NOTIFY]},
            [
                ("actions.0.serviceId", "REQUIRED", "serviceId is required"),
                ("actions.0.serviceStatus", "REQUIRED", "serviceStatus is required"),
                ("actions.1.channelId", "REQUIRED", "channelId is required"),
            ],
        ),
        (
            {"actions": [NOTIFY | {"channelId": "nch_missing", "message": ""}]},
            [
                ("actions.0.channelId", "NOT_FOUND", "NotificationChannel not found: nch_missing"),
                ("actions.0.message", "REQUIRED", "message is required"),
            ],
        ),
    ],
)
async def test_create_rules(
    client: httpx.AsyncClient,
    db: SessionFactory,
    people: Personas,
    fields: dict[str, Any],
    errors: list[tuple[str, str, str]],
) -> None:
    base = {"name": "Auto", "trigger": "MONITOR_DOWN", "actions": [{"type": "RESOLVE_INCIDENT"}]}
    payload = await create(client, people.alice.secret, **(base | fields))
    assert payload["workflow"] is None
    assert [(e["field"], e["code"], e["message"]) for e in payload["userErrors"]] == errors
    assert await count(db, Workflow) == 0
    async with db() as session:
        assert (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "workflow.created"))
        ).all() == []


async def test_another_organizations_ids_are_not_found(
    client: httpx.AsyncClient, db: SessionFactory, people: Personas
) -> None:
    theirs = people.charlie.secret
    svc, mon, nch = (
        await service(client, theirs),
        await heartbeat(client, theirs),
        await channel(client, theirs),
    )
    payload = await create(
        client,
        people.alice.secret,
        name="Auto",
        trigger="MONITOR_DOWN",
        monitorIds=[mon],
        actions=[
            OPEN | {"services": [{"serviceId": svc, "status": "MAJOR_OUTAGE"}]},
            {"type": "SET_SERVICE_STATUS", "serviceId": svc, "serviceStatus": "MAJOR_OUTAGE"},
            NOTIFY | {"channelId": nch},
        ],
    )
    assert [(e["field"], e["code"], e["message"]) for e in payload["userErrors"]] == [
        ("monitorIds", "NOT_FOUND", f"Monitor not found: {mon}"),
        ("actions.0.services", "NOT_FOUND", f"Service not found: {svc}"),
        ("actions.1.serviceId", "NOT_FOUND", f"Service not found: {svc}"),
        ("actions.2.channelId", "NOT_FOUND", f"NotificationChannel not found: {nch}"),
    ]
    assert await count(db, Workflow) == 0
    # And charlie's workflow is alice's NOT_FOUND everywhere.
    charlies = (
        await create(
            client, theirs, name="C", trigger="MANUAL", actions=[{"type": "RESOLVE_INCIDENT"}]
        )
    )["workflow"]["id"]
    key = people.alice.secret
    for query, variables in [
        ("query($id: ID!) { workflow(id: $id) { id } }", {"id": charlies}),
        ("query($id: ID!) { workflowRuns(workflowId: $id) { totalCount } }", {"id": charlies}),
        (UPDATE, {"id": charlies, "input": {"name": "mine"}}),
        ("mutation($id: ID!) { deleteWorkflow(id: $id) { deletedId } }", {"id": charlies}),
        (RUN, {"id": charlies}),
    ]:
        body = (await gql(client, query, variables, key=key)).json()
        assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
            ("Workflow not found", "NOT_FOUND")
        ], query
    # A monitor of another organization given to runWorkflow.
    mine = (
        await create(
            client, key, name="M", trigger="MANUAL", actions=[{"type": "RESOLVE_INCIDENT"}]
        )
    )["workflow"]["id"]
    run = (await data(client, RUN, {"id": mine, "input": {"monitorId": mon}}, key))["runWorkflow"]
    assert run == {
        "run": None,
        "userErrors": [
            {"field": "monitorId", "code": "NOT_FOUND", "message": f"Monitor not found: {mon}"}
        ],
    }
    assert await count(db, WorkflowRun) == 0


async def test_update_rules_and_delete(
    client: httpx.AsyncClient, db: SessionFactory, people: Personas
) -> None:
    key = people.alice.secret
    flow = (await create(client, key, name="Auto", trigger="MONITOR_DOWN", actions=[OPEN]))[
        "workflow"
    ]["id"]
    rejected = (
        await data(
            client,
            UPDATE,
            {"id": flow, "input": {"trigger": "MANUAL", "monitorTypes": ["TCP"], "enabled": None}},
            key,
        )
    )["updateWorkflow"]
    assert [(e["field"], e["code"], e["message"]) for e in rejected["userErrors"]] == [
        ("enabled", "INVALID", "enabled must not be null")
    ]
    rejected = (
        await data(
            client,
            UPDATE,
            {"id": flow, "input": {"trigger": "MANUAL", "monitorTypes": ["TCP"]}},
            key,
        )
    )["updateWorkflow"]
    assert [e["message"] for e in rejected["userErrors"]] == [
        "Monitor filters apply to monitor triggers only"
    ]
    changed = (
        await data(
            client,
            UPDATE,
            {
                "id": flow,
                "input": {
                    "name": "Renamed",
                    "enabled": False,
                    "actions": [{"type": "RESOLVE_INCIDENT"}],
                },
            },
            key,
        )
    )["updateWorkflow"]
    assert changed == {
        "workflow": {
            "id": flow,
            "name": "Renamed",
            "enabled": False,
            "trigger": "MONITOR_DOWN",
            "actions": [{"type": "RESOLVE_INCIDENT"}],
        },
        "userErrors": [],
    }
    run = (await data(client, RUN, {"id": flow}, key))["runWorkflow"]
    assert run["userErrors"] == [
        {
            "field": "id",
            "code": "WORKFLOW_DISABLED",
            "message": "The workflow is disabled: enable it first",
        }
    ]
    deleted = await data(
        client,
        "mutation($id: ID!) { deleteWorkflow(id: $id) { deletedId userErrors { code } } }",
        {"id": flow},
        key,
    )
    assert deleted["deleteWorkflow"] == {"deletedId": flow, "userErrors": []}
    async with db() as session:
        actions = (
            await session.exec(
                select(AuditEvent.action)
                .where(col(AuditEvent.action).startswith("workflow."))
                .order_by(col(AuditEvent.created_at), col(AuditEvent.id))
            )
        ).all()
    assert sorted(actions) == ["workflow.created", "workflow.deleted", "workflow.updated"]


async def test_scopes(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, people: Personas
) -> None:
    org = people.alice.organization
    reader = (await create_key(db, clock, org, scopes=["config:read"])).secret
    editor = (await create_key(db, clock, org, scopes=["config:write"])).secret
    runner = (await create_key(db, clock, org, scopes=["workflows:write"])).secret
    flow = (
        await create(
            client,
            people.alice.secret,
            name="Auto",
            trigger="MANUAL",
            actions=[{"type": "RESOLVE_INCIDENT"}],
        )
    )["workflow"]["id"]
    fields = {"name": "X", "trigger": "MANUAL", "actions": [{"type": "RESOLVE_INCIDENT"}]}
    for key, query, variables, scope in [
        (runner, "{ workflows { totalCount } }", {}, "config:read"),
        (
            runner,
            "query($id: ID!) { workflowRuns(workflowId: $id) { totalCount } }",
            {"id": flow},
            "config:read",
        ),
        (reader, CREATE, {"input": fields}, "config:write"),
        (runner, UPDATE, {"id": flow, "input": {"name": "Y"}}, "config:write"),
        (
            reader,
            "mutation($id: ID!) { deleteWorkflow(id: $id) { deletedId } }",
            {"id": flow},
            "config:write",
        ),
        (editor, RUN, {"id": flow}, "workflows:write"),
    ]:
        response = await gql(client, query, variables, key=key)
        [error] = response.json()["errors"]
        assert (error["message"], error["extensions"]["code"]) == (
            f"Insufficient scope: {scope} required",
            "FORBIDDEN",
        )
    assert (await data(client, "{ workflows { totalCount } }", {}, reader))["workflows"][
        "totalCount"
    ] == 1
    assert await count(db, WorkflowRun) == 0
    run = (await data(client, RUN, {"id": flow}, runner))["runWorkflow"]
    assert run["run"]["status"] == "SUCCEEDED"
    assert run["run"]["actions"] == [
        {
            "type": "RESOLVE_INCIDENT",
            "outcome": "SKIPPED",
            "reason": engine.NO_INCIDENT,
            "incidentId": None,
        }
    ]
