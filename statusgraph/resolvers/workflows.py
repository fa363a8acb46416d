"""Workflows (DESIGN §15): saved automations, a trigger and up to ten ordered actions.
Creating, changing and deleting them (config:write) and reading them and their run log
(config:read). Running them is workflows/engine.py, above this layer.

An action is stored as a dict: {"type": ActionType, and its settings}. Text settings are
templates: `{monitor.name}`, `{monitor.url}`, `{reason}`... replaced by plain
substitution when the action runs (workflows/templates.py); nothing in them is ever
evaluated. A template naming a placeholder we do not know is refused here.
"""

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import Monitor, NotificationChannel, Service
from statusgraph.db.models.workflows import Workflow, WorkflowRun
from statusgraph.db.scoping import for_org
from statusgraph.ids import new_id
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock
from statusgraph.resolvers.monitors import MonitorType
from statusgraph.resolvers.owned import (
    check_references,
    delete_owned,
    owned_by_ids,
    require_owned,
    save_changes,
)
from statusgraph.resolvers.pagination import Page, PageArgs, paginate
from statusgraph.resolvers.user_errors import Problems
from statusgraph.resolvers.vocabulary import IncidentImpact, IncidentStatus, ServiceStatus

MAX_NAME = 200
MAX_ACTIONS = 10
MAX_FILTER = 100
MAX_SERVICES = 50
MAX_TITLE = 200  # a template; the rendered title is cut to the incident's 200 too
MAX_MESSAGE = 2000
PLACEHOLDERS = (
    "monitor.id",
    "monitor.name",
    "monitor.type",
    "monitor.url",
    "reason",
    "note",
    "workflow.name",
)
PLACEHOLDER = re.compile(r"\{([A-Za-z_.]+)\}")

_record = functools.partial(audit.record_change, scope=Scope.config_write)


class TriggerKind(StrEnum):
    MONITOR_DOWN = "monitor_down"
    MONITOR_UP = "monitor_up"
    MANUAL = "manual"


class ActionType(StrEnum):
    OPEN_INCIDENT = "open_incident"
    POST_UPDATE = "post_update"
    RESOLVE_INCIDENT = "resolve_incident"
    SET_SERVICE_STATUS = "set_service_status"
    NOTIFY_CHANNEL = "notify_channel"


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"  # no action failed (some may have been skipped)
    FAILED = "failed"  # at least one action failed


@dataclass(frozen=True, slots=True)
class ActionDraft:
    """One action as the caller sent it; which settings count depends on `type`."""

    type: ActionType
    title: str | None = None
    message: str | None = None
    impact: IncidentImpact | None = None
    status: IncidentStatus | None = None
    services: Sequence[tuple[str, ServiceStatus]] = ()
    service_id: str | None = None
    service_status: ServiceStatus | None = None
    channel_id: str | None = None


@dataclass(slots=True)
class WorkflowDraft:
    name: str
    trigger: TriggerKind
    enabled: bool = True
    monitor_ids: list[str] = field(default_factory=list)
    monitor_types: list[MonitorType] = field(default_factory=list)
    actions: list[ActionDraft] = field(default_factory=list)


def unknown_placeholders(template: str) -> list[str]:
    return [name for name in PLACEHOLDER.findall(template) if name not in PLACEHOLDERS]


def _check_template(
    problems: Problems, name: str, value: str | None, limit: int, *, required: bool, what: str
) -> None:
    if value is None or not value.strip():
        if required:
            problems.add(name, "REQUIRED", f"{what} is required")
        elif value is not None:
            problems.add(name, "INVALID", f"{what} must be 1 to {limit} characters")
        return
    if len(value) > limit:
        problems.add(name, "INVALID", f"{what} must be 1 to {limit} characters")
        return
    for unknown in unknown_placeholders(value):
        problems.add(
            name,
            "INVALID",
            f"Unknown placeholder {{{unknown}}}; use "
            + ", ".join(f"{{{known}}}" for known in PLACEHOLDERS),
        )


def _as_stored(action: ActionDraft) -> dict[str, Any]:
    kind = action.type
    if kind is ActionType.OPEN_INCIDENT:
        return {
            "type": kind.value,
            "title": action.title,
            "message": action.message,
            "impact": (action.impact or IncidentImpact.MINOR).value,
            "status": (action.status or IncidentStatus.INVESTIGATING).value,
            "services": [
                {"serviceId": service_id, "status": status.value}
                for service_id, status in action.services
            ],
        }
    if kind is ActionType.POST_UPDATE:
        return {
            "type": kind.value,
            "message": action.message,
            "status": (action.status or IncidentStatus.MONITORING).value,
        }
    if kind is ActionType.RESOLVE_INCIDENT:
        return {"type": kind.value, "message": action.message}
    if kind is ActionType.SET_SERVICE_STATUS:
        return {
            "type": kind.value,
            "serviceId": action.service_id,
            "status": action.service_status.value if action.service_status else None,
        }
    return {"type": kind.value, "channelId": action.channel_id, "message": action.message}


