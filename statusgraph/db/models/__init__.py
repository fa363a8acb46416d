"""Table models. Every tenant-owned table carries `organization_id`."""

from statusgraph.db.models.accounts import (
    ApiKey,
    AuditEvent,
    Organization,
    Plan,
    ScopeUsage,
)
from statusgraph.db.models.ingest import BeaconEvent, BeaconKey, Metric, MetricPoint
from statusgraph.db.models.jobs import JobLease, Worker
from statusgraph.db.models.monitors import (
    CheckResult,
    CheckRollup,
    HeartbeatPing,
    Monitor,
    MonitorStatusChange,
)
from statusgraph.db.models.notifications import (
    Delivery,
    DeliveryAttempt,
    Event,
    NotificationChannel,
    Subscriber,
)
from statusgraph.db.models.status import (
    Incident,
    IncidentService,
    IncidentUpdate,
    MaintenanceService,
    MaintenanceWindow,
    PageVersion,
    Service,
    ServiceGroup,
    StatusPage,
    StatusPageService,
    StatusPageViewerToken,
)
from statusgraph.db.models.usage import KeyAddress, RequestCount
from statusgraph.db.models.users import (
    Invitation,
    Membership,
    OAuthApp,
    OAuthCode,
    OAuthGrant,
    OAuthToken,
    User,
)
from statusgraph.db.models.workflows import Workflow, WorkflowRun

__all__ = [
    "ApiKey",
    "AuditEvent",
    "BeaconEvent",
    "BeaconKey",
    "CheckResult",
    "CheckRollup",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "HeartbeatPing",
    "Incident",
    "IncidentService",
    "IncidentUpdate",
    "Invitation",
    "JobLease",
    "KeyAddress",
    "MaintenanceService",
    "MaintenanceWindow",
    "Membership",
    "Metric",
    "MetricPoint",
    "Monitor",
    "MonitorStatusChange",
    "NotificationChannel",
    "OAuthApp",
    "OAuthCode",
    "OAuthGrant",
    "OAuthToken",
    "Organization",
    "PageVersion",
    "Plan",
    "RequestCount",
    "ScopeUsage",
    "Service",
    "ServiceGroup",
    "StatusPage",
    "StatusPageService",
    "StatusPageViewerToken",
    "Subscriber",
    "User",
    "Worker",
    "Workflow",
    "WorkflowRun",
]
