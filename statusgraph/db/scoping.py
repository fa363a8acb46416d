"""The one place tenant filters are written: every tenant-owned query starts here.

tests/test_tenant_scoping.py fails when a comparison with an `organization_id` is
written anywhere else, so a query that forgets its tenant stands out in review.
"""

from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlmodel import SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

Model = TypeVar("Model", bound=SQLModel)


def owned_by(model: type[SQLModel], organization_id: str) -> ColumnElement[bool]:
    """The condition alone, for statements that do not select the rows themselves: an
    aggregate (`select(func.max(...))`), a single column, an `exists()`."""
    column: Any = model.organization_id  # type: ignore[attr-defined]
    condition: ColumnElement[bool] = column == organization_id
    return condition


def for_org(model: type[Model], organization_id: str) -> SelectOfScalar[Model]:
    return select(model).where(owned_by(model, organization_id))


def for_org_via(
    model: type[Model], parent: type[SQLModel], foreign_key: str, organization_id: str
) -> SelectOfScalar[Model]:
    """For a table without an organization of its own: its rows belong to their parent's."""
    parent_id: Any = parent.id  # type: ignore[attr-defined]
    return (
        select(model)
        .join(parent, getattr(model, foreign_key) == parent_id)
        .where(owned_by(parent, organization_id))
    )
