"""Runs workflows: on a monitor's DOWN or UP event, and by hand (`runWorkflow`).

**Where event runs happen.** A step of the dispatcher's fan-out (notifications/
dispatcher.py), in its transaction: the fan-out has claimed the batch's events (on
PostgreSQL `FOR UPDATE SKIP LOCKED`, so two workers take different events; on SQLite the
write transaction is the lock), and a run's actions, its run row and the events they
write (incident.created, ...) commit together with the stamp that the event was
dispatched, or not at all: a worker killed half-way leaves the event undispatched, with
no run and no incident, and the next worker does it all.

**Idempotent on the event.** Before any action, the run claims its row: an insert of
(workflow_id, event_id) under a unique constraint, ON CONFLICT DO NOTHING. An event
handled again (re-delivered, or its dispatch stamp lost) finds the row and runs
nothing; two transactions handling the same event at once (which the fan-out's lock
already prevents, but a re-delivery need not go through it) meet on the unique index: the
second waits for the first to commit, then finds the row. And each run locks its
workflow row first, so the runs of one workflow follow one another: "is an incident of
this workflow for this monitor open?" is answered after the previous run committed.

**A failing action** is recorded FAILED with its reason, its writes undone (a savepoint
per action), and the actions after it still run: a notification that cannot be sent must
not keep an incident from being resolved. Actions that need an incident (POST_UPDATE,
RESOLVE_INCIDENT) are SKIPPED when no workflow has one open for the monitor. The run
is FAILED when any action failed.

Every change an action makes is audited with the workflow as its actor: type `system`,
id the workflow's, label `workflow <name>`.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Actor, Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import Delivery, Incident, Monitor, NotificationChannel
from statusgraph.db.models.workflows import Workflow, WorkflowRun
from statusgraph.db.scoping import owned_by
from statusgraph.errors import NotFoundError, StatusGraphError
from statusgraph.events import outbox
from statusgraph.events.outbox import EventType
from statusgraph.ids import new_id
from statusgraph.resolvers import audit, incidents, services
from statusgraph.resolvers.locks import Lock
from statusgraph.resolvers.owned import check_references, owned_by_ids, require_owned
from statusgraph.resolvers.user_errors import Problems, UserInputError
from statusgraph.resolvers.vocabulary import IncidentImpact, IncidentStatus, ServiceStatus
from statusgraph.resolvers.workflows import (
    MAX_MESSAGE,
    ActionType,
    Outcome,
    RunStatus,
    TriggerKind,
)
from statusgraph.workflows.templates import render

logger = logging.getLogger("statusgraph.workflows")

RUNS: Table = WorkflowRun.__table__  # type: ignore[attr-defined]
TRIGGERS = {
    EventType.MONITOR_DOWN: TriggerKind.MONITOR_DOWN,
    EventType.MONITOR_UP: TriggerKind.MONITOR_UP,
}
NO_INCIDENT = "No incident opened by a workflow for this monitor is open"


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: TriggerKind
    monitor_id: str | None
    reason: str
    event_id: str | None = None
    note: str | None = None


@dataclass(slots=True)
class Running:
    """One run's state while its actions run."""

    workflow: Workflow
    trigger: Trigger
    principal: Principal  # the workflow itself, as the actor of what it changes
    values: dict[str, str]
    now: datetime
    opened: str | None = None  # the incident this run opened
    outcomes: list[dict[str, Any]] = field(default_factory=list)


def acting_as(workflow: Workflow) -> Principal:
    return Principal(
        kind="system",
        id=workflow.id,
        name=f"workflow {workflow.name}"[:200],
        organization_id=workflow.organization_id,
        plan="",
        scopes=frozenset({"*:*"}),
        expires_at=None,
        sandbox=False,
    )


def _target(settings: dict[str, Any]) -> str:
    """What a monitor watches, as people read it (as notifications show it)."""
    if "url" in settings:
        return str(settings["url"])
    if "port" in settings and "host" in settings:
        return f"{settings['host']}:{settings['port']}"
    return str(settings.get("host") or settings.get("domain") or "")


