"""resolvers/public_page.py: the rules of what a public page shows, on rows in memory,
without GraphQL or a database (tests/test_public_status_page.py runs them end to end)."""

from datetime import timedelta
from typing import Any

from statusgraph.db.models import Incident, IncidentUpdate, MaintenanceWindow, Service, StatusPage
from statusgraph.resolvers import public_page
from statusgraph.resolvers import vocabulary as v
from tests.helpers import START


def page(**fields: Any) -> StatusPage:
    return StatusPage(id="page_1", organization_id="org_1", name="Acme", slug="acme", **fields)


def incident(number: int, *, resolved: bool) -> Incident:
    started_at = START - timedelta(hours=number)
    return Incident(
        id=f"inc_{number}",
        organization_id="org_1",
        title=f"Incident {number}",
        status="resolved" if resolved else "investigating",
        impact="major",
        started_at=started_at,
        resolved_at=started_at + timedelta(minutes=30) if resolved else None,
    )


def window(number: int, *, starts_in: timedelta, lasts: timedelta) -> MaintenanceWindow:
    return MaintenanceWindow(
        id=f"mnt_{number}",
        organization_id="org_1",
        title=f"Window {number}",
        description="Database upgrade",
        starts_at=START + starts_in,
        ends_at=START + starts_in + lasts,
    )


def test_the_announcement_shows_only_while_it_is_visible():
    assert public_page.announcement(page(announcement="Upgrade tonight")) is None
    assert (
        public_page.announcement(page(announcement="Upgrade tonight", announcement_visible=True))
        == "Upgrade tonight"
    )


def test_a_service_shows_its_name_description_manual_status_and_group_only():
    row = Service(
        id="svc_1",
        organization_id="org_1",
        group_id="grp_1",
        name="API",
        description="The public API",
        position=7,
        status="degraded_performance",
    )
    assert public_page.service(row) == public_page.ShownService(
        id="svc_1",
        name="API",
        description="The public API",
        manual_status="degraded_performance",
        group_id="grp_1",
    )


def test_the_overall_status_is_the_worst_and_operational_without_services():
    assert public_page.overall_status([]) == v.ServiceStatus.OPERATIONAL
    assert (
        public_page.overall_status(
            [
                v.ServiceStatus.OPERATIONAL,
                v.ServiceStatus.MAJOR_OUTAGE,
                v.ServiceStatus.DEGRADED_PERFORMANCE,
            ]
        )
        == v.ServiceStatus.MAJOR_OUTAGE
    )


def test_open_incidents_are_active_and_keep_their_order():
    rows = [incident(1, resolved=False), incident(2, resolved=True), incident(3, resolved=False)]
    assert [shown.id for shown in public_page.active_incidents(rows)] == ["inc_1", "inc_3"]
    assert public_page.active_incidents(rows)[0] == public_page.ShownIncident(
        id="inc_1",
        title="Incident 1",
        status=v.IncidentStatus.INVESTIGATING,
        impact=v.IncidentImpact.MAJOR,
        started_at=START - timedelta(hours=1),
        resolved_at=None,
    )


def test_the_history_holds_resolved_incidents_up_to_its_limit():
    rows = [incident(n, resolved=n % 2 == 0) for n in range(2 * public_page.HISTORY_LIMIT + 10)]
    history = public_page.incident_history(rows, shown=True)
    assert len(history) == public_page.HISTORY_LIMIT
    assert [shown.id for shown in history[:3]] == ["inc_0", "inc_2", "inc_4"]
    assert all(shown.resolved_at is not None for shown in history)


def test_a_page_that_hides_its_history_shows_none():
    assert public_page.incident_history([incident(1, resolved=True)], shown=False) == []


def test_an_update_shows_what_was_said_and_not_who_said_it():
    row = IncidentUpdate(
        id="upd_1",
        incident_id="inc_1",
        status="identified",
        message="A bad deploy; rolling back.",
        author_type="api_key",
        author_id="key_1",
        author_label="deploy bot",
        created_at=START,
    )
    assert public_page.update(row) == public_page.ShownUpdate(
        status=v.IncidentStatus.IDENTIFIED, message="A bad deploy; rolling back.", created_at=START
    )


def test_maintenance_carries_its_status_at_the_pages_instant():
    rows = [
        window(1, starts_in=-timedelta(hours=1), lasts=timedelta(hours=2)),
        window(2, starts_in=timedelta(hours=1), lasts=timedelta(hours=2)),
        window(3, starts_in=timedelta(0), lasts=timedelta(hours=1)),
    ]
    shown = public_page.maintenance(rows, START)
    assert [(item.id, item.status) for item in shown] == [
        ("mnt_1", v.MaintenanceStatus.IN_PROGRESS),
        ("mnt_2", v.MaintenanceStatus.SCHEDULED),
        ("mnt_3", v.MaintenanceStatus.IN_PROGRESS),  # starting now is in progress
    ]
    assert shown[1] == public_page.ShownMaintenance(
        id="mnt_2",
        title="Window 2",
        description="Database upgrade",
        starts_at=START + timedelta(hours=1),
        ends_at=START + timedelta(hours=3),
        status=v.MaintenanceStatus.SCHEDULED,
    )
