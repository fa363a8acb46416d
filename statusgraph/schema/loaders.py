"""Per-request DataLoaders: one batch query per kind of object, whatever the nesting.

Every batch reads through the request's one read session (Context.read).
"""

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from statusgraph.db.models import (
    Incident,
    IncidentUpdate,
    MaintenanceWindow,
    Organization,
    Service,
)
from statusgraph.resolvers import incidents, maintenance, page_reads, service_status, status_pages
from statusgraph.resolvers.vocabulary import ServiceStatus

Key = TypeVar("Key")
Value = TypeVar("Value")


class Loaders:
    def __init__(
        self, read: Callable[[], AbstractAsyncContextManager[AsyncSession]], now: datetime
    ) -> None:
        self._read = read
        self._now = now
        self.organization = self._loader(self._organizations)
        self.service = self._loader(page_reads.services_by_id)
        self.service_group = self._loader(page_reads.groups_by_id)
        self.service_status: DataLoader[tuple[str, str], ServiceStatus] = self._loader(
            self._statuses
        )
        self.page_services: DataLoader[str, list[Service]] = self._loader(
            status_pages.services_for, default=list
        )
        self.incident_updates: DataLoader[str, list[IncidentUpdate]] = self._loader(
            incidents.updates_for, default=list
        )
        self.incident_effects: DataLoader[str, list[incidents.Effect]] = self._loader(
            incidents.effects_for, default=list
        )
        self.maintenance_services: DataLoader[str, list[str]] = self._loader(
            maintenance.services_for, default=list
        )
        self.page_incidents: DataLoader[str, list[Incident]] = self._loader(
            self._page_incidents, default=list
        )
        self.page_maintenance: DataLoader[str, list[MaintenanceWindow]] = self._loader(
            self._page_maintenance, default=list
        )

    def _loader(
        self,
        batch: Callable[[AsyncSession, Sequence[Any]], Awaitable[dict[Any, Any]]],
        default: Callable[[], Any] | None = None,
    ) -> DataLoader[Any, Any]:
        async def load(keys: list[Any]) -> list[Any]:
            async with self._read() as session:
                found = await batch(session, keys)
            return [found.get(key, default() if default else None) for key in keys]

        return DataLoader(load)

    @staticmethod
    async def _organizations(session: AsyncSession, ids: Sequence[str]) -> dict[str, Organization]:
        rows = await session.exec(select(Organization).where(col(Organization.id).in_(ids)))
        return {row.id: row for row in rows.all()}

    async def _statuses(
        self, session: AsyncSession, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], ServiceStatus]:
        derived = await service_status.displayed_statuses(session, keys, self._now)
        return {key: derived[key[0]] for key in keys}

    async def _page_incidents(
        self, session: AsyncSession, ids: Sequence[str]
    ) -> dict[str, list[Incident]]:
        return await page_reads.incidents_for_pages(session, ids, now=self._now)

    async def _page_maintenance(
        self, session: AsyncSession, ids: Sequence[str]
    ) -> dict[str, list[MaintenanceWindow]]:
        return await page_reads.maintenance_for_pages(session, ids, now=self._now)