def _values(workflow: Workflow, monitor: Monitor | None, trigger: Trigger) -> dict[str, str]:
    return {
        "monitor.id": monitor.id if monitor else "",
        "monitor.name": monitor.name if monitor else "",
        "monitor.type": monitor.type.upper() if monitor else "",
        "monitor.url": _target(monitor.settings) if monitor else "",
        "reason": trigger.reason,
        "note": trigger.note or "",
        "workflow.name": workflow.name,
    }


async def on_events(session: AsyncSession, events: Sequence[Any], *, now: datetime) -> int:
    """Runs the workflows each monitor DOWN/UP event of `events` (rows of the event
    table, oldest first) triggers; returns how many runs it made. A DOWN reminder
    ("still down") is no transition and triggers nothing."""
    wanted = [
        event
        for event in events
        if event.type in TRIGGERS and event.monitor_id and not event.data.get("reminder")
    ]
    if not wanted:
        return 0
    workflows = (
        await session.exec(
            select(Workflow)
            .where(
                col(Workflow.organization_id).in_({event.organization_id for event in wanted}),
                col(Workflow.enabled).is_(True),
                col(Workflow.trigger).in_([kind.value for kind in TRIGGERS.values()]),
            )
            .order_by(col(Workflow.created_at), col(Workflow.id))
        )
    ).all()
    if not workflows:
        return 0
    monitors = {
        monitor.id: monitor
        for monitor in (
            await session.exec(
                select(Monitor).where(col(Monitor.id).in_({event.monitor_id for event in wanted}))
            )
        ).all()
    }
    ran = 0
    for event in wanted:
        kind = TRIGGERS[EventType(event.type)]
        monitor = monitors.get(event.monitor_id)
        for workflow in workflows:
            if workflow.organization_id != event.organization_id or workflow.trigger != kind:
                continue
            if workflow.monitor_ids and event.monitor_id not in workflow.monitor_ids:
                continue
            if workflow.monitor_types and (
                monitor is None or monitor.type not in workflow.monitor_types
            ):
                continue
            trigger = Trigger(
                kind=kind,
                monitor_id=event.monitor_id,
                reason=str(event.data.get("reason", "")),
                event_id=event.id,
            )
            if await run(session, workflow.organization_id, workflow.id, trigger, now=now):
                ran += 1
    return ran


