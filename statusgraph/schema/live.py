"""Live updates: GraphQL subscriptions fed by the event bus (DESIGN §14).

Each subscription listens to its organization's events on the bus (events/bus.py) and,
for every event it cares about, reads the object again and sends it whole: a client
always holds the current state, never a diff to apply. A message carries `event` (the
outbox event that caused it, e.g. `incident.created`) and `resync`: true when events
were lost for this subscriber (its queue overflowed, or this process lost Redis for a
while). A resync message of a single-object subscription carries the object read
afresh; an organization-wide one carries none: the client reads its lists again.

Scopes are checked when subscribing, like any field's: `monitorStatusChanged` and
`monitorStatusChanges` need `monitors:read`, `incidentChanged` and `incidentChanges`
`incidents:read`. `statusPageChanged` is `@public` and follows publicStatusPage's
visibility: a PUBLIC page for anyone; a PRIVATE page with its viewer token (in the
connection_init payload as `X-Status-Page-Token`) or an organization credential with
`status_pages:read`; an INTERNAL page with such a credential only. Another
organization's page, monitor or incident answers NOT_FOUND, as a missing one.

No message is sent on subscribing: read the current state with a query after the
subscription is acknowledged. The object is read at the moment of sending, so a burst
of events may send the same state more than once.
"""

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar

import strawberry

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.errors import ForbiddenError, InternalError, NotFoundError
from statusgraph.events.bus import BusEvent, Resync
from statusgraph.events.outbox import EventType
from statusgraph.resolvers import owned, status_pages
from statusgraph.resolvers.vocabulary import Visibility
from statusgraph.schema.context import Context, Info
from statusgraph.schema.incidents import Incident, incidents_of
from statusgraph.schema.monitors import Monitor, monitors_of
from statusgraph.schema.permissions import PUBLIC, requires
from statusgraph.schema.preload import selection_paths, under
from statusgraph.schema.public import PublicStatusPage, load_shown_page

VIEWER_TOKEN_PARAM = "X-Status-Page-Token"  # noqa: S105  (a key of connection_init's payload)

MONITOR_EVENTS = frozenset({EventType.MONITOR_DOWN, EventType.MONITOR_UP})
INCIDENT_EVENTS = frozenset(
    {EventType.INCIDENT_CREATED, EventType.INCIDENT_UPDATED, EventType.INCIDENT_RESOLVED}
)
# Whatever can change what a status page shows.
PAGE_EVENTS = (
    MONITOR_EVENTS
    | INCIDENT_EVENTS
    | {
        EventType.SERVICE_STATUS_CHANGED,
        EventType.MAINTENANCE_SCHEDULED,
        EventType.MAINTENANCE_STARTED,
        EventType.MAINTENANCE_COMPLETED,
        EventType.MAINTENANCE_CANCELLED,
    }
)

T = TypeVar("T")

RESYNC_DESCRIPTION = (
    "True when events were lost for this subscription (it fell behind, or the server "
    "lost its event stream for a while): read the current state again."
)
EVENT_DESCRIPTION = "The event that caused this message, e.g. `incident.created`; null on a resync."


@strawberry.type(description="A status page changed: its public view, read again.")
class StatusPageChange:
    event: str | None = strawberry.field(description=EVENT_DESCRIPTION)
    resync: bool = strawberry.field(description=RESYNC_DESCRIPTION)
    page: PublicStatusPage


@strawberry.type(description="A monitor went DOWN, or UP again after DOWN.")
class MonitorChange:
    event: str | None = strawberry.field(description=EVENT_DESCRIPTION)
    resync: bool = strawberry.field(description=RESYNC_DESCRIPTION)
    monitor: Monitor | None = strawberry.field(
        description="The monitor as it is now; null on an organization-wide resync, or when "
        "it was deleted since."
    )


@strawberry.type(description="An incident was created, updated or resolved.")
class IncidentChange:
    event: str | None = strawberry.field(description=EVENT_DESCRIPTION)
    resync: bool = strawberry.field(description=RESYNC_DESCRIPTION)
    incident: Incident | None = strawberry.field(
        description="The incident as it is now; null on an organization-wide resync, or when "
        "it was deleted since."
    )


def _watch(
    ctx: Context,
    organization_id: str,
    wanted: Callable[[BusEvent], bool],
    make: Callable[[BusEvent | None], Awaitable[T | None]],
) -> AsyncGenerator[T, None]:
    """The messages of one subscription: for each event `wanted` (and each resync, as
    None), `make` reads what to send (None: nothing to send)."""
    if ctx.bus is None:
        raise InternalError("Unexpected error.")
    bus = ctx.bus

    async def messages() -> AsyncGenerator[T, None]:
        # The read session of the check made on subscribing is not kept while idle.
        await ctx.end_read()
        subscription = bus.subscribe([organization_id])
        try:
            async for item in subscription:
                event = None if isinstance(item, Resync) else item
                if event is not None and not wanted(event):
                    continue
                await ctx.renew()
                message = await make(event)
                if message is not None:
                    yield message
                # Resumed once the message was sent: no session held while waiting.
                await ctx.end_read()
        finally:
            subscription.close()
            await ctx.end_read()

    return messages()


async def _readable_page(ctx: Context, slug: str) -> models.StatusPage:
    """The page by publicStatusPage's rules, except that an organization credential
    needs status_pages:read for a page that is not PUBLIC (module docstring)."""
    async with ctx.read() as session:
        token = ctx.connection_params.get(VIEWER_TOKEN_PARAM)
        try:
            return await status_pages.readable_page(
                session,
                slug=slug,
                principal=None,
                viewer_token=token if isinstance(token, str) else None,
                pepper=ctx.pepper,
            )
        except NotFoundError:
            if ctx.principal is None:
                raise
        page = await status_pages.readable_page(
            session, slug=slug, principal=ctx.principal, viewer_token=None, pepper=ctx.pepper
        )
    if page.visibility != Visibility.PUBLIC and not ctx.principal.can(Scope.status_pages_read):
        scope = Scope.status_pages_read.value
        raise ForbiddenError(f"Insufficient scope: {scope} required", requiredScope=scope)
    return page


