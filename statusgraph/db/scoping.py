"""The one place tenant filters are written: every tenant-owned query starts here."""

from typing import Any, TypeVar

from sqlmodel import SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

Model = TypeVar("Model", bound=SQLModel)


def for_org(model: type[Model], organization_id: str) -> SelectOfScalar[Model]:
    column: Any = model.organization_id  # type: ignore[attr-defined]
    return select(model).where(column == organization_id)


def for_org_via(
    model: type[Model], parent: type[SQLModel], foreign_key: str, organization_id: str
) -> SelectOfScalar[Model]:
    """For a table without an organization of its own: its rows belong to their parent's."""
    parent_id: Any = parent.id  # type: ignore[attr-defined]
    owner: Any = parent.organization_id  # type: ignore[attr-defined]
    return (
        select(model)
        .join(parent, getattr(model, foreign_key) == parent_id)
        .where(owner == organization_id)
    )
