"""The ping path's own driver layer (ingest/driver.py): statements bound in the order they
name their parameters, through the column types, with the fused SQLite datetime binder."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url

from statusgraph.db.types import UtcDateTime
from statusgraph.ingest.driver import DriverStatement
from statusgraph.ingest.writers import INSERT_PINGS, MONITORS_BY_IDS


class TestUtcDateTimeOnSqlite:
    """The fused binder of the ping path writes exactly what SQLAlchemy's own would."""

    @pytest.mark.parametrize(
        "value",
        [
            datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
            datetime(2026, 11, 25, 10, 0, 1, 5, tzinfo=UTC),
            datetime(999, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
            datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-7))),
            None,
        ],
    )
    def test_it_writes_the_same_text_as_the_generic_processors(self, value):
        dialect = sqlite.dialect()
        column = UtcDateTime()
        generic = column.dialect_impl(dialect).bind_processor(dialect)
        fused = column.driver_bind_processor(dialect)
        assert generic is not None
        assert fused is not None
        assert fused(value) == generic(value)

    def test_it_refuses_naive_values_like_the_generic_one(self):
        fused = UtcDateTime().driver_bind_processor(sqlite.dialect())
        assert fused is not None
        with pytest.raises(ValueError, match="naive datetime"):
            fused(datetime(2026, 1, 1))

    def test_other_dialects_keep_the_generic_processors(self):
        # The dialect class through the URL: `postgresql.dialect()` is untyped upstream.
        postgresql = make_url("postgresql+asyncpg://").get_dialect()()
        assert UtcDateTime().driver_bind_processor(postgresql) is None


class TestDriverStatement:
    """ingest/driver.py binds what the statement names, in its order, through the column types."""

    def test_literal_values_come_from_the_statement_and_the_rest_from_the_row(self):
        statement = DriverStatement(MONITORS_BY_IDS, sqlite.dialect())
        assert list(statement.parameters({"ids": '["mon_1"]'})) == ['["mon_1"]', "heartbeat"]

    def test_a_missing_value_is_an_error_not_a_null(self):
        statement = DriverStatement(INSERT_PINGS, sqlite.dialect())
        row = {
            "id": "png_1",
            "monitor_id": "mon_1",
            "kind": "success",
            "message": None,
            "duration_ms": None,
            "ip": None,
            "created_at": datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        }
        assert list(statement.parameters(row))[-1] == "2026-11-25 10:00:00.000000"
        del row["kind"]
        with pytest.raises(KeyError, match="kind"):
            statement.parameters(row)


def test_postgresql_locks_a_groups_monitors_in_id_order_so_two_groups_cannot_deadlock():
    """Two processes' groups sharing monitors must take their row locks in one order;
    PostgreSQL locks rows as the sorted result comes out of ORDER BY."""
    from statusgraph.ingest.writers import LOCKED_MONITORS

    postgresql = make_url("postgresql+asyncpg://").get_dialect()()  # typed, unlike .dialect()
    sql = str(LOCKED_MONITORS.compile(dialect=postgresql))
    assert sql.index("ORDER BY monitor.id") < sql.index("FOR UPDATE")
