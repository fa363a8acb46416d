"""The tables the checks read and write as Core tables: their statements are built once
and their rows come back as plain tuples, without ORM state (db/rows.py)."""

from sqlalchemy import Table

from statusgraph.db.models import (
    CheckResult,
    CheckRollup,
    MaintenanceService,
    MaintenanceWindow,
    Monitor,
    MonitorStatusChange,
)

MONITORS: Table = Monitor.__table__  # type: ignore[attr-defined]
RESULTS: Table = CheckResult.__table__  # type: ignore[attr-defined]
ROLLUPS: Table = CheckRollup.__table__  # type: ignore[attr-defined]
CHANGES: Table = MonitorStatusChange.__table__  # type: ignore[attr-defined]
MAINTAINS: Table = MaintenanceService.__table__  # type: ignore[attr-defined]
WINDOWS: Table = MaintenanceWindow.__table__  # type: ignore[attr-defined]
