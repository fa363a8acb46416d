"""The organization's time zone (DESIGN §15, docs/organization.md) in what people read:
the HTML status page, the feeds' text, the Statuspage JSON's time_zone and the
notification mails; machine-readable dates stay in UTC. A change of zone shows on the
next page read, through the page caches (db/page_versions.py)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update as sql_update
from sqlmodel import col

from statusgraph.auth.sealed import Sealer
from statusgraph.auth.subscriber_tokens import SubscriberTokens
from statusgraph.checks.guard import Guard
from statusgraph.clock import FrozenClock
from statusgraph.db import page_versions
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Organization
from statusgraph.local_time import when, when_text
from statusgraph.notifications.mail import SmtpServer
from statusgraph.notifications.messages import Subject, compose
from statusgraph.notifications.notifier import Notifier
from statusgraph.notifications.transport import Transport
from statusgraph.resolvers import maintenance
from tests.helpers import PEPPER, START, Personas, gql
from tests.smtp_sink import Sink
from tests.status_api import create_incident, create_page, create_service, create_window

UPDATE = """
mutation($input: UpdateOrganizationSettingsInput!) {
  updateOrganizationSettings(input: $input) { settings { timeZone } userErrors { code } }
}"""
# The incident's first update is at the clock's START, 2026-03-02 09:00 UTC.
AT_START_UTC = "2 Mar 2026, 09:00 UTC"
AT_START_PARIS = "2 Mar 2026, 10:00 CET"
AT_START_NEW_YORK = "2 Mar 2026, 04:00 EST"
MACHINE = 'datetime="2026-03-02T09:00:00Z"'


async def set_zone(client: httpx.AsyncClient, key: str, zone: str) -> None:
    response = await gql(client, UPDATE, {"input": {"timeZone": zone}}, key=key)
    payload = response.json()["data"]["updateOrganizationSettings"]
    assert payload == {"settings": {"timeZone": zone}, "userErrors": []}


async def page_with_an_incident(
    client: httpx.AsyncClient, key: str, *, window: bool = False
) -> str:
    api = await create_service(client, key, "API")
    await create_page(client, key, "acme", serviceIds=[api], showIncidentHistory=True)
    if window:  # from 11:00 to 12:00 UTC
        starts = START + timedelta(hours=2)
        ends = starts + timedelta(hours=1)
        await create_window(client, key, "Move", starts.isoformat(), ends.isoformat(), [api])
    return await create_incident(client, key, "Slow API", [(api, "DEGRADED_PERFORMANCE")])


class TestFormat:
    MOMENT = datetime(2026, 11, 29, 13, 5, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("zone", "shown"),
        [
            ("Europe/Paris", "29 Nov 2026, 14:05 CET"),
            ("UTC", "29 Nov 2026, 13:05 UTC"),
            ("America/New_York", "29 Nov 2026, 08:05 EST"),
            ("Asia/Kolkata", "29 Nov 2026, 18:35 IST"),
            # No abbreviation in the IANA database: the offset.
            ("America/Sao_Paulo", "29 Nov 2026, 10:05 UTC-03"),
            ("Asia/Kathmandu", "29 Nov 2026, 18:50 UTC+05:45"),
            # The date moves with the zone.
            ("Pacific/Kiritimati", "30 Nov 2026, 03:05 UTC+14"),
        ],
    )
    def test_it_writes_the_moment_in_the_zone_with_its_abbreviation(
        self, zone: str, shown: str
    ) -> None:
        assert when(self.MOMENT, zone) == shown

    def test_summer_time_has_its_own_abbreviation(self) -> None:
        assert when(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "Europe/Paris") == (
            "1 Jul 2026, 14:00 CEST"
        )

    def test_a_zone_this_host_cannot_open_falls_back_to_utc(self) -> None:
        assert when(self.MOMENT, "Mars/Olympus_Mons") == "29 Nov 2026, 13:05 UTC"
        assert when(self.MOMENT, "../../etc/passwd") == "29 Nov 2026, 13:05 UTC"

    def test_an_events_value_that_is_no_moment_is_shown_as_it_came(self) -> None:
        assert when_text("2026-11-29T13:05:00+00:00", "Europe/Paris") == "29 Nov 2026, 14:05 CET"
        assert when_text("soon", "Europe/Paris") == "soon"
        assert when_text(None, "Europe/Paris") == ""


class TestStatusPage:
    async def test_dates_are_in_the_organizations_zone_and_machine_dates_in_utc(
        self, client: httpx.AsyncClient, people: Personas
    ) -> None:
        key = people.alice.secret
        incident = await page_with_an_incident(client, key, window=True)
        await set_zone(client, key, "Europe/Paris")

        page = (await client.get("/status/acme")).text
        assert f"<time {MACHINE}>{AT_START_PARIS}</time>" in page
        assert (
            '<time datetime="2026-03-02T11:00:00Z">2 Mar 2026, 12:00 CET</time> to '
            '<time datetime="2026-03-02T12:00:00Z">2 Mar 2026, 13:00 CET</time>'
        ) in page
        assert "UTC" not in page  # no date left in UTC for people
        one = (await client.get(f"/status/acme/incidents/{incident}")).text
        assert f"<time {MACHINE}>{AT_START_PARIS}</time>" in one

    async def test_a_page_reads_utc_until_a_zone_is_chosen(
        self, client: httpx.AsyncClient, people: Personas
    ) -> None:
        await page_with_an_incident(client, people.alice.secret)
        page = (await client.get("/status/acme")).text
        assert f"<time {MACHINE}>{AT_START_UTC}</time>" in page

    async def test_another_organizations_zone_changes_nothing_here(
        self, client: httpx.AsyncClient, people: Personas
    ) -> None:
        await page_with_an_incident(client, people.alice.secret)
        await set_zone(client, people.charlie.secret, "Asia/Tokyo")
        assert AT_START_UTC in (await client.get("/status/acme")).text

    async def test_a_new_zone_shows_on_the_next_read_of_a_cached_page(
        self, client: httpx.AsyncClient, people: Personas, db: SessionFactory
    ) -> None:
        key = people.alice.secret
        incident = await page_with_an_incident(client, key)
        first = await client.get("/status/acme")
        assert AT_START_UTC in first.text
        cached = await client.get("/status/acme")
        assert cached.headers["etag"] == first.headers["etag"]
        organization_id = people.alice.organization.id

        # The control: a write the page-version listener cannot see (no ORM) leaves the
        # cached copy in place, so what follows is the listener's doing, not a miss.
        async with db.begin() as session:
            await session.exec(
                sql_update(Organization)
                .where(col(Organization.id) == organization_id)
                .values(time_zone="Asia/Tokyo")
            )
        assert AT_START_UTC in (await client.get("/status/acme")).text
        async with db() as session:
            before = await page_versions.read(session, organization_id)

        await set_zone(client, key, "America/New_York")

        async with db() as session:
            assert await page_versions.read(session, organization_id) == before + 1
        for path in ("/status/acme", f"/status/acme/incidents/{incident}"):
            shown = (await client.get(path)).text
            assert AT_START_NEW_YORK in shown, path
            assert AT_START_UTC not in shown, path

    async def test_other_settings_leave_the_page_version_alone(
        self, client: httpx.AsyncClient, people: Personas, db: SessionFactory
    ) -> None:
        key = people.alice.secret
        organization_id = people.alice.organization.id
        await set_zone(client, key, "Europe/Paris")
        async with db() as session:
            before = await page_versions.read(session, organization_id)
        response = await gql(
            client, UPDATE, {"input": {"sessionHours": 2, "name": "Acme Inc"}}, key=key
        )
        assert response.json()["data"]["updateOrganizationSettings"]["userErrors"] == []
        await set_zone(client, key, "Europe/Paris")  # the same zone: no change
        async with db() as session:
            assert await page_versions.read(session, organization_id) == before


class TestFeedsAndDocuments:
    async def test_the_feeds_text_is_in_the_zone_and_their_dates_in_utc(
        self, client: httpx.AsyncClient, people: Personas
    ) -> None:
        key = people.alice.secret
        await page_with_an_incident(client, key)
        await set_zone(client, key, "Europe/Paris")

        atom = (await client.get("/status/acme/feed.atom")).text
        assert f"{AT_START_PARIS} - Investigating: Looking into it" in atom
        assert "<updated>2026-03-02T09:00:00Z</updated>" in atom
        rss = (await client.get("/status/acme/feed.rss")).text
        assert f"{AT_START_PARIS} - Investigating: Looking into it" in rss
        assert "<pubDate>Mon, 02 Mar 2026 09:00:00 GMT</pubDate>" in rss

    async def test_the_statuspage_json_names_the_zone_and_keeps_utc_timestamps(
        self, client: httpx.AsyncClient, people: Personas
    ) -> None:
        key = people.alice.secret
        await page_with_an_incident(client, key)
        summary = (await client.get("/status/acme/api/v2/summary.json")).json()
        assert summary["page"]["time_zone"] == "Etc/UTC"
        await set_zone(client, key, "Europe/Paris")
        summary = (await client.get("/status/acme/api/v2/summary.json")).json()
        assert summary["page"]["time_zone"] == "Europe/Paris"
        [incident] = summary["incidents"]
        assert incident["created_at"] == "2026-03-02T09:00:00.000Z"


def subject(data: dict[str, Any], zone: str) -> Subject:
    return Subject(
        id="evt_1",
        type="maintenance.scheduled",
        organization_id="org_1",
        organization_name="Acme",
        created_at="2026-03-02T09:00:00+00:00",
        data=data,
        time_zone=zone,
    )


class TestNotifications:
    def test_a_message_writes_moments_in_the_zone_and_the_payload_keeps_utc(self) -> None:
        data = {
            "title": "Database upgrade",
            "startsAt": "2026-03-02T10:00:00+00:00",
            "endsAt": "2026-03-02T11:00:00+00:00",
        }
        message = compose(subject(data, "Europe/Paris"), base_url="https://s.example")
        assert message.text == "From 2 Mar 2026, 11:00 CET to 2 Mar 2026, 12:00 CET."
        payload = subject(data, "Europe/Paris").payload()
        assert payload["data"]["startsAt"] == "2026-03-02T10:00:00+00:00"
        assert "time_zone" not in payload["data"]
        assert "timeZone" not in payload["data"]

    async def test_a_maintenance_mail_is_written_in_the_organizations_zone(
        self,
        client: httpx.AsyncClient,
        people: Personas,
        db: SessionFactory,
        clock: FrozenClock,
        smtp_sink: Sink,
    ) -> None:
        key = people.alice.secret
        query = """mutation($i: CreateNotificationChannelInput!) {
          createNotificationChannel(input: $i) { userErrors { message } } }"""
        channel = {"name": "ops", "kind": "EMAIL", "addresses": ["ops@example.com"]}
        response = await gql(client, query, {"i": channel}, key=key)
        assert response.json()["data"]["createNotificationChannel"]["userErrors"] == []
        await set_zone(client, key, "America/New_York")
        starts = clock() + timedelta(hours=1)
        await create_window(
            client,
            key,
            "Database upgrade",
            starts.isoformat(),
            (starts + timedelta(hours=1)).isoformat(),
        )
        async with db.begin() as session:
            await maintenance.announce_due(session, now=clock())
        transport = Transport(
            Guard(allow_private=True),
            timeout=5,
            base_url="https://status.example.com",
            smtp=SmtpServer.parse(smtp_sink.url()),
            smtp_from="Status <status@example.com>",
        )
        mailer = Notifier(
            db, transport, Sealer(PEPPER.encode()), SubscriberTokens(PEPPER.encode()), clock=clock
        )
        try:
            await mailer.run_once()
        finally:
            await transport.close()
        [mail] = [
            each
            for each in smtp_sink.received
            if each.message["Subject"].startswith("Maintenance scheduled")
        ]
        text = mail.message.get_body(("plain",))
        assert text is not None
        assert "From 2 Mar 2026, 05:00 EST to 2 Mar 2026, 06:00 EST." in text.get_content()
