"""Per-request DataLoaders: one batch query per kind of object, whatever the nesting."""

from sqlmodel import col, select
from strawberry.dataloader import DataLoader

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Organization
from statusgraph.ids import id_prefix


class Loaders:
    def __init__(self, db: SessionFactory) -> None:
        self._db = db
        self.organization = DataLoader[str, Organization | None](self._load_organizations)

    async def _load_organizations(self, ids: list[str]) -> list[Organization | None]:
        # Sibling fields resolve concurrently, so each batch gets its own short session.
        async with self._db() as session:
            rows = (
                await session.exec(select(Organization).where(col(Organization.id).in_(ids)))
            ).all()
        found = {row.id: row for row in rows}
        return [found.get(key) if id_prefix(key) == "org" else None for key in ids]
