"""Per-request DataLoaders: one batch query per kind of object, whatever the nesting.

Every batch reads through the request's one read session (Context.read).
"""

import functools
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from statusgraph.checks import history
from statusgraph.db.models import (
    DeliveryAttempt,
    IncidentUpdate,
    Monitor,
    Organization,
    Service,
    ServiceGroup,
)
from statusgraph.resolvers import (
    incidents,
    maintenance,
    notification_channels,
    page_reads,
    service_status,
    status_pages,
)
from statusgraph.resolvers.vocabulary import ServiceStatus

Key = TypeVar("Key")
Value = TypeVar("Value")


class Loaders:
    """Made on first use: most requests now read through their root field's preload
    (schema/preload.py) and never touch a DataLoader."""

    def __init__(
        self, read: Callable[[], AbstractAsyncContextManager[AsyncSession]], now: datetime
    ) -> None:
        self._read = read
        self._now = now

    @functools.cached_property
    def organization(self) -> DataLoader[str, Organization]:
        # Only ever asked for the caller's own organization, which exists while its
        # credential does.
        return self._loader(self._organizations)

    @functools.cached_property
    def last_check(self) -> DataLoader[str, Any]:
        """Each monitor's newest check result (a Core row), or None."""
        return self._loader(history.last_results)

    @functools.cached_property
    def service(self) -> DataLoader[str, Service | None]:
        return self._loader(page_reads.services_by_id)

    @functools.cached_property
    def service_group(self) -> DataLoader[str, ServiceGroup | None]:
        return self._loader(page_reads.groups_by_id)

    @functools.cached_property
    def service_status(self) -> DataLoader[tuple[str, str], ServiceStatus]:
        return self._loader(self._statuses)

    @functools.cached_property
    def page_services(self) -> DataLoader[str, list[Service]]:
        return self._loader(status_pages.services_for, default=list)

    @functools.cached_property
    def incident_updates(self) -> DataLoader[str, list[IncidentUpdate]]:
        return self._loader(incidents.updates_for, default=list)

    @functools.cached_property
    def incident_effects(self) -> DataLoader[str, list[incidents.Effect]]:
        return self._loader(incidents.effects_for, default=list)

    @functools.cached_property
    def maintenance_services(self) -> DataLoader[str, list[str]]:
        return self._loader(maintenance.services_for, default=list)

    @functools.cached_property
    def delivery_attempts(self) -> DataLoader[str, list[DeliveryAttempt]]:
        return self._loader(notification_channels.attempts_for, default=list)

    @functools.cached_property
    def monitor_history(self) -> DataLoader[tuple[str, datetime], history.History]:
        """A monitor's statuses from a moment until now, keyed (monitor id, since): a list
        of monitors asking for uptime or bars costs three statements per window, not
        three per monitor."""
        return self._loader(self._histories)

    async def _histories(
        self, session: AsyncSession, keys: Sequence[tuple[str, datetime]]
    ) -> dict[tuple[str, datetime], history.History]:
        rows = await session.exec(
            select(Monitor).where(col(Monitor.id).in_(sorted({key[0] for key in keys})))
        )
        monitors = {row.id: row for row in rows.all()}
        found: dict[tuple[str, datetime], history.History] = {}
        for since in sorted({key[1] for key in keys}):
            wanted = [monitors[m] for m, s in keys if s == since and m in monitors]
            for monitor_id, past in (
                await history.histories(session, wanted, since, self._now)
            ).items():
                found[(monitor_id, since)] = past
        return found

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
