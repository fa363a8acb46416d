"""The migrations build exactly the tables the models describe, on both dialects."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from statusgraph.db.engine import create_engine
from statusgraph.db.migrate import pending_revisions


async def test_migrated_schema_matches_the_models(database_url):
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), SQLModel.metadata
                )
            )
        assert differences == [], "write a migration: `make migration m='...'`"
        assert await pending_revisions(engine) is False
    finally:
        await engine.dispose()


async def test_an_empty_database_has_pending_revisions(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    try:
        assert await pending_revisions(engine) is True
    finally:
        await engine.dispose()
