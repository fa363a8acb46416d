"""Workflows over GraphQL (DESIGN §15). Scopes: config:read to read them and their run
log, config:write to edit them, workflows:write to run one."""

from datetime import datetime
from typing import Any

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.scopes import Scope
from statusgraph.db.models.workflows import Workflow as WorkflowRow
from statusgraph.db.models.workflows import WorkflowRun as WorkflowRunRow
from statusgraph.resolvers import owned, workflows
from statusgraph.resolvers import vocabulary as v
from statusgraph.resolvers.monitors import MonitorType
from statusgraph.resolvers.workflows import ActionType, Outcome, RunStatus, TriggerKind
from statusgraph.schema.actors import Actor
from statusgraph.schema.context import Info
from statusgraph.schema.enums import IncidentImpact, IncidentStatus, ServiceStatus
from statusgraph.schema.incidents import ServiceEffectInput, ServiceStatusChange
from statusgraph.schema.mutations import Rejected, in_transaction, provided
from statusgraph.schema.permissions import requires
from statusgraph.schema.relay import Connection, page_args, selects
from statusgraph.schema.services import DeletePayload
from statusgraph.schema.user_errors import UserError
from statusgraph.workflows import engine

strawberry.enum(TriggerKind, name="WorkflowTrigger")
strawberry.enum(ActionType, name="WorkflowActionType")
strawberry.enum(Outcome, name="WorkflowActionOutcome")
strawberry.enum(RunStatus, name="WorkflowRunStatus")

TEMPLATE = (
    " A template: {monitor.id}, {monitor.name}, {monitor.type}, {monitor.url}, {reason}, "
    "{note} and {workflow.name} are replaced by plain substitution."
)


@strawberry.type(description="One action; which fields are set depends on its type.")
class WorkflowAction:
    type: ActionType
    title: str | None = strawberry.field(description="OPEN_INCIDENT." + TEMPLATE)
    message: str | None = strawberry.field(
        description="OPEN_INCIDENT, POST_UPDATE, RESOLVE_INCIDENT, NOTIFY_CHANNEL." + TEMPLATE
    )
    impact: IncidentImpact | None = strawberry.field(description="OPEN_INCIDENT.")
    status: IncidentStatus | None = strawberry.field(description="OPEN_INCIDENT, POST_UPDATE.")
    services: list[ServiceStatusChange] = strawberry.field(
        description="OPEN_INCIDENT: the affected services and the status each is set to."
    )
    service_id: strawberry.ID | None = strawberry.field(description="SET_SERVICE_STATUS.")
    service_status: ServiceStatus | None = strawberry.field(description="SET_SERVICE_STATUS.")
    channel_id: strawberry.ID | None = strawberry.field(description="NOTIFY_CHANNEL.")

    @classmethod
    def of(cls, stored: dict[str, Any]) -> "WorkflowAction":
        kind = ActionType(stored["type"])
        status = stored.get("status")
        setting_service = kind is ActionType.SET_SERVICE_STATUS
        return cls(
            type=kind,
            title=stored.get("title"),
            message=stored.get("message"),
            impact=v.IncidentImpact(stored["impact"]) if stored.get("impact") else None,
            status=v.IncidentStatus(status) if status and not setting_service else None,
            services=[
                ServiceStatusChange(
                    service_id=strawberry.ID(item["serviceId"]),
                    status=v.ServiceStatus(item["status"]),
                )
                for item in stored.get("services", [])
            ],
            service_id=strawberry.ID(stored["serviceId"]) if stored.get("serviceId") else None,
            service_status=v.ServiceStatus(status) if status and setting_service else None,
            channel_id=strawberry.ID(stored["channelId"]) if stored.get("channelId") else None,
        )


@strawberry.type
class Workflow:
    id: strawberry.ID
    name: str
    enabled: bool
    trigger: TriggerKind
    monitor_ids: list[strawberry.ID] = strawberry.field(
        description="Monitor triggers: empty, every monitor; else only these."
    )
    monitor_types: list[MonitorType] = strawberry.field(
        description="Monitor triggers: empty, every type; else only these."
    )
    actions: list[WorkflowAction] = strawberry.field(description="Run in this order.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: WorkflowRow) -> "Workflow":
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            enabled=row.enabled,
            trigger=TriggerKind(row.trigger),
            monitor_ids=[strawberry.ID(i) for i in row.monitor_ids],
            monitor_types=[MonitorType(kind) for kind in row.monitor_types],
            actions=[WorkflowAction.of(action) for action in row.actions],
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="What one action of a run did.")
class WorkflowActionResult:
    type: ActionType
    outcome: Outcome
    reason: str | None = strawberry.field(description="Why it failed or was skipped.")
    incident_id: strawberry.ID | None = strawberry.field(
        description="The incident it opened, updated or resolved."
    )