@strawberry.type
class Subscription:
    @strawberry.subscription(
        directives=[PUBLIC],
        description="Every change of what a status page shows (its incidents, maintenance, "
        "services and their monitors), with the page's public view read again. A PUBLIC "
        "page for anyone; a PRIVATE page with its viewer token (connection_init payload "
        "`X-Status-Page-Token`) or an organization credential with `status_pages:read`; an "
        "INTERNAL page with such a credential only.",
    )
    async def status_page_changed(
        self, info: Info, slug: str
    ) -> AsyncGenerator[StatusPageChange, None]:
        ctx = info.context
        page = await _readable_page(ctx, slug)
        wanted_paths = under(selection_paths(info), "page")

        async def make(event: BusEvent | None) -> StatusPageChange:
            current = await _readable_page(ctx, slug)
            async with ctx.read() as session:
                shown = await load_shown_page(session, current, wanted_paths, ctx.now)
            return StatusPageChange(
                event=event.type if event else None,
                resync=event is None,
                page=PublicStatusPage.of(current, shown),
            )

        return _watch(ctx, page.organization_id, lambda e: e.type in PAGE_EVENTS, make)

    @strawberry.subscription(
        extensions=requires(Scope.monitors_read),
        description="A monitor's transitions: DOWN, and UP again after DOWN.",
    )
    async def monitor_status_changed(
        self, info: Info, monitor_id: strawberry.ID
    ) -> AsyncGenerator[MonitorChange, None]:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            await owned.require_owned(
                session, models.Monitor, principal.organization_id, monitor_id, "Monitor"
            )
        wanted_paths = under(selection_paths(info), "monitor")

        async def make(event: BusEvent | None) -> MonitorChange:
            return MonitorChange(
                event=event.type if event else None,
                resync=event is None,
                monitor=await _monitor(ctx, monitor_id, wanted_paths),
            )

        return _watch(
            ctx,
            principal.organization_id,
            lambda e: e.type in MONITOR_EVENTS and e.monitor_id == monitor_id,
            make,
        )

    @strawberry.subscription(
        extensions=requires(Scope.monitors_read),
        description="Every monitor transition of the organization (DOWN, and UP again after DOWN).",
    )
    async def monitor_status_changes(self, info: Info) -> AsyncGenerator[MonitorChange, None]:
        ctx = info.context
        principal = ctx.require_principal()
        wanted_paths = under(selection_paths(info), "monitor")

        async def make(event: BusEvent | None) -> MonitorChange:
            if event is None or event.monitor_id is None:
                return MonitorChange(event=None, resync=True, monitor=None)
            monitor = await _monitor(ctx, event.monitor_id, wanted_paths)
            return MonitorChange(event=event.type, resync=False, monitor=monitor)

        return _watch(ctx, principal.organization_id, lambda e: e.type in MONITOR_EVENTS, make)

    @strawberry.subscription(
        extensions=requires(Scope.incidents_read),
        description="An incident's changes: updates posted, resolution.",
    )
    async def incident_changed(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[IncidentChange, None]:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            await owned.require_owned(
                session, models.Incident, principal.organization_id, id, "Incident"
            )
        wanted_paths = under(selection_paths(info), "incident")

        async def make(event: BusEvent | None) -> IncidentChange:
            return IncidentChange(
                event=event.type if event else None,
                resync=event is None,
                incident=await _incident(ctx, id, wanted_paths),
            )

        return _watch(
            ctx,
            principal.organization_id,
            lambda e: e.type in INCIDENT_EVENTS and e.data.get("incidentId") == id,
            make,
        )

    @strawberry.subscription(
        extensions=requires(Scope.incidents_read),
        description="Every incident of the organization created, updated or resolved.",
    )
    async def incident_changes(self, info: Info) -> AsyncGenerator[IncidentChange, None]:
        ctx = info.context
        principal = ctx.require_principal()
        wanted_paths = under(selection_paths(info), "incident")

        async def make(event: BusEvent | None) -> IncidentChange:
            incident_id = event.data.get("incidentId") if event else None
            if event is None or not isinstance(incident_id, str):
                return IncidentChange(event=None, resync=True, incident=None)
            incident = await _incident(ctx, incident_id, wanted_paths)
            return IncidentChange(event=event.type, resync=False, incident=incident)

        return _watch(ctx, principal.organization_id, lambda e: e.type in INCIDENT_EVENTS, make)


async def _monitor(ctx: Context, monitor_id: str, wanted: frozenset[str]) -> Monitor | None:
    principal = ctx.require_principal()
    async with ctx.read() as session:
        found = await owned.owned_by_ids(
            session, models.Monitor, principal.organization_id, [monitor_id]
        )
        row = found.get(monitor_id)
        if row is None:
            return None
        [monitor] = await monitors_of(session, [row], wanted, ctx.now)
    return monitor


async def _incident(ctx: Context, incident_id: str, wanted: frozenset[str]) -> Incident | None:
    principal = ctx.require_principal()
    async with ctx.read() as session:
        found = await owned.owned_by_ids(
            session, models.Incident, principal.organization_id, [incident_id]
        )
        row = found.get(incident_id)
        if row is None:
            return None
        [incident] = await incidents_of(session, [row], wanted, ctx.now)
    return incident