async def _check_actions(
    session: AsyncSession, principal: Principal, actions: Sequence[ActionDraft], problems: Problems
) -> None:
    if not 1 <= len(actions) <= MAX_ACTIONS:
        problems.add("actions", "INVALID", f"A workflow has 1 to {MAX_ACTIONS} actions")
        return
    service_ids: list[str] = []
    channel_ids: list[str] = []
    for action in actions:
        service_ids += [service_id for service_id, _status in action.services]
        if action.service_id is not None:
            service_ids.append(action.service_id)
        if action.channel_id is not None:
            channel_ids.append(action.channel_id)
    org = principal.organization_id
    services = await owned_by_ids(session, Service, org, service_ids, lock=Lock.REFERENCE)
    channels = await owned_by_ids(session, NotificationChannel, org, channel_ids)
    for index, action in enumerate(actions):
        at = f"actions.{index}"
        kind = action.type
        if kind is ActionType.OPEN_INCIDENT:
            _check_template(
                problems, f"{at}.title", action.title, MAX_TITLE, required=True, what="title"
            )
            _check_template(
                problems,
                f"{at}.message",
                action.message,
                MAX_MESSAGE,
                required=True,
                what="message",
            )
            if action.status is IncidentStatus.RESOLVED:
                problems.add(f"{at}.status", "INVALID", "An incident cannot open RESOLVED")
            if len(action.services) > MAX_SERVICES:
                problems.add(f"{at}.services", "INVALID", f"services lists at most {MAX_SERVICES}")
            wanted = [service_id for service_id, _status in action.services]
            check_references(problems, f"{at}.services", wanted, services, "Service")
        elif kind is ActionType.POST_UPDATE:
            _check_template(
                problems,
                f"{at}.message",
                action.message,
                MAX_MESSAGE,
                required=True,
                what="message",
            )
            if action.status is IncidentStatus.RESOLVED:
                problems.add(f"{at}.status", "INVALID", "Use a RESOLVE_INCIDENT action to resolve")
        elif kind is ActionType.RESOLVE_INCIDENT:
            _check_template(
                problems,
                f"{at}.message",
                action.message,
                MAX_MESSAGE,
                required=False,
                what="message",
            )
        elif kind is ActionType.SET_SERVICE_STATUS:
            if action.service_id is None:
                problems.add(f"{at}.serviceId", "REQUIRED", "serviceId is required")
            else:
                check_references(
                    problems, f"{at}.serviceId", [action.service_id], services, "Service"
                )
            if action.service_status is None:
                problems.add(f"{at}.serviceStatus", "REQUIRED", "serviceStatus is required")
        else:
            if action.channel_id is None:
                problems.add(f"{at}.channelId", "REQUIRED", "channelId is required")
            else:
                check_references(
                    problems,
                    f"{at}.channelId",
                    [action.channel_id],
                    channels,
                    "NotificationChannel",
                )
            _check_template(
                problems,
                f"{at}.message",
                action.message,
                MAX_MESSAGE,
                required=True,
                what="message",
            )


async def _check_filters(
    session: AsyncSession,
    principal: Principal,
    trigger: TriggerKind,
    monitor_ids: Sequence[str],
    monitor_types: Sequence[MonitorType],
    problems: Problems,
) -> None:
    if trigger is TriggerKind.MANUAL and (monitor_ids or monitor_types):
        problems.add("monitorIds", "INVALID", "Monitor filters apply to monitor triggers only")
        return
    if len(monitor_ids) > MAX_FILTER:
        problems.add("monitorIds", "INVALID", f"monitorIds lists at most {MAX_FILTER}")
        return
    found = await owned_by_ids(session, Monitor, principal.organization_id, monitor_ids)
    check_references(problems, "monitorIds", monitor_ids, found, "Monitor")
    if len(set(monitor_types)) != len(monitor_types):
        problems.add("monitorTypes", "DUPLICATE", "monitorTypes lists the same type twice")


def _check_name(problems: Problems, name: Any) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        problems.add("name", "INVALID", f"Name must be 1 to {MAX_NAME} characters")