@strawberry.type(description="One run of a workflow, with each action's outcome.")
class WorkflowRun:
    id: strawberry.ID
    workflow_id: strawberry.ID
    trigger: TriggerKind
    event_id: strawberry.ID | None = strawberry.field(
        description="The monitor event that triggered it (a run per workflow and event)."
    )
    monitor_id: strawberry.ID | None
    note: str | None
    status: RunStatus
    actions: list[WorkflowActionResult]
    incident_id: strawberry.ID | None = strawberry.field(description="The incident it opened.")
    actor: Actor = strawberry.field(
        description="Who ran it: the workflow itself (SYSTEM) or the caller of runWorkflow."
    )
    created_at: datetime

    @classmethod
    def of(cls, row: WorkflowRunRow) -> "WorkflowRun":
        return cls(
            id=strawberry.ID(row.id),
            workflow_id=strawberry.ID(row.workflow_id),
            trigger=TriggerKind(row.trigger),
            event_id=strawberry.ID(row.event_id) if row.event_id else None,
            monitor_id=strawberry.ID(row.monitor_id) if row.monitor_id else None,
            note=row.note,
            status=RunStatus(row.status),
            actions=[
                WorkflowActionResult(
                    type=ActionType(item["type"]),
                    outcome=Outcome(item["outcome"]),
                    reason=item.get("reason"),
                    incident_id=strawberry.ID(item["incidentId"])
                    if item.get("incidentId")
                    else None,
                )
                for item in row.outcomes
            ],
            incident_id=strawberry.ID(row.incident_id) if row.incident_id else None,
            actor=Actor.of(row.actor_type, row.actor_id, row.actor_label),
            created_at=row.created_at,
        )


@strawberry.input
class WorkflowActionInput:
    type: ActionType
    title: str | None = strawberry.field(default=None, description="OPEN_INCIDENT." + TEMPLATE)
    message: str | None = strawberry.field(
        default=None,
        description="Required by OPEN_INCIDENT, POST_UPDATE and NOTIFY_CHANNEL; "
        "RESOLVE_INCIDENT's defaults to 'This incident has been resolved.'." + TEMPLATE,
    )
    impact: IncidentImpact | None = strawberry.field(
        default=None, description="OPEN_INCIDENT (default MINOR)."
    )
    status: IncidentStatus | None = strawberry.field(
        default=None,
        description="OPEN_INCIDENT (default INVESTIGATING), POST_UPDATE (default MONITORING).",
    )
    services: list[ServiceEffectInput] = strawberry.field(
        default_factory=list, description="OPEN_INCIDENT: affected services."
    )
    service_id: strawberry.ID | None = strawberry.field(
        default=None, description="SET_SERVICE_STATUS."
    )
    service_status: ServiceStatus | None = strawberry.field(
        default=None, description="SET_SERVICE_STATUS."
    )
    channel_id: strawberry.ID | None = strawberry.field(default=None, description="NOTIFY_CHANNEL.")

    def draft(self) -> workflows.ActionDraft:
        return workflows.ActionDraft(
            type=self.type,
            title=self.title,
            message=self.message,
            impact=self.impact,
            status=self.status,
            services=[(item.service_id, item.status) for item in self.services],
            service_id=self.service_id,
            service_status=self.service_status,
            channel_id=self.channel_id,
        )


@strawberry.input
class CreateWorkflowInput:
    name: str
    trigger: TriggerKind
    actions: list[WorkflowActionInput] = strawberry.field(description="1 to 10, run in order.")
    enabled: bool = True
    monitor_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    monitor_types: list[MonitorType] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateWorkflowInput:
    name: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    trigger: TriggerKind | None = strawberry.UNSET
    monitor_ids: list[strawberry.ID] | None = strawberry.UNSET
    monitor_types: list[MonitorType] | None = strawberry.UNSET
    actions: list[WorkflowActionInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces every action."
    )


FIELDS = {
    "name": "name",
    "enabled": "enabled",
    "trigger": "trigger",
    "monitor_ids": "monitor_ids",
    "monitor_types": "monitor_types",
    "actions": "actions",
}


