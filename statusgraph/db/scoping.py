"""The one place tenant filters are written: every tenant-owned query starts here."""

from typing import Any, TypeVar

from sqlmodel import SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

Model = TypeVar("Model", bound=SQLModel)


def for_org(model: type[Model], organization_id: str) -> SelectOfScalar[Model]:
    column: Any = model.organization_id  # type: ignore[attr-defined]
    return select(model).where(column == organization_id)
