"""A version per organization that every write able to change one of its status pages
raises, in the same transaction, so that any process knows when what it rendered went
stale (DESIGN §13): the page caches (pages/caching.py, schema/response_cache.py) keep
the version a document was rendered at and serve it only while the organization's
counter still reads the same.

Writes through an ORM session are found on their own: a listener on every Session
collects the organizations of the rows a transaction adds, changes or deletes among the
tables a page shows (status pages, their services, groups, incidents and their updates
and effects, maintenance windows, viewer tokens, and a monitor's service, pause and
status, and the organization's time zone, which every date shown is written in), and
raises their counters just before the commit, in one statement, in
organization order (two transactions never wait on each other's counters in opposite
orders). Statements that bypass the ORM say so themselves: `touch(session, ids)` (the
checks' batched results) or the `BUMP` statement in the heartbeat writers' batch.

Readers (`PageVersions`) ask the database for an organization's counter at most once
every `interval` seconds per process, so a write made by another process shows within
that bound; a commit made by this process makes them ask again at once, and so does an
event of the bus (DESIGN §14) that tells of a change to a page, made by any process
(`changed`, wired in app.py): with Redis, a page shows another process's write as soon
as its event is dispatched, and the interval bounds only writes that emit no event (a
service or page edited, a monitor relinked).
"""

import time
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

from sqlalchemy import Insert, Table, bindparam, event, insert, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.models import (
    Incident,
    IncidentService,
    IncidentUpdate,
    MaintenanceService,
    MaintenanceWindow,
    Monitor,
    MonitorStatusChange,
    Organization,
    PageVersion,
    Service,
    ServiceGroup,
    StatusPage,
    StatusPageService,
    StatusPageViewerToken,
)

PAGE_VERSION: Table = PageVersion.__table__  # type: ignore[attr-defined]
# The organizations a transaction changed, and rows whose organization is their parent's.
ORGANIZATIONS = "statusgraph_page_organizations"
PARENTS = "statusgraph_page_parents"

OWNED = (StatusPage, Service, ServiceGroup, Incident, MaintenanceWindow, StatusPageViewerToken)
# What of a monitor a page shows: its status (through the bars), its service, its pause.
MONITOR_FIELDS = ("service_id", "paused", "recorded_status")
# What of an organization a page shows: the zone its dates are written in.
ORGANIZATION_FIELDS = ("time_zone",)
# Rows without an organization of their own: (column naming the parent, parent model).
CHILDREN: dict[type, tuple[str, Any]] = {
    IncidentService: ("incident_id", Incident),
    IncidentUpdate: ("incident_id", Incident),
    MaintenanceService: ("maintenance_id", MaintenanceWindow),
    StatusPageService: ("page_id", StatusPage),
    MonitorStatusChange: ("monitor_id", Monitor),
}

# The key the heartbeat writers compile, per dialect, into upsert(dialect) (ingest/writers.py).
BUMP = insert(PAGE_VERSION)


def upsert(dialect_name: str) -> Insert:
    """Raise an organization's counter, creating it at 1 (the same SQL on both dialects)."""
    module: Any = postgresql if dialect_name == "postgresql" else sqlite
    statement = module.insert(PAGE_VERSION).values(
        organization_id=bindparam("organization_id"), version=1
    )
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[PAGE_VERSION.c.organization_id],
        set_={"version": PAGE_VERSION.c.version + 1},
    )