@strawberry.input
class RunWorkflowInput:
    monitor_id: strawberry.ID | None = strawberry.field(
        default=None, description="The monitor the placeholders and incidents are about."
    )
    note: str | None = strawberry.field(
        default=None, description="Up to 2,000 characters; {note} and {reason} in templates."
    )


@strawberry.type
class WorkflowPayload:
    workflow: Workflow | None
    user_errors: list[UserError]


@strawberry.type
class RunWorkflowPayload:
    run: WorkflowRun | None
    user_errors: list[UserError]


def _payload(result: WorkflowRow | Rejected) -> WorkflowPayload:
    if isinstance(result, Rejected):
        return WorkflowPayload(workflow=None, user_errors=result.user_errors)
    return WorkflowPayload(workflow=Workflow.of(result), user_errors=[])


@strawberry.type
class WorkflowQueries:
    @strawberry.field(extensions=requires(Scope.config_read), description="Newest first.")
    async def workflows(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Workflow] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page = await workflows.list_workflows(
                session,
                principal.organization_id,
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, Workflow.of)

    @strawberry.field(extensions=requires(Scope.config_read))
    async def workflow(self, info: Info, id: strawberry.ID) -> Workflow | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            row = await owned.require_owned(
                session, WorkflowRow, principal.organization_id, id, "Workflow"
            )
        return Workflow.of(row)

    @strawberry.field(
        extensions=requires(Scope.config_read),
        description="A workflow's run log, newest first, with each action's outcome.",
    )
    async def workflow_runs(
        self,
        info: Info,
        workflow_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[WorkflowRun] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page = await workflows.list_runs(
                session,
                principal.organization_id,
                workflow_id=workflow_id,
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, WorkflowRun.of)


@strawberry.type
class WorkflowMutations:
    @strawberry.mutation(extensions=requires(Scope.config_write))
    async def create_workflow(self, info: Info, input: CreateWorkflowInput) -> WorkflowPayload:
        ctx = info.context
        principal = ctx.require_principal()
        draft = workflows.WorkflowDraft(
            name=input.name,
            trigger=input.trigger,
            enabled=input.enabled,
            monitor_ids=list(input.monitor_ids),
            monitor_types=list(input.monitor_types),
            actions=[action.draft() for action in input.actions],
        )
        result = await in_transaction(
            ctx,
            lambda s: workflows.create_workflow(
                s, principal, draft=draft, request=ctx.request_info, now=ctx.now
            ),
        )
        return _payload(result)

    @strawberry.mutation(extensions=requires(Scope.config_write))
    async def update_workflow(
        self, info: Info, id: strawberry.ID, input: UpdateWorkflowInput
    ) -> WorkflowPayload:
        ctx = info.context
        principal = ctx.require_principal()
        changes = provided(input, FIELDS)
        if changes.get("actions") is not None:
            changes["actions"] = [action.draft() for action in changes["actions"]]

        async def update(session: AsyncSession) -> WorkflowRow:
            return await workflows.update_workflow(
                session,
                principal,
                workflow_id=id,
                changes=changes,
                request=ctx.request_info,
                now=ctx.now,
            )

        return _payload(await in_transaction(ctx, update))

    @strawberry.mutation(
        extensions=requires(Scope.config_write),
        description="Its run log goes with it; incidents it opened stay.",
    )
    async def delete_workflow(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: workflows.delete_workflow(
                s, principal, workflow_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return DeletePayload(deleted_id=None, user_errors=result.user_errors)
        return DeletePayload(deleted_id=strawberry.ID(result), user_errors=[])

    @strawberry.mutation(
        extensions=requires(Scope.workflows_write),
        description="Runs the workflow now, whatever its trigger; answers with the run.",
    )
    async def run_workflow(
        self, info: Info, id: strawberry.ID, input: RunWorkflowInput | None = None
    ) -> RunWorkflowPayload:
        ctx = info.context
        principal = ctx.require_principal()
        given = input or RunWorkflowInput()
        result = await in_transaction(
            ctx,
            lambda s: engine.run_manually(
                s,
                principal,
                workflow_id=id,
                monitor_id=given.monitor_id,
                note=given.note,
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        if isinstance(result, Rejected):
            return RunWorkflowPayload(run=None, user_errors=result.user_errors)
        return RunWorkflowPayload(run=WorkflowRun.of(result), user_errors=[])
