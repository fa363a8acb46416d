"""Read-only rows are Core rows, not ORM instances (db/rows.py, used by pagination and
the batch reads): a row must answer every column under the model's attribute name, with
the values the ORM gives."""

import httpx
import pytest
from sqlmodel import SQLModel, select
from starlette.applications import Starlette

from statusgraph.db import models
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import ApiKey, AuditEvent, Service
from statusgraph.resolvers import page_reads
from tests.helpers import Personas
from tests.status_api import create_service


def table_models() -> list[type[SQLModel]]:
    return [
        getattr(models, name)
        for name in models.__all__
        if hasattr(getattr(models, name), "__table__")
    ]


@pytest.mark.parametrize("model", table_models(), ids=lambda model: model.__name__)
def test_every_column_is_named_as_its_attribute(model: type[SQLModel]) -> None:
    columns = set(model.__table__.columns.keys())  # type: ignore[attr-defined]
    assert columns == set(model.model_fields), (
        f"{model.__name__}: a column named otherwise than its attribute would be missing "
        "from the Core rows a page is read as"
    )


@pytest.mark.parametrize("model", [Service, ApiKey, AuditEvent], ids=lambda m: m.__name__)
async def test_a_core_row_carries_what_the_orm_instance_does(
    client: httpx.AsyncClient, db: SessionFactory, people: Personas, model: type[SQLModel]
) -> None:
    """Custom types (UTC datetimes) and JSON columns go through the same column types."""
    await create_service(client, people.alice.secret, "API")  # a service and an audit entry
    async with db() as session:
        instances = (await session.exec(select(model))).all()
        expected = {instance.id: instance.model_dump() for instance in instances}  # type: ignore[attr-defined]
        connection = await session.connection()
        rows = list(await connection.execute(select(model)))
    assert rows
    for row in rows:
        assert {name: getattr(row, name) for name in model.model_fields} == expected[row.id]


async def test_a_core_read_sees_the_sessions_own_unsaved_changes(
    client: httpx.AsyncClient, app: Starlette, db: SessionFactory, people: Personas
) -> None:
    """As an ORM query would: read_rows flushes first."""
    service_id = await create_service(client, people.alice.secret, "API")
    # The key's first use is written in the background: done before this session writes
    # outside the app's one SQLite writer.
    await app.state.usage.flush()
    async with db() as session:
        row = (await session.exec(select(Service).where(Service.id == service_id))).one()
        row.name = "renamed"
        session.add(row)
        found = await page_reads.services_by_id(session, [service_id])
        await session.rollback()
    assert found[service_id].name == "renamed"