async def create_workflow(
    session: AsyncSession,
    principal: Principal,
    *,
    draft: WorkflowDraft,
    request: RequestInfo,
    now: datetime,
) -> Workflow:
    problems = Problems()
    _check_name(problems, draft.name)
    await _check_filters(
        session, principal, draft.trigger, draft.monitor_ids, draft.monitor_types, problems
    )
    await _check_actions(session, principal, draft.actions, problems)
    problems.raise_if_any()
    workflow = Workflow(
        id=new_id("wfl"),
        organization_id=principal.organization_id,
        name=draft.name.strip(),
        enabled=draft.enabled,
        trigger=draft.trigger.value,
        monitor_ids=list(draft.monitor_ids),
        monitor_types=[kind.value for kind in draft.monitor_types],
        actions=[_as_stored(action) for action in draft.actions],
        created_at=now,
        updated_at=now,
    )
    session.add(workflow)
    await _record(
        session,
        principal,
        "workflow.created",
        workflow,
        request=request,
        now=now,
        details={"name": workflow.name, "trigger": workflow.trigger},
    )
    await session.flush()
    return workflow


async def update_workflow(
    session: AsyncSession,
    principal: Principal,
    *,
    workflow_id: str,
    changes: dict[str, Any],
    request: RequestInfo,
    now: datetime,
) -> Workflow:
    """`changes`: name, enabled, trigger, monitor_ids, monitor_types, actions (a list of
    ActionDraft, replacing every action). The result is checked as a whole."""
    workflow = await require_owned(
        session, Workflow, principal.organization_id, workflow_id, "Workflow", lock=Lock.UPDATE
    )
    problems = Problems()
    if "name" in changes:
        _check_name(problems, changes["name"])
    for name in ("enabled", "trigger", "monitor_ids", "monitor_types", "actions"):
        if name in changes and changes[name] is None:
            problems.add(_camel(name), "INVALID", f"{_camel(name)} must not be null")
    problems.raise_if_any()
    trigger = TriggerKind(changes.get("trigger", workflow.trigger))
    monitor_ids = changes.get("monitor_ids", workflow.monitor_ids)
    monitor_types = [
        MonitorType(kind) for kind in changes.get("monitor_types", workflow.monitor_types)
    ]
    await _check_filters(session, principal, trigger, monitor_ids, monitor_types, problems)
    stored: dict[str, Any] = {}
    if "actions" in changes:
        await _check_actions(session, principal, changes["actions"], problems)
        stored["actions"] = [_as_stored(action) for action in changes["actions"]]
    problems.raise_if_any()
    if "trigger" in changes:
        stored["trigger"] = trigger.value
    if "monitor_ids" in changes:
        stored["monitor_ids"] = list(monitor_ids)
    if "monitor_types" in changes:
        stored["monitor_types"] = [kind.value for kind in monitor_types]
    for name in ("name", "enabled"):
        if name in changes:
            stored[name] = changes[name]
    await save_changes(
        session,
        principal,
        workflow,
        stored,
        action="workflow.updated",
        scope=Scope.config_write,
        text_field="name",
        request=request,
        now=now,
    )
    return workflow


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def delete_workflow(
    session: AsyncSession,
    principal: Principal,
    *,
    workflow_id: str,
    request: RequestInfo,
    now: datetime,
) -> str:
    """Its run log goes with it; incidents it opened stay."""
    return await delete_owned(
        session,
        principal,
        Workflow,
        workflow_id,
        type_name="Workflow",
        action="workflow.deleted",
        scope=Scope.config_write,
        describe=lambda row: {"name": row.name},
        request=request,
        now=now,
    )


async def list_workflows(
    session: AsyncSession, organization_id: str, *, page: PageArgs, with_count: bool = False
) -> Page[Workflow]:
    statement = for_org(Workflow, organization_id)
    return await paginate(session, statement, Workflow, page, with_count=with_count)


async def list_runs(
    session: AsyncSession,
    organization_id: str,
    *,
    workflow_id: str,
    page: PageArgs,
    with_count: bool = False,
) -> Page[WorkflowRun]:
    """A workflow's run log, newest first (NOT_FOUND for another organization's)."""
    await require_owned(session, Workflow, organization_id, workflow_id, "Workflow")
    statement = for_org(WorkflowRun, organization_id).where(
        col(WorkflowRun.workflow_id) == workflow_id
    )
    return await paginate(session, statement, WorkflowRun, page, with_count=with_count)
