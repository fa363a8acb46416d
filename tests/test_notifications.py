"""Notifications end to end, against receivers the tests start (DESIGN §12): events written
with their changes, fan-out by filters, Standard Webhooks signatures checked with the
reference library, Slack and Discord formats, the retry schedule and the delivery log,
redelivery, disabling after five days, secret rotation, and the API's rules.

Time goes through the injected clock; `notifier.run_once()` dispatches and sends what is
due at the clock's instant, for real, over loopback.
"""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from statusgraph.auth.sealed import Sealer
from statusgraph.auth.subscriber_tokens import SubscriberTokens
from statusgraph.checks.guard import Guard
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import AuditEvent, Delivery, Monitor, NotificationChannel
from statusgraph.notifications import deliveries, reminders
from statusgraph.notifications.mail import SmtpServer
from statusgraph.notifications.notifier import Notifier
from statusgraph.notifications.transport import Transport
from statusgraph.resolvers import maintenance
from tests.helpers import PEPPER, Personas, change_events, gql
from tests.receivers import Receiver
from tests.smtp_sink import Sink

BASE_URL = "https://status.example.com"


@pytest.fixture
async def notifier(db: SessionFactory, clock: FrozenClock) -> AsyncIterator[Notifier]:
    transport = Transport(Guard(allow_private=True), timeout=5, base_url=BASE_URL)
    made = Notifier(
        db, transport, Sealer(PEPPER.encode()), SubscriberTokens(PEPPER.encode()), clock=clock
    )
    yield made
    await transport.close()


CREATE_CHANNEL = """
mutation($input: CreateNotificationChannelInput!) {
  createNotificationChannel(input: $input) {
    notificationChannel { id name kind url addresses eventTypes monitorIds serviceIds enabled }
    signingSecret
    userErrors { field code message }
  }
}"""

DELIVERIES = """
query($channel: ID, $status: DeliveryStatus) {
  deliveries(channelId: $channel, status: $status, first: 50) {
    edges { node {
      id eventType status attemptCount nextAttemptAt
      attempts { succeeded statusCode errorClass error responseExcerpt durationMs }
    } }
  }
}"""


async def channel(
    client: httpx.AsyncClient, key: str, **fields: Any
) -> tuple[dict[str, Any], str | None]:
    body = (
        await gql(
            client, CREATE_CHANNEL, {"input": {"name": "ops", "kind": "WEBHOOK"} | fields}, key=key
        )
    ).json()
    payload = body["data"]["createNotificationChannel"]
    assert payload["userErrors"] == [], body
    return payload["notificationChannel"], payload["signingSecret"]


async def create_channel_errors(
    client: httpx.AsyncClient, key: str, **fields: Any
) -> list[dict[str, str]]:
    body = (
        await gql(
            client, CREATE_CHANNEL, {"input": {"name": "ops", "kind": "WEBHOOK"} | fields}, key=key
        )
    ).json()
    payload = body["data"]["createNotificationChannel"]
    assert payload["notificationChannel"] is None
    errors: list[dict[str, str]] = payload["userErrors"]
    return errors


async def incident(client: httpx.AsyncClient, key: str, **fields: Any) -> str:
    query = """mutation($i: CreateIncidentInput!) {
      createIncident(input: $i) { incident { id } userErrors { message } } }"""
    variables = {"i": {"title": "API errors", "message": "Looking into it"} | fields}
    body = (await gql(client, query, variables, key=key)).json()
    assert body["data"]["createIncident"]["userErrors"] == [], body
    return str(body["data"]["createIncident"]["incident"]["id"])


async def service(client: httpx.AsyncClient, key: str, name: str) -> str:
    query = "mutation($i: CreateServiceInput!) { createService(input: $i) { service { id } } }"
    body = (await gql(client, query, {"i": {"name": name}}, key=key)).json()
    return str(body["data"]["createService"]["service"]["id"])


async def heartbeat(client: httpx.AsyncClient, key: str, **fields: Any) -> str:
    query = """mutation($i: CreateMonitorInput!) {
      createMonitor(input: $i) { monitor { id } userErrors { field code message } } }"""
    defaults = {"name": "backup", "type": "HEARTBEAT", "periodSeconds": 3600, "graceSeconds": 300}
    variables = {"i": defaults | fields}
    body = (await gql(client, query, variables, key=key)).json()
    assert body["data"]["createMonitor"]["userErrors"] == [], body
    return str(body["data"]["createMonitor"]["monitor"]["id"])


async def ping_down(client: httpx.AsyncClient, key: str, monitor_id: str) -> None:
    response = await client.post(
        f"/api/heartbeat/{monitor_id}",
        headers={"X-API-Key": key},
        json={"status": "down", "message": "disk full"},
    )
    assert response.status_code == 200, response.text


async def ping_up(client: httpx.AsyncClient, key: str, monitor_id: str) -> None:
    response = await client.post(f"/api/heartbeat/{monitor_id}", headers={"X-API-Key": key})
    assert response.status_code == 200, response.text


