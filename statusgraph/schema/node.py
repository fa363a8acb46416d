"""`node(id:)`: any object of the caller's organization, by its prefixed ID."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import strawberry

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.errors import ForbiddenError, NotFoundError
from statusgraph.ids import id_prefix
from statusgraph.resolvers.owned import owned_by_ids, owned_children_by_ids
from statusgraph.schema.api_keys import ApiKey
from statusgraph.schema.audit import AuditEvent
from statusgraph.schema.checks import CheckResult
from statusgraph.schema.context import Info
from statusgraph.schema.incidents import Incident, IncidentUpdate
from statusgraph.schema.ingest import BeaconEvent, BeaconKey, Metric
from statusgraph.schema.maintenance import MaintenanceWindow
from statusgraph.schema.monitors import HeartbeatPing, Monitor, MonitorStatusChange
from statusgraph.schema.notifications import Delivery, NotificationChannel
from statusgraph.schema.oauth_apps import OAuthApp
from statusgraph.schema.organizations import Organization
from statusgraph.schema.permissions import PUBLIC
from statusgraph.schema.relay import Node
from statusgraph.schema.services import Service, ServiceGroup
from statusgraph.schema.status_pages import StatusPage, StatusPageViewerToken
from statusgraph.schema.subscribers import Subscriber

# Per ID prefix: the scope its own query needs, its table, and its GraphQL type.
NODE_TYPES: dict[str, tuple[str, Any, Callable[[Any, datetime], Node]]] = {
    "key": (Scope.api_keys_read, models.ApiKey, ApiKey.of),
    "aud": (Scope.audit_log_read, models.AuditEvent, lambda row, _now: AuditEvent.of(row)),
    "page": (Scope.status_pages_read, models.StatusPage, lambda row, _now: StatusPage.of(row)),
    "spt": (
        Scope.status_pages_read,
        models.StatusPageViewerToken,
        lambda row, _now: StatusPageViewerToken.of(row),
    ),
    "svc": (Scope.services_read, models.Service, lambda row, _now: Service.of(row)),
    "grp": (Scope.services_read, models.ServiceGroup, lambda row, _now: ServiceGroup.of(row)),
    "inc": (Scope.incidents_read, models.Incident, lambda row, _now: Incident.of(row)),
    "mnt": (Scope.maintenance_read, models.MaintenanceWindow, MaintenanceWindow.of),
    "mon": (Scope.monitors_read, models.Monitor, Monitor.of),
    "bkey": (Scope.config_read, models.BeaconKey, lambda row, _now: BeaconKey.of(row)),
    "bev": (Scope.monitors_read, models.BeaconEvent, lambda row, _now: BeaconEvent.of(row)),
    "met": (Scope.metrics_read, models.Metric, lambda row, _now: Metric.of(row)),
    "upd": (Scope.incidents_read, models.IncidentUpdate, lambda row, _now: IncidentUpdate.of(row)),
    "png": (Scope.monitors_read, models.HeartbeatPing, lambda row, _now: HeartbeatPing.of(row)),
    "chg": (
        Scope.monitors_read,
        models.MonitorStatusChange,
        lambda row, _now: MonitorStatusChange.of(row),
    ),
    "chk": (Scope.monitors_read, models.CheckResult, lambda row, _now: CheckResult.of(row)),
    "nch": (
        Scope.notifications_read,
        models.NotificationChannel,
        lambda row, _now: NotificationChannel.of(row),
    ),
    "msg": (Scope.notifications_read, models.Delivery, lambda row, _now: Delivery.of(row)),
    "sub": (Scope.notifications_read, models.Subscriber, lambda row, _now: Subscriber.of(row)),
    "oap": (Scope.config_read, models.OAuthApp, lambda row, _now: OAuthApp.of(row)),
}
# Tables without an organization of their own: a row is its parent's organization's.
PARENTS: dict[str, tuple[Any, str]] = {
    "upd": (models.Incident, "incident_id"),
    "png": (models.Monitor, "monitor_id"),
    "chg": (models.Monitor, "monitor_id"),
    "chk": (models.Monitor, "monitor_id"),
}


@strawberry.type
class NodeQueries:
    @strawberry.field(
        directives=[PUBLIC],
        description="Any object of the caller's organization. Anonymous callers find nothing; "
        "each type needs the scope its own query needs.",
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        ctx = info.context
        prefix = id_prefix(id)
        if ctx.principal is None or (prefix not in NODE_TYPES and prefix != "org"):
            raise NotFoundError.of("Node")
        organization_id = ctx.principal.organization_id
        if prefix == "org":
            # Organizations need only a credential of their own.
            row = await ctx.loaders.organization.load(id) if id == organization_id else None
            if row is None:
                raise NotFoundError.of("Node")
            return Organization.of(row)
        scope, model, convert = NODE_TYPES[prefix]
        if not ctx.principal.can(scope):
            raise ForbiddenError(f"Insufficient scope: {scope} required", requiredScope=scope)
        async with ctx.read() as session:
            if prefix in PARENTS:
                parent, foreign_key = PARENTS[prefix]
                found = await owned_children_by_ids(
                    session, model, parent, foreign_key, organization_id, [id]
                )
            else:
                found = await owned_by_ids(session, model, organization_id, [id])
        if id not in found:
            raise NotFoundError.of("Node")
        return convert(found[id], ctx.now)