def touch(session: AsyncSession | Session, organization_ids: Iterable[str]) -> None:
    """Marks the organizations whose pages this transaction changes through statements
    the ORM does not see; their counters rise when it commits."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(ORGANIZATIONS, set()).update(organization_ids)


def _changed(session: Session, row: Any) -> bool:
    if isinstance(row, (Monitor, Organization)):
        fields = MONITOR_FIELDS if isinstance(row, Monitor) else ORGANIZATION_FIELDS
        state = inspect(row)
        return any(state.attrs[name].history.has_changes() for name in fields)
    return session.is_modified(row)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context: Any) -> None:
    organizations: set[str] = session.info.setdefault(ORGANIZATIONS, set())
    parents: set[tuple[Any, str]] = session.info.setdefault(PARENTS, set())
    for row in chain(session.new, session.deleted):
        _note(session, row, organizations, parents)
    for row in session.dirty:
        if isinstance(row, Organization):
            if _changed(session, row):
                organizations.add(row.id)
        elif isinstance(row, (*OWNED, Monitor, *CHILDREN)) and _changed(session, row):
            _note(session, row, organizations, parents)


def _note(
    session: Session, row: Any, organizations: set[str], parents: set[tuple[Any, str]]
) -> None:
    if isinstance(row, (*OWNED, Monitor)):
        organizations.add(row.organization_id)
        return
    child = CHILDREN.get(type(row))
    if child is None:
        return
    column, model = child
    parent_id = getattr(row, column)
    # Usually the parent is in the session already (an incident with its new update, the
    # monitor with its transition); otherwise it is looked up at the commit.
    key = inspect(model).identity_key_from_primary_key((parent_id,))
    parent = session.identity_map.get(key)
    if parent is not None:
        organizations.add(parent.organization_id)
    else:
        parents.add((model, parent_id))


@event.listens_for(Session, "before_commit")
def _bump(session: Session) -> None:
    # The commit flushes what is left only after this hook: flushed now, it is counted.
    session.flush()
    organizations: set[str] = session.info.pop(ORGANIZATIONS, set())
    parents: set[tuple[Any, str]] = session.info.pop(PARENTS, set())
    by_model: dict[Any, set[str]] = {}
    for model, id_ in parents:
        by_model.setdefault(model, set()).add(id_)
    for model, ids in by_model.items():
        found = session.execute(
            select(model.organization_id).where(model.id.in_(sorted(ids)))
        ).scalars()
        organizations.update(found)
    if organizations:
        statement = upsert(session.get_bind().dialect.name)
        session.execute(statement, [{"organization_id": each} for each in sorted(organizations)])


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(ORGANIZATIONS, None)
    session.info.pop(PARENTS, None)


async def read(session: AsyncSession, organization_id: str) -> int:
    version = await session.scalar(
        select(PAGE_VERSION.c.version).where(PAGE_VERSION.c.organization_id == organization_id)
    )
    return int(version or 0)


class PageVersions:
    """This process's copy of the counters, each read again once `interval` seconds old
    or once this process committed a write (the factory's `generation`)."""

    def __init__(
        self,
        db: Any,  # SessionFactory (engine.py imports this module)
        interval: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.interval = interval
        self.monotonic = monotonic
        # organization -> (version, when read, the factory's generation then)
        self.known: dict[str, tuple[int, float, int]] = {}

    async def current(self, organization_id: str) -> int:
        seen = self.known.get(organization_id)
        now = self.monotonic()
        generation = self.db.generation
        if seen is not None and seen[2] == generation and now - seen[1] < self.interval:
            return seen[0]
        async with self.db() as session:
            version = await read(session, organization_id)
        self.known[organization_id] = (version, now, generation)
        return version

    def changed(self, organization_id: str | None) -> None:
        """Some process changed `organization_id`'s pages (None: perhaps any
        organization's): read the counters again before serving a copy. Counts as a
        commit of this process (the factory's `generation`), so that a version read
        before the change and remembered after it (`remember`) is not trusted either."""
        if organization_id is None:
            self.known.clear()
        else:
            self.known.pop(organization_id, None)
        self.db.generation += 1

    def remember(self, organization_id: str, version: int, generation: int) -> None:
        """A version read while rendering (`generation` taken before it was read), so
        that the next request need not read it again."""
        seen = self.known.get(organization_id)
        if seen is None or seen[0] <= version:
            self.known[organization_id] = (version, self.monotonic(), generation)

    async def unchanged(self, versions: Iterable[tuple[str, int]]) -> bool:
        for organization_id, version in versions:
            if await self.current(organization_id) != version:
                return False
        return True