async def run(
    session: AsyncSession,
    organization_id: str,
    workflow_id: str,
    trigger: Trigger,
    *,
    now: datetime,
    caller: Actor | None = None,
) -> WorkflowRun | None:
    """Runs a workflow once for `trigger`; None when this event already ran it (or the
    workflow was deleted, or disabled, meanwhile). `caller`: who asked for a manual run."""
    found = await owned_by_ids(session, Workflow, organization_id, [workflow_id], lock=Lock.UPDATE)
    workflow = found.get(workflow_id)
    if workflow is None or (caller is None and not workflow.enabled):
        return None
    actor = caller or acting_as(workflow).actor
    row: dict[str, Any] = {
        "id": new_id("wfr"),
        "organization_id": organization_id,
        "workflow_id": workflow.id,
        "event_id": trigger.event_id,
        "trigger": trigger.kind.value,
        "monitor_id": trigger.monitor_id,
        "note": trigger.note,
        "status": RunStatus.SUCCEEDED.value,
        "outcomes": [],
        "incident_id": None,
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_label": actor.label,
        "created_at": now,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    claimed = (
        await session.exec(
            dialect.insert(RUNS)
            .values(row)
            .on_conflict_do_nothing(index_elements=["workflow_id", "event_id"])
            .returning(RUNS.c.id)
        )
    ).first()
    if claimed is None:
        return None
    monitor = None
    if trigger.monitor_id is not None:
        monitor = (await owned_by_ids(session, Monitor, organization_id, [trigger.monitor_id])).get(
            trigger.monitor_id
        )
    running = Running(
        workflow=workflow,
        trigger=trigger,
        principal=acting_as(workflow),
        values=_values(workflow, monitor, trigger),
        now=now,
    )
    for index, action in enumerate(workflow.actions):
        # A microsecond apart: what the actions write (an incident's timeline) reads in
        # their order, though the run has one clock reading.
        running.now = now + timedelta(microseconds=index)
        running.outcomes.append(await _attempt(session, running, action))
    failed = any(outcome["outcome"] == Outcome.FAILED for outcome in running.outcomes)
    result = await session.get(WorkflowRun, row["id"])
    assert result is not None
    result.outcomes = running.outcomes
    result.status = (RunStatus.FAILED if failed else RunStatus.SUCCEEDED).value
    result.incident_id = running.opened
    session.add(result)
    await session.flush()
    return result


async def _attempt(
    session: AsyncSession, running: Running, action: dict[str, Any]
) -> dict[str, Any]:
    done: dict[str, Any] = {"type": action["type"], "outcome": Outcome.OK.value}
    try:
        async with session.begin_nested():
            outcome, reason, incident_id = await _act(session, running, action)
    except UserInputError as error:
        outcome, reason, incident_id = Outcome.FAILED, str(error), None
    except StatusGraphError as error:
        outcome, reason, incident_id = Outcome.FAILED, error.message, None
    except Exception:  # a bug must not stop the dispatcher: the run records it
        logger.exception("workflows: action %s of %s failed", action["type"], running.workflow.id)
        outcome, reason, incident_id = Outcome.FAILED, "Unexpected error", None
    done["outcome"] = outcome.value
    done["reason"] = reason
    done["incidentId"] = incident_id
    return done


async def _open_incident(session: AsyncSession, running: Running) -> str | None:
    """The incident POST_UPDATE and RESOLVE_INCIDENT act on: the one this run opened, else
    the newest still open that a workflow of the organization opened for the trigger's
    monitor (so one workflow on DOWN opens it, and another on UP resolves it). A manual
    run without a monitor finds only its own workflow's."""
    if running.opened is not None:
        return running.opened
    monitor = col(WorkflowRun.monitor_id)
    workflow = running.workflow
    statement = (
        select(WorkflowRun.incident_id)
        .join(Incident, col(Incident.id) == col(WorkflowRun.incident_id))
        .where(
            owned_by(WorkflowRun, workflow.organization_id),
            col(Incident.resolved_at).is_(None),
        )
        .order_by(col(WorkflowRun.created_at).desc(), col(WorkflowRun.id).desc())
        .limit(1)
    )
    if running.trigger.monitor_id is None:
        statement = statement.where(monitor.is_(None), col(WorkflowRun.workflow_id) == workflow.id)
    else:
        statement = statement.where(monitor == running.trigger.monitor_id)
    return (await session.exec(statement)).first()


Acted = tuple[Outcome, str | None, str | None]


async def _act(session: AsyncSession, running: Running, action: dict[str, Any]) -> Acted:
    kind = ActionType(action["type"])
    now, principal = running.now, running.principal

    def text(name: str, limit: int) -> str:
        return render(action.get(name) or "", running.values, limit=limit)

    if kind is ActionType.OPEN_INCIDENT:
        already = await _open_incident(session, running)
        if already is not None:
            return Outcome.SKIPPED, f"Incident {already} opened for this monitor is open", already
        incident = await incidents.create_incident(
            session,
            principal,
            title=text("title", incidents.MAX_TITLE),
            status=IncidentStatus(action["status"]),
            impact=IncidentImpact(action["impact"]),
            message=text("message", incidents.MAX_MESSAGE),
            effects=[
                incidents.ServiceEffect(item["serviceId"], ServiceStatus(item["status"]))
                for item in action["services"]
            ],
            started_at=None,
            request=RequestInfo(),
            now=now,
        )
        running.opened = incident.id
        return Outcome.OK, None, incident.id
    if kind in (ActionType.POST_UPDATE, ActionType.RESOLVE_INCIDENT):
        incident_id = await _open_incident(session, running)
        if incident_id is None:
            return Outcome.SKIPPED, NO_INCIDENT, None
        resolving = kind is ActionType.RESOLVE_INCIDENT
        await incidents.post_update(
            session,
            principal,
            incident_id=incident_id,
            status=IncidentStatus.RESOLVED if resolving else IncidentStatus(action["status"]),
            message=text("message", incidents.MAX_MESSAGE)
            or (incidents.RESOLVED_MESSAGE if resolving else ""),
            effects=[],
            request=RequestInfo(),
            now=now,
        )
        return Outcome.OK, None, incident_id
    if kind is ActionType.SET_SERVICE_STATUS:
        await services.update_service(
            session,
            principal,
            service_id=action["serviceId"],
            changes={"status": ServiceStatus(action["status"])},
            request=RequestInfo(),
            now=now,
        )
        return Outcome.OK, None, None
    await _notify(session, running, action["channelId"], text("message", MAX_MESSAGE))
    return Outcome.OK, None, None


async def _notify(session: AsyncSession, running: Running, channel_id: str, message: str) -> None:
    """An event for one channel, written dispatched (it fans out to no other channel,
    whatever their filters), with its delivery: sent, retried and logged like any."""
    workflow = running.workflow
    channel = (
        await owned_by_ids(
            session,
            NotificationChannel,
            workflow.organization_id,
            [channel_id],
            lock=Lock.REFERENCE,
        )
    ).get(channel_id)
    if channel is None:
        raise NotFoundError.of("NotificationChannel")
    if not channel.enabled:
        raise StatusGraphError("The channel is disabled")
    event = outbox.emit(
        session,
        organization_id=workflow.organization_id,
        type=EventType.WORKFLOW,
        data={
            "workflowId": workflow.id,
            "workflowName": workflow.name,
            "message": message,
            "trigger": running.trigger.kind.value,
        },
        monitor_id=running.trigger.monitor_id,
        now=running.now,
    )
    event.dispatched_at = running.now
    await session.flush()  # the event first: the delivery references it
    session.add(
        Delivery(
            id=new_id("msg"),
            organization_id=workflow.organization_id,
            event_id=event.id,
            channel_id=channel.id,
            event_type=event.type,
            next_attempt_at=running.now,
            created_at=running.now,
        )
    )
    await session.flush()


async def run_manually(
    session: AsyncSession,
    principal: Principal,
    *,
    workflow_id: str,
    monitor_id: str | None,
    note: str | None,
    request: RequestInfo,
    now: datetime,
) -> WorkflowRun:
    """`runWorkflow`: runs it now, whatever its trigger, in the caller's transaction.
    The placeholders take the monitor given (if any) and the note as `{reason}`."""
    workflow = await require_owned(
        session, Workflow, principal.organization_id, workflow_id, "Workflow"
    )
    problems = Problems()
    if not workflow.enabled:
        problems.add("id", "WORKFLOW_DISABLED", "The workflow is disabled: enable it first")
    if monitor_id is not None:
        found = await owned_by_ids(session, Monitor, principal.organization_id, [monitor_id])
        check_references(problems, "monitorId", [monitor_id], found, "Monitor")
    if note is not None and len(note) > MAX_MESSAGE:
        problems.add("note", "INVALID", f"note must be at most {MAX_MESSAGE} characters")
    problems.raise_if_any()
    trigger = Trigger(
        kind=TriggerKind.MANUAL,
        monitor_id=monitor_id,
        reason=note or "manual run",
        note=note,
    )
    result = await run(
        session, principal.organization_id, workflow_id, trigger, now=now, caller=principal.actor
    )
    if result is None:  # deleted between the read and the lock
        raise NotFoundError.of("Workflow")
    await audit.record_change(
        session,
        principal,
        "workflow.run",
        workflow,
        scope=Scope.workflows_write,
        request=request,
        now=now,
        details={"runId": result.id, "status": result.status},
    )
    return result
