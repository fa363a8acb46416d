"""Reading a status page for the feeds, badges and Statuspage-compatible JSON: the same
visibility rule and loading as `publicStatusPage` and the HTML page
(status_pages.readable_page, schema/public.py's load_shown_page over public_page.py).

A viewer token of a PRIVATE page comes from the page's cookie (set by the HTML page),
the X-Status-Page-Token header, or `Authorization: Bearer sgv_…` (the request guard
passes a viewer token through on /status/ paths instead of taking it for a key).
"""

from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request

from statusgraph.clock import Clock
from statusgraph.db import models
from statusgraph.db.engine import SessionFactory
from statusgraph.resolvers import organization_settings, page_reads, status_pages
from statusgraph.schema.public import (
    VIEWER_TOKEN_HEADER,
    VIEWER_TOKEN_STATE,
    ShownPage,
    load_shown_page,
)

COOKIE = "statusgraph_viewer"  # pages/status_page.py sets it

EVERYTHING = frozenset(
    {
        "services",
        "services.status",
        "services.groupName",
        "overallStatus",
        "activeIncidents",
        "activeIncidents.updates",
        "activeIncidents.affectedServices",
        "incidentHistory",
        "incidentHistory.updates",
        "incidentHistory.affectedServices",
        "maintenance",
        "maintenance.services",
        "maintenance.services.status",
    }
)


def viewer_token(request: Request) -> str | None:
    state = request.scope.get("state", {})
    found: str | None = (
        state.get(VIEWER_TOKEN_STATE)
        or request.headers.get(VIEWER_TOKEN_HEADER)
        or request.cookies.get(COOKIE)
    )
    return found


@dataclass(frozen=True, slots=True)
class Read:
    page: models.StatusPage
    shown: ShownPage
    # The page's services as stored (position, group, times), in the page's order.
    rows: list[models.Service]
    groups: dict[str, models.ServiceGroup]
    now: datetime
    zone: str = "UTC"  # the organization's time zone, for what people read


class PageReader:
    def __init__(self, db: SessionFactory, clock: Clock, pepper: bytes) -> None:
        self.db = db
        self.clock = clock
        self.pepper = pepper

    async def read(self, request: Request, slug: str) -> Read:
        """The page as its reader may see it; NotFoundError exactly as for a missing one."""
        now = self.clock()
        async with self.db() as session:
            page = await status_pages.readable_page(
                session,
                slug=slug,
                principal=request.scope.get("state", {}).get("principal"),
                viewer_token=viewer_token(request),
                pepper=self.pepper,
            )
            shown = await load_shown_page(session, page, EVERYTHING, now)
            rows = (await status_pages.services_for(session, [page.id]))[page.id]
            group_ids = sorted({row.group_id for row in rows if row.group_id})
            groups = await page_reads.groups_by_id(session, group_ids) if group_ids else {}
            zone = await organization_settings.time_zone_of(session, page.organization_id)
        return Read(page=page, shown=shown, rows=rows, groups=groups, now=now, zone=zone)