async def delivery_log(
    client: httpx.AsyncClient, key: str, channel_id: str | None = None, **filters: Any
) -> list[dict[str, Any]]:
    body = (await gql(client, DELIVERIES, {"channel": channel_id, **filters}, key=key)).json()
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["deliveries"]["edges"]]


def verified(secret: str, request: Any) -> dict[str, Any]:
    """The payload, once the reference library has checked the signature."""
    payload: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return payload


async def test_an_incident_reaches_a_webhook_signed_and_logged(
    client: httpx.AsyncClient,
    people: Personas,
    notifier: Notifier,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    key = people.alice.secret
    created, secret = await channel(client, key, url=receiver.url())
    assert secret is not None
    assert secret.startswith("whsec_")
    api = await service(client, key, "API")
    incident_id = await incident(
        client, key, services=[{"serviceId": api, "status": "MAJOR_OUTAGE"}]
    )
    # Nothing leaves before the dispatcher runs; the event was written with the incident.
    assert receiver.requests == []
    assert await notifier.run_once() == 1
    [request] = receiver.requests
    payload = verified(secret, request)
    assert payload["type"] == "incident.created"
    assert payload["data"]["incidentId"] == incident_id
    assert payload["data"]["title"] == "API errors"
    assert payload["data"]["services"] == [{"id": api, "name": "API"}]
    assert request.headers["Content-Type"] == "application/json"
    [logged] = await delivery_log(client, key, created["id"])
    assert logged["id"] == request.headers["webhook-id"]
    assert (logged["status"], logged["attemptCount"], logged["nextAttemptAt"]) == (
        "SUCCEEDED",
        1,
        None,
    )
    [attempt] = logged["attempts"]
    assert (attempt["succeeded"], attempt["statusCode"], attempt["responseExcerpt"]) == (
        True,
        200,
        "ok",
    )
    # Run again: nothing more is sent.
    assert await notifier.run_once() == 0
    assert len(receiver.requests) == 1


async def test_a_tampered_body_or_a_wrong_secret_fails_verification(
    client: httpx.AsyncClient, people: Personas, notifier: Notifier, receiver: Receiver
) -> None:
    _created, secret = await channel(client, people.alice.secret, url=receiver.url())
    await incident(client, people.alice.secret)
    await notifier.run_once()
    [request] = receiver.requests
    assert secret is not None
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body + b" ", request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").verify(request.body, request.headers)


async def test_a_heartbeat_going_down_and_up_tells_the_webhook_each_time(
    client: httpx.AsyncClient,
    people: Personas,
    notifier: Notifier,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    key = people.alice.secret
    _created, secret = await channel(client, key, url=receiver.url())
    assert secret is not None
    monitor = await heartbeat(client, key)
    await ping_up(client, key, monitor)  # PENDING -> UP tells no one
    clock.advance(seconds=1)
    await ping_down(client, key, monitor)
    clock.advance(seconds=1)
    await ping_up(client, key, monitor)
    assert await notifier.run_once() == 2
    down, up = (verified(secret, request) for request in receiver.requests)
    assert down["type"] == "monitor.down"
    assert down["data"]["reason"] == "ping with status down"
    assert down["data"]["monitor"] == {
        "id": monitor,
        "name": "backup",
        "type": "HEARTBEAT",
        "target": None,
    }
    assert (up["type"], up["data"]["from"], up["data"]["to"]) == ("monitor.up", "down", "up")


async def test_slack_and_discord_get_their_own_formats(
    client: httpx.AsyncClient, people: Personas, notifier: Notifier, receiver: Receiver
) -> None:
    key = people.alice.secret
    # Tests reach loopback over http; the rule that Slack and Discord URLs are https is
    # checked in test_channel_validation; here the rows are written as they would be.
    slack, _ = await channel(client, key, kind="WEBHOOK", url=receiver.url("/slack"))
    discord, _ = await channel(client, key, kind="WEBHOOK", url=receiver.url("/discord"))
    await as_kind(notifier.db, slack["id"], "slack")
    await as_kind(notifier.db, discord["id"], "discord")
    await incident(client, key, title="@everyone database down")
    assert await notifier.run_once() == 2
    [to_slack] = receiver.at("/slack")
    assert "webhook-signature" not in to_slack.headers
    body = to_slack.json()
    assert body["text"] == "New incident: @everyone database down"
    [attachment] = body["attachments"]
    assert attachment["title_link"] == f"{BASE_URL}/graphql"
    assert attachment["text"].startswith("[investigating] Looking into it")
    [to_discord] = receiver.at("/discord")
    body = to_discord.json()
    assert body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert embed["title"] == "New incident: @everyone database down"
    assert embed["color"] == 0xD93F0B


async def as_kind(db: SessionFactory, channel_id: str, kind: str) -> None:
    async with db.begin() as session:
        row = await session.get(NotificationChannel, channel_id)
        assert row is not None
        row.kind, row.secret = kind, None
        session.add(row)


async def test_failures_follow_the_retry_schedule_then_fail(
    client: httpx.AsyncClient,
    people: Personas,
    notifier: Notifier,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    key = people.alice.secret
    created, _ = await channel(client, key, url=receiver.url())
    receiver.status, receiver.answer = 503, "x" * 5000
    await incident(client, key)
    waits = [0, 5, 300, 1800, 7200, 18000, 36000]
    for number, wait in enumerate(waits, start=1):
        clock.advance(seconds=wait - 1) if wait else None
        if wait:
            assert await notifier.run_once() == 0  # not due a second early
            clock.advance(seconds=1)
        assert await notifier.run_once() == 1
        [logged] = await delivery_log(client, key, created["id"])
        assert logged["attemptCount"] == number
    assert len(receiver.requests) == 7
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 1
    [logged] = await delivery_log(client, key, created["id"])
    assert (logged["status"], logged["nextAttemptAt"]) == ("FAILED", None)
    attempt = logged["attempts"][-1]
    assert (attempt["succeeded"], attempt["statusCode"], attempt["errorClass"]) == (
        False,
        503,
        "status",
    )
    assert attempt["error"] == "HTTP 503"
    assert len(attempt["responseExcerpt"]) == 1024
    assert await delivery_log(client, key, created["id"], status="PENDING") == []
    clock.advance(hours=24)
    assert await notifier.run_once() == 0


async def test_a_retry_that_succeeds_ends_the_failing_streak(
    client: httpx.AsyncClient,
    people: Personas,
    notifier: Notifier,
    receiver: Receiver,
    clock: FrozenClock,
    db: SessionFactory,
) -> None:
    key = people.alice.secret
    created, _ = await channel(client, key, url=receiver.url())
    receiver.status = 500
    await incident(client, key)
    await notifier.run_once()
    async with db() as session:
        row = await session.get(NotificationChannel, created["id"])
        assert row is not None
        assert row.failing_since == clock()
    receiver.status = 204
    clock.advance(seconds=5)
    assert await notifier.run_once() == 1
    [logged] = await delivery_log(client, key, created["id"])
    assert (logged["status"], logged["attemptCount"]) == ("SUCCEEDED", 2)
    async with db() as session:
        row = await session.get(NotificationChannel, created["id"], populate_existing=True)
        assert row is not None
        assert row.failing_since is None


async def test_an_endpoint_failing_for_five_days_is_disabled_with_an_event(
    client: httpx.AsyncClient,
    people: Personas,
    notifier: Notifier,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    key = people.alice.secret
    failing, _ = await channel(client, key, name="broken", url=receiver.url("/broken"))
    watcher, secret = await channel(
        client, key, name="watcher", url=receiver.url("/watch"), eventTypes=["CHANNEL_DISABLED"]
    )
    receiver.status = 500
    for day in range(6):
        await incident(client, key, title=f"day {day}")
        await notifier.run_once()
        clock.advance(days=1)
    read = """query($id: ID!) { notificationChannel(id: $id) {
      enabled disabledReason failingSince } }"""
    body = (await gql(client, read, {"id": failing["id"]}, key=key)).json()
    state = body["data"]["notificationChannel"]
    assert state["enabled"] is False
    assert state["disabledReason"].startswith("every delivery failed for 5 days")
    # A disabled channel is sent nothing more, and its pending deliveries fail.
    before = len(receiver.at("/broken"))
    receiver.status = 200
    await incident(client, key, title="after")
    clock.advance(days=1)
    await notifier.run_once()
    assert len(receiver.at("/broken")) == before
    pending = await delivery_log(client, key, failing["id"], status="PENDING")
    assert pending == []
    # The watcher hears of it.
    [told] = receiver.at("/watch")
    assert verified(str(secret), told)["type"] == "channel.disabled"
    assert verified(str(secret), told)["data"]["channelId"] == failing["id"]
    # Enabled again, it starts afresh.
    enable = """mutation($id: ID!) { updateNotificationChannel(id: $id, input: {enabled: true}) {
      notificationChannel { enabled disabledReason failingSince } userErrors { message } } }"""
    body = (await gql(client, enable, {"id": failing["id"]}, key=key)).json()
    assert body["data"]["updateNotificationChannel"]["notificationChannel"] == {
        "enabled": True,
        "disabledReason": None,
        "failingSince": None,
    }
    assert watcher["eventTypes"] == ["CHANNEL_DISABLED"]


async def test_redeliver_sends_again_with_the_same_webhook_id(
    client: httpx.AsyncClient, people: Personas, notifier: Notifier, receiver: Receiver
) -> None:
    key = people.alice.secret
    created, secret = await channel(client, key, url=receiver.url())
    await incident(client, key)
    await notifier.run_once()
    [logged] = await delivery_log(client, key, created["id"])
    query = """mutation($id: ID!) { redeliver(id: $id) {
      delivery { id status } userErrors { field code message } } }"""
    body = (await gql(client, query, {"id": logged["id"]}, key=key)).json()
    assert body["data"]["redeliver"] == {
        "delivery": {"id": logged["id"], "status": "PENDING"},
        "userErrors": [],
    }
    assert await notifier.run_once() == 1
    first, again = receiver.requests
    assert first.headers["webhook-id"] == again.headers["webhook-id"] == logged["id"]
    assert verified(str(secret), again) == verified(str(secret), first)
    [logged] = await delivery_log(client, key, created["id"])
    assert (logged["status"], logged["attemptCount"]) == ("SUCCEEDED", 2)


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    client: httpx.AsyncClient,
    people: Personas,
    notifier: Notifier,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    key = people.alice.secret
    created, old = await channel(client, key, url=receiver.url())
    rotate = """mutation($id: ID!) { rotateNotificationChannelSecret(id: $id) {
      notificationChannel { previousSecretValidUntil } signingSecret
      userErrors { message } } }"""
    body = (await gql(client, rotate, {"id": created["id"]}, key=key)).json()
    payload = body["data"]["rotateNotificationChannelSecret"]
    new = payload["signingSecret"]
    assert new.startswith("whsec_")
    assert new != old
    until = clock() + timedelta(hours=24)
    assert payload["notificationChannel"]["previousSecretValidUntil"] == until.isoformat()
    await incident(client, key)
    await notifier.run_once()
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verified(str(old), request) == verified(new, request)
    clock.advance(hours=24, seconds=1)
    await incident(client, key, title="later")
    await notifier.run_once()
    later = receiver.requests[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    verified(new, later)
    with pytest.raises(WebhookVerificationError):
        verified(str(old), later)
    # The secrets are stored sealed, never as given.
    async with notifier.db() as session:
        row = await session.get(NotificationChannel, created["id"])
        assert row is not None
        assert row.secret is not None
        assert new not in row.secret
        assert str(old) not in str(row.previous_secret)
    # And the audit log names the rotation, without the secret.
    async with notifier.db() as session:
        entries = (await session.exec(select(AuditEvent))).all()
    text = repr([(entry.action, entry.details) for entry in entries])
    assert "notification_channel.secret_rotated" in text
    assert new not in text
    assert str(old) not in text


async def test_filters_choose_the_channels(
    client: httpx.AsyncClient,
    people: Personas,
    notifier: Notifier,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    key = people.alice.secret
    api, web = await service(client, key, "API"), await service(client, key, "Web")
    watched = await heartbeat(client, key, name="watched", serviceId=api)
    other = await heartbeat(client, key, name="other")
    await channel(client, key, url=receiver.url("/all"))
    await channel(client, key, url=receiver.url("/down"), eventTypes=["MONITOR_DOWN"])
    await channel(client, key, url=receiver.url("/monitor"), monitorIds=[watched])
    await channel(client, key, url=receiver.url("/web"), serviceIds=[web])
    await channel(client, key, url=receiver.url("/api"), serviceIds=[api])
    await incident(client, key, services=[{"serviceId": web, "status": "PARTIAL_OUTAGE"}])
    for monitor in (watched, other):
        await ping_up(client, key, monitor)
        clock.advance(seconds=1)
        await ping_down(client, key, monitor)
    await notifier.run_once()

    def types(path: str) -> list[tuple[str, str | None]]:
        return sorted(
            (r.json()["type"], r.json()["data"].get("monitor", {}).get("name"))
            for r in receiver.at(path)
        )

    assert types("/all") == [
        ("incident.created", None),
        ("monitor.down", "other"),
        ("monitor.down", "watched"),
    ]
    assert types("/down") == [("monitor.down", "other"), ("monitor.down", "watched")]
    assert types("/monitor") == [("monitor.down", "watched")]
    assert types("/web") == [("incident.created", None)]
    assert types("/api") == [("monitor.down", "watched")]  # the monitor's service


async def test_a_monitor_that_names_its_channels_notifies_those_only(
    client: httpx.AsyncClient,
    people: Personas,
    notifier: Notifier,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    key = people.alice.secret
    chosen, _ = await channel(client, key, url=receiver.url("/chosen"))
    await channel(client, key, url=receiver.url("/other"))
    monitor = await heartbeat(client, key, notifyChannelIds=[chosen["id"]])
    await ping_up(client, key, monitor)
    clock.advance(seconds=1)
    await ping_down(client, key, monitor)
    await incident(client, key)
    await notifier.run_once()
    assert sorted(r.json()["type"] for r in receiver.at("/chosen")) == [
        "incident.created",
        "monitor.down",
    ]
    assert [r.json()["type"] for r in receiver.at("/other")] == ["incident.created"]


async def test_reminders_while_down_at_the_monitors_interval(
    client: httpx.AsyncClient,
    people: Personas,
    notifier: Notifier,
    receiver: Receiver,
    clock: FrozenClock,
    db: SessionFactory,
) -> None:
    key = people.alice.secret
    await channel(client, key, url=receiver.url())
    monitor = await heartbeat(client, key, renotifyMinutes=30)
    await ping_up(client, key, monitor)
    clock.advance(seconds=1)
    await ping_down(client, key, monitor)

    async def remind() -> int:
        async with db.begin() as session:
            return await reminders.remind(session, now=clock())

    clock.advance(minutes=29)
    assert await remind() == 0
    clock.advance(minutes=1)
    assert await remind() == 1
    assert await remind() == 0  # once
    clock.advance(minutes=30)
    assert await remind() == 1
    await ping_up(client, key, monitor)
    clock.advance(hours=2)
    assert await remind() == 0  # UP again: no more reminders
    await notifier.run_once()
    sent = [(r.json()["type"], r.json()["data"].get("reminder")) for r in receiver.requests]
    assert sorted(sent, key=str) == sorted(
        [
            ("monitor.down", None),
            ("monitor.down", True),
            ("monitor.down", True),
            ("monitor.up", None),
        ],
        key=str,
    )


async def test_maintenance_is_told_when_scheduled_started_and_completed(
    client: httpx.AsyncClient,
    people: Personas,
    notifier: Notifier,
    receiver: Receiver,
    clock: FrozenClock,
    db: SessionFactory,
) -> None:
    key = people.alice.secret
    await channel(client, key, url=receiver.url())
    query = """mutation($i: CreateMaintenanceWindowInput!) {
      createMaintenanceWindow(input: $i) { maintenanceWindow { id } userErrors { message } } }"""
    starts = clock() + timedelta(hours=1)
    variables = {
        "i": {
            "title": "Database upgrade",
            "startsAt": starts.isoformat(),
            "endsAt": (starts + timedelta(hours=1)).isoformat(),
        }
    }
    body = (await gql(client, query, variables, key=key)).json()
    assert body["data"]["createMaintenanceWindow"]["userErrors"] == []

    async def announce() -> int:
        async with db.begin() as session:
            return await maintenance.announce_due(session, now=clock())

    assert await announce() == 0
    clock.advance(hours=1)
    assert await announce() == 1
    assert await announce() == 0
    clock.advance(hours=5)  # long past the end: completed, once
    assert await announce() == 1
    assert await announce() == 0
    await notifier.run_once()
    assert [r.json()["type"] for r in receiver.requests] == [
        "maintenance.scheduled",
        "maintenance.started",
        "maintenance.completed",
    ]


async def test_service_status_changes_are_events(
    client: httpx.AsyncClient, people: Personas, notifier: Notifier, receiver: Receiver
) -> None:
    key = people.alice.secret
    await channel(client, key, url=receiver.url())
    api = await service(client, key, "API")
    query = """mutation($id: ID!, $i: UpdateServiceInput!) {
      updateService(id: $id, input: $i) { service { status } } }"""
    await gql(client, query, {"id": api, "i": {"status": "DEGRADED_PERFORMANCE"}}, key=key)
    await gql(client, query, {"id": api, "i": {"name": "API v2"}}, key=key)  # no status change
    await notifier.run_once()
    [request] = receiver.requests
    body = request.json()
    assert body["type"] == "service.status_changed"
    assert (body["data"]["from"], body["data"]["to"]) == ("operational", "degraded_performance")
    assert body["data"]["services"] == [{"id": api, "name": "API v2"}]


async def test_a_failed_change_writes_no_event(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory
) -> None:
    query = """mutation($i: CreateIncidentInput!) {
      createIncident(input: $i) { userErrors { field code } } }"""
    body = (
        await gql(client, query, {"i": {"title": "", "message": "x"}}, key=people.alice.secret)
    ).json()
    assert body["data"]["createIncident"]["userErrors"] == [{"field": "title", "code": "INVALID"}]
    async with db() as session:
        assert (await session.exec(change_events())).all() == []


async def test_test_notification_channel_sends_now_and_logs_it(
    client: httpx.AsyncClient, people: Personas, receiver: Receiver, db: SessionFactory
) -> None:
    key = people.alice.secret
    created, secret = await channel(client, key, url=receiver.url())
    query = """mutation($id: ID!) { testNotificationChannel(id: $id) {
      delivery { id eventType status attempts { succeeded statusCode } }
      userErrors { field code message } } }"""
    body = (await gql(client, query, {"id": created["id"]}, key=key)).json()
    payload = body["data"]["testNotificationChannel"]
    assert payload["userErrors"] == []
    assert payload["delivery"]["eventType"] == "TEST"
    assert payload["delivery"]["status"] == "SUCCEEDED"
    assert payload["delivery"]["attempts"] == [{"succeeded": True, "statusCode": 200}]
    [request] = receiver.requests
    assert verified(str(secret), request)["type"] == "test"
    # Failing, it is tried once, never retried.
    receiver.status = 500
    body = (await gql(client, query, {"id": created["id"]}, key=key)).json()
    assert body["data"]["testNotificationChannel"]["delivery"]["status"] == "FAILED"
    async with db() as session:
        rows = (await session.exec(select(Delivery))).all()
    assert [row.next_attempt_at for row in rows] == [None, None]


async def test_the_ssrf_guard_refuses_private_targets_when_saved_and_when_sent(
    app_with: Any, people: Personas, receiver: Receiver, db: SessionFactory, clock: FrozenClock
) -> None:
    _app, guarded = await app_with(checks_allow_private_networks=False)
    key = people.alice.secret
    for url in ("http://127.0.0.1:9/hook", "http://10.0.0.1/hook", "http://169.254.169.254/x"):
        errors = await create_channel_errors(guarded, key, url=url)
        assert [(e["field"], e["code"]) for e in errors] == [("url", "BLOCKED_ADDRESS")]
        assert "STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS=true" in errors[0]["message"]
    # Saved while allowed, sent by a guarded notifier: refused where it dials.
    created, _ = await channel(guarded, key, url="http://1.1.1.1/hook")
    async with db.begin() as session:
        row = await session.get(NotificationChannel, created["id"])
        assert row is not None
        row.settings = {"url": receiver.url()}
        session.add(row)
    await incident(guarded, key)
    transport = Transport(Guard(allow_private=False), timeout=5, base_url=BASE_URL)
    guarded_notifier = Notifier(
        db, transport, Sealer(PEPPER.encode()), SubscriberTokens(PEPPER.encode()), clock=clock
    )
    try:
        await guarded_notifier.run_once()
    finally:
        await transport.close()
    assert receiver.requests == []
    [logged] = await delivery_log(guarded, key, created["id"])
    assert logged["attempts"][0]["errorClass"] == "blocked"
    assert "loopback" in logged["attempts"][0]["error"]


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {"name": " ", "url": "https://example.com/x"},
            [("name", "INVALID", "Name must be 1 to 200 characters")],
        ),
        ({}, [("url", "REQUIRED", "url is required for WEBHOOK channels")]),
        (
            {"url": "ftp://example.com/x"},
            [("url", "INVALID", "url must be an http or https URL of at most 2048 characters")],
        ),
        (
            {"url": "https://example.com:99999/x"},
            [("url", "INVALID", "url has an invalid port")],
        ),
        (
            {"kind": "SLACK", "url": "http://hooks.example.com/services/T/B/x"},
            [("url", "INVALID", "url must be an https URL of at most 2048 characters")],
        ),
        (
            {"kind": "EMAIL"},
            [("addresses", "INVALID", "addresses must list 1 to 20 email addresses")],
        ),
        (
            {"kind": "EMAIL", "addresses": ["ops@example.com", "not an address", "a@b"]},
            [
                ("addresses", "INVALID", "Not an email address: not an address"),
                ("addresses", "INVALID", "Not an email address: a@b"),
            ],
        ),
        (
            {"kind": "EMAIL", "addresses": ["ops@example.com"], "url": "https://example.com"},
            [("url", "INVALID", "url is not used by EMAIL channels")],
        ),
        (
            {"url": "https://example.com/x", "addresses": ["ops@example.com"]},
            [("addresses", "INVALID", "addresses are used by EMAIL channels only")],
        ),
        (
            {"url": "https://example.com/x", "monitorIds": ["mon_missing"]},
            [("monitorIds", "NOT_FOUND", "Monitor not found: mon_missing")],
        ),
        (
            {"url": "https://example.com/x", "serviceIds": ["svc_missing"]},
            [("serviceIds", "NOT_FOUND", "Service not found: svc_missing")],
        ),
    ],
)
async def test_channel_validation(
    client: httpx.AsyncClient,
    people: Personas,
    db: SessionFactory,
    fields: dict[str, Any],
    errors: list[tuple[str, str, str]],
) -> None:
    async with db() as session:
        audited = len((await session.exec(select(AuditEvent))).all())
    found = await create_channel_errors(client, people.alice.secret, **fields)
    assert [(e["field"], e["code"], e["message"]) for e in found] == errors
    async with db() as session:
        assert (await session.exec(select(NotificationChannel))).all() == []
        assert len((await session.exec(select(AuditEvent))).all()) == audited


async def test_urls_that_are_credentials_are_masked_and_the_mask_keeps_them(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory
) -> None:
    key = people.alice.secret
    slack_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    created, secret = await channel(client, key, kind="SLACK", url=slack_url)
    assert secret is None  # only webhooks are signed
    assert created["url"] == "https://hooks.slack.com/services/T000/B000/********"
    hook, _ = await channel(client, key, url="https://user:pw@example.com/hook")
    assert hook["url"] == "https://user:********@example.com/hook"
    update = """mutation($id: ID!, $i: UpdateNotificationChannelInput!) {
      updateNotificationChannel(id: $id, input: $i) {
        notificationChannel { name url } userErrors { field code message } } }"""
    body = (
        await gql(
            client,
            update,
            {"id": created["id"], "i": {"url": created["url"], "name": "x"}},
            key=key,
        )
    ).json()
    assert body["data"]["updateNotificationChannel"]["userErrors"] == []
    async with db() as session:
        row = await session.get(NotificationChannel, created["id"])
        assert row is not None
        assert row.settings == {"url": slack_url}
        entries = (await session.exec(select(AuditEvent))).all()
    assert "XXXXSECRET" not in repr([(e.action, e.details) for e in entries])


async def test_another_organizations_channels_and_deliveries_are_not_found(
    client: httpx.AsyncClient, people: Personas, notifier: Notifier, receiver: Receiver
) -> None:
    mine, _ = await channel(client, people.alice.secret, url=receiver.url())
    await incident(client, people.alice.secret)
    await notifier.run_once()
    [logged] = await delivery_log(client, people.alice.secret, mine["id"])
    stranger = people.charlie.secret
    not_found = {
        """query($id: ID!) { notificationChannel(id: $id) { id } }""": mine["id"],
        """query($id: ID!) { delivery(id: $id) { id } }""": logged["id"],
        """query($id: ID!) { deliveries(channelId: $id, first: 5) { edges { node { id } } } }""": mine[
            "id"
        ],
        """mutation($id: ID!) { updateNotificationChannel(id: $id, input: {name: "x"}) {
            userErrors { message } } }""": mine["id"],
        """mutation($id: ID!) { deleteNotificationChannel(id: $id) { deletedId } }""": mine["id"],
        """mutation($id: ID!) { rotateNotificationChannelSecret(id: $id) {
            signingSecret } }""": mine["id"],
        """mutation($id: ID!) { testNotificationChannel(id: $id) { delivery { id } } }""": mine[
            "id"
        ],
        """mutation($id: ID!) { redeliver(id: $id) { delivery { id } } }""": logged["id"],
    }
    for query, object_id in not_found.items():
        body = (await gql(client, query, {"id": object_id}, key=stranger)).json()
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", (query, body)
    body = (
        await gql(
            client, "query($id: ID!) { node(id: $id) { id } }", {"id": logged["id"]}, key=stranger
        )
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await delivery_log(client, stranger) == []
    # Their monitor cannot name my channel, nor their channel my monitor.
    errors = await create_channel_errors(
        client, stranger, url="https://example.com/x", monitorIds=["mon_x"]
    )
    assert errors[0]["code"] == "NOT_FOUND"
    query = """mutation($i: CreateMonitorInput!) {
      createMonitor(input: $i) { userErrors { field code message } } }"""
    variables = {
        "i": {
            "name": "x",
            "type": "HEARTBEAT",
            "periodSeconds": 60,
            "graceSeconds": 60,
            "notifyChannelIds": [mine["id"]],
        }
    }
    body = (await gql(client, query, variables, key=stranger)).json()
    assert body["data"]["createMonitor"]["userErrors"] == [
        {
            "field": "notifyChannelIds",
            "code": "NOT_FOUND",
            "message": f"NotificationChannel not found: {mine['id']}",
        }
    ]


async def test_scopes_guard_channels_and_the_log(
    client: httpx.AsyncClient, people: Personas
) -> None:
    body = (
        await gql(
            client,
            "{ notificationChannels(first: 5) { edges { node { id } } } }",
            key=people.bob.secret,
        )
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    errors = await gql(
        client,
        CREATE_CHANNEL,
        {"input": {"name": "x", "kind": "WEBHOOK", "url": "https://example.com"}},
        key=people.bob.secret,
    )
    assert errors.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_renotify_minutes_is_validated(client: httpx.AsyncClient, people: Personas) -> None:
    query = """mutation($i: CreateMonitorInput!) {
      createMonitor(input: $i) { monitor { id } userErrors { field code message } } }"""
    for value in (0, 10081):
        variables = {
            "i": {
                "name": "x",
                "type": "HEARTBEAT",
                "periodSeconds": 60,
                "graceSeconds": 60,
                "renotifyMinutes": value,
            }
        }
        body = (await gql(client, query, variables, key=people.alice.secret)).json()
        assert body["data"]["createMonitor"]["userErrors"] == [
            {
                "field": "renotifyMinutes",
                "code": "INVALID",
                "message": "renotifyMinutes must be 1 to 10080, or null for never",
            }
        ]


def test_the_retry_schedule_is_design_12s() -> None:
    assert [delay.total_seconds() for delay in deliveries.RETRY_DELAYS] == [
        5,
        300,
        1800,
        7200,
        18000,
        36000,
    ]
    assert deliveries.MAX_ATTEMPTS == 7


async def test_an_email_channel_sends_text_and_html_through_smtp(
    client: httpx.AsyncClient,
    people: Personas,
    db: SessionFactory,
    clock: FrozenClock,
    smtp_sink: Sink,
) -> None:
    key = people.alice.secret
    created, secret = await channel(
        client, key, kind="EMAIL", addresses=["ops@example.com", "cto@example.com"]
    )
    assert secret is None
    await incident(client, key, title="<b>Checkout</b> failing")
    transport = Transport(
        Guard(allow_private=True),
        timeout=5,
        base_url=BASE_URL,
        smtp=SmtpServer.parse(smtp_sink.url()),
        smtp_from="Status <status@example.com>",
    )
    mailer = Notifier(
        db, transport, Sealer(PEPPER.encode()), SubscriberTokens(PEPPER.encode()), clock=clock
    )
    try:
        assert await mailer.run_once() == 1
    finally:
        await transport.close()
    [mail] = smtp_sink.received
    assert mail.rcpt_tos == ["ops@example.com", "cto@example.com"]
    assert mail.message["Subject"] == "New incident: <b>Checkout</b> failing"
    assert mail.message["From"] == "Status <status@example.com>"
    text = mail.message.get_body(("plain",))
    html = mail.message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "[investigating] Looking into it" in text.get_content()
    assert "&lt;b&gt;Checkout&lt;/b&gt; failing" in html.get_content()
    assert "<b>Checkout" not in html.get_content()
    [logged] = await delivery_log(client, key, created["id"])
    assert (logged["status"], logged["attempts"][0]["succeeded"]) == ("SUCCEEDED", True)


async def test_an_email_channel_without_smtp_fails_with_a_clear_error(
    client: httpx.AsyncClient, people: Personas, notifier: Notifier
) -> None:
    key = people.alice.secret
    created, _ = await channel(client, key, kind="EMAIL", addresses=["ops@example.com"])
    await incident(client, key)
    await notifier.run_once()
    [logged] = await delivery_log(client, key, created["id"])
    attempt = logged["attempts"][0]
    assert (attempt["errorClass"], attempt["error"]) == (
        "smtp",
        "no SMTP server is configured (STATUSGRAPH_SMTP_URL)",
    )


async def test_a_secret_sealed_under_another_server_key_is_reported_and_rotation_mends_it(
    client: httpx.AsyncClient,
    people: Personas,
    receiver: Receiver,
    db: SessionFactory,
    notifier: Notifier,
) -> None:
    key = people.alice.secret
    created, _ = await channel(client, key, url=receiver.url())
    async with db.begin() as session:  # as if STATUSGRAPH_SECRET_KEY had changed
        row = await session.get(NotificationChannel, created["id"])
        assert row is not None
        row.secret = Sealer(b"the previous key").seal("whsec_" + "A" * 32)
        session.add(row)
    query = """mutation($id: ID!) { testNotificationChannel(id: $id) {
      delivery { id } userErrors { field code message } } }"""
    body = (await gql(client, query, {"id": created["id"]}, key=key)).json()
    assert body["data"]["testNotificationChannel"] == {
        "delivery": None,
        "userErrors": [
            {
                "field": "id",
                "code": "SECRET_UNREADABLE",
                "message": "The channel's signing secret does not open with this server's "
                "key (STATUSGRAPH_SECRET_KEY changed): rotate the secret",
            }
        ],
    }
    async with db() as session:
        assert (await session.exec(select(Delivery))).all() == []
    rotate = """mutation($id: ID!) { rotateNotificationChannelSecret(id: $id) {
      signingSecret } }"""
    new = (await gql(client, rotate, {"id": created["id"]}, key=key)).json()["data"][
        "rotateNotificationChannelSecret"
    ]["signingSecret"]
    # The previous secret no longer opens: the new one signs alone, at once.
    await incident(client, key)
    assert await notifier.run_once() == 1
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    verified(new, request)


async def test_addresses_mail_cannot_carry_are_refused(
    client: httpx.AsyncClient, people: Personas
) -> None:
    for address in ("ops@exa_mple.com", "josé@example.com", "ops@-example.com", "ops@example"):
        errors = await create_channel_errors(
            client, people.alice.secret, kind="EMAIL", addresses=[address]
        )
        assert errors == [
            {"field": "addresses", "code": "INVALID", "message": f"Not an email address: {address}"}
        ]


async def test_reminders_reach_every_monitor_past_the_first_batch(
    client: httpx.AsyncClient,
    people: Personas,
    clock: FrozenClock,
    db: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reminders, "BATCH", 2)
    key = people.alice.secret
    # Two monitors not yet due sort first in the first batch, five due ones after them.
    monitors = [await heartbeat(client, key, renotifyMinutes=60) for _ in range(7)]
    for monitor in monitors:
        await ping_up(client, key, monitor)
        await ping_down(client, key, monitor)
    clock.advance(minutes=30)
    not_yet = sorted(monitors)[:2]
    async with db.begin() as session:
        for monitor_id in not_yet:
            row = await session.get(Monitor, monitor_id)
            assert row is not None
            row.down_notified_at = clock()
            session.add(row)
    clock.advance(minutes=30)
    async with db.begin() as session:
        assert await reminders.remind(session, now=clock()) == 5
