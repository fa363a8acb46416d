"""Status-page subscribers (DESIGN §12): subscribe anonymously, double opt-in through the
mailed link, targeted mails for the services chosen, one-click unsubscribe, webhook
subscribers, and the organization's list and removal. Mails go to an SMTP server the
tests start; links are followed through the app."""

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import select

from statusgraph.auth.sealed import Sealer
from statusgraph.auth.subscriber_tokens import Purpose, SubscriberTokens
from statusgraph.checks.guard import Guard
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Subscriber
from statusgraph.notifications.mail import SmtpServer
from statusgraph.notifications.notifier import Notifier
from statusgraph.notifications.transport import Transport
from tests.helpers import PEPPER, Personas, change_events, gql
from tests.receivers import Receiver
from tests.smtp_sink import Sink
from tests.status_api import create_incident, create_page, create_service, create_window

BASE_URL = "https://status.example.com"
SUBSCRIBE = """
mutation($slug: String!, $email: String!, $services: [ID!], $hook: String) {
  subscribe(slug: $slug, email: $email, serviceIds: $services, webhookUrl: $hook) {
    accepted userErrors { field code message }
  }
}"""
TOKENS = SubscriberTokens(PEPPER.encode())


@pytest.fixture
async def mailer(
    db: SessionFactory, clock: FrozenClock, smtp_sink: Sink
) -> AsyncIterator[Notifier]:
    transport = Transport(
        Guard(allow_private=True),
        timeout=5,
        base_url=BASE_URL,
        smtp=SmtpServer.parse(smtp_sink.url()),
        smtp_from="Status <status@example.com>",
    )
    made = Notifier(db, transport, Sealer(PEPPER.encode()), TOKENS, clock=clock)
    yield made
    await transport.close()


async def subscribe(
    client: httpx.AsyncClient, slug: str, email: str, **extra: Any
) -> dict[str, Any]:
    variables = {"slug": slug, "email": email} | extra
    body = (await gql(client, SUBSCRIBE, variables)).json()
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["subscribe"]
    return payload


def link(message: Any, path: str) -> str:
    """The link to `path` in a mail's text, as a path and query the test client opens."""
    text = message.get_body(("plain",)).get_content()
    found = re.search(re.escape(BASE_URL) + re.escape(path) + r"\?token=[\w.\-]+", text)
    assert found is not None, text
    parts = urlsplit(found.group(0))
    return f"{parts.path}?{parts.query}"


@pytest.fixture
async def page(client: httpx.AsyncClient, people: Personas) -> dict[str, str]:
    key = people.alice.secret
    api = await create_service(client, key, "API")
    web = await create_service(client, key, "Web")
    hidden = await create_service(client, key, "Internal")
    page_id = await create_page(client, key, "acme", serviceIds=[api, web])
    return {"id": page_id, "api": api, "web": web, "hidden": hidden}


async def confirmed(
    client: httpx.AsyncClient, mailer: Notifier, smtp_sink: Sink, email: str, **extra: Any
) -> None:
    assert (await subscribe(client, "acme", email, **extra))["accepted"] is True
    await mailer.run_once()
    confirmation = smtp_sink.received[-1].message
    response = await client.post(link(confirmation, "/subscription/confirm"))
    assert response.status_code == 200, response.text


async def test_double_opt_in_then_targeted_mails_then_one_click_unsubscribe(
    client: httpx.AsyncClient,
    people: Personas,
    page: dict[str, str],
    mailer: Notifier,
    smtp_sink: Sink,
    db: SessionFactory,
) -> None:
    key = people.alice.secret
    assert await subscribe(client, "acme", "Reader@Example.com") == {
        "accepted": True,
        "userErrors": [],
    }
    # Nothing but the confirmation reaches an unconfirmed address.
    await create_incident(client, key, "Before", [(page["api"], "MAJOR_OUTAGE")])
    assert await mailer.run_once() == 1
    [confirmation] = smtp_sink.received
    assert confirmation.rcpt_tos == ["Reader@Example.com"]
    assert confirmation.message["Subject"] == "Confirm your subscription to Acme"
    assert "List-Unsubscribe" not in confirmation.message
    confirm = link(confirmation.message, "/subscription/confirm")
    # Opening the link changes nothing (scanners open links); its button does.
    shown = await client.get(confirm)
    assert shown.status_code == 200
    assert '<form method="post"><button type="submit">Confirm subscription</button>' in shown.text
    assert shown.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in shown.headers["content-security-policy"]
    async with db() as session:
        [row] = (await session.exec(select(Subscriber))).all()
        assert row.confirmed_at is None
    done = await client.post(confirm)
    assert done.status_code == 200
    assert "Subscription confirmed" in done.text
    assert "Acme" in done.text
    # Now incidents and maintenance on the page's services are mailed, one per event.
    await create_incident(client, key, "API down", [(page["api"], "MAJOR_OUTAGE")])
    await create_incident(client, key, "Internal only", [(page["hidden"], "MAJOR_OUTAGE")])
    await create_window(
        client,
        key,
        "Upgrade",
        "2026-03-05T00:00:00+00:00",
        "2026-03-05T01:00:00+00:00",
        [page["web"]],
    )
    await mailer.run_once()
    subjects = [mail.message["Subject"] for mail in smtp_sink.received[1:]]
    assert subjects == ["[Acme] New incident: API down", "[Acme] Maintenance scheduled: Upgrade"]
    news = smtp_sink.received[1].message
    unsubscribe = link(news, "/subscription/unsubscribe")
    assert news["List-Unsubscribe"] == f"<{BASE_URL}{unsubscribe}>"
    assert news["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html_part = news.get_body(("html",))
    assert html_part is not None
    assert "Unsubscribe" in html_part.get_content()
    # The mail client's one-click POST (RFC 8058).
    gone = await client.post(unsubscribe, content=b"List-Unsubscribe=One-Click")
    assert gone.status_code == 200
    assert "Unsubscribed" in gone.text
    again = await client.post(unsubscribe)
    assert again.status_code == 200  # the same answer when already gone
    await create_incident(client, key, "After", [(page["api"], "MAJOR_OUTAGE")])
    assert await mailer.run_once() == 0
    assert len(smtp_sink.received) == 3


async def test_a_subscriber_hears_only_of_the_services_chosen(
    client: httpx.AsyncClient,
    people: Personas,
    page: dict[str, str],
    mailer: Notifier,
    smtp_sink: Sink,
) -> None:
    key = people.alice.secret
    await confirmed(client, mailer, smtp_sink, "api-only@example.com", services=[page["api"]])
    await confirmed(client, mailer, smtp_sink, "all@example.com")
    await create_incident(client, key, "Web slow", [(page["web"], "DEGRADED_PERFORMANCE")])
    await create_incident(client, key, "API down", [(page["api"], "MAJOR_OUTAGE")])
    await create_incident(client, key, "Everything")  # no service: every subscriber
    await mailer.run_once()
    told = sorted((mail.rcpt_tos[0], mail.message["Subject"]) for mail in smtp_sink.received[2:])
    assert told == [
        ("all@example.com", "[Acme] New incident: API down"),
        ("all@example.com", "[Acme] New incident: Everything"),
        ("all@example.com", "[Acme] New incident: Web slow"),
        ("api-only@example.com", "[Acme] New incident: API down"),
        ("api-only@example.com", "[Acme] New incident: Everything"),
    ]


async def test_subscribing_again_answers_the_same_and_resends_only_when_unconfirmed(
    client: httpx.AsyncClient,
    page: dict[str, str],
    mailer: Notifier,
    smtp_sink: Sink,
    db: SessionFactory,
) -> None:
    first = await subscribe(client, "acme", "x@example.com")
    second = await subscribe(client, "acme", "X@example.com")  # same address, any case
    assert first == second == {"accepted": True, "userErrors": []}
    await mailer.run_once()
    assert len(smtp_sink.received) == 2  # two confirmations for the unconfirmed address
    await client.post(link(smtp_sink.received[-1].message, "/subscription/confirm"))
    third = await subscribe(client, "acme", "x@example.com", services=[page["api"]])
    assert third == first
    await mailer.run_once()
    assert len(smtp_sink.received) == 2  # confirmed: nothing sent, nothing changed
    async with db() as session:
        [row] = (await session.exec(select(Subscriber))).all()
    assert row.service_ids == []
    assert row.confirmed_at is not None


async def test_a_webhook_subscriber_confirms_by_mail_and_gets_json(
    client: httpx.AsyncClient,
    people: Personas,
    page: dict[str, str],
    mailer: Notifier,
    smtp_sink: Sink,
    receiver: Receiver,
) -> None:
    await confirmed(client, mailer, smtp_sink, "dev@example.com", hook=receiver.url("/status"))
    assert smtp_sink.received[0].rcpt_tos == ["dev@example.com"]
    incident_id = await create_incident(
        client, people.alice.secret, "API down", [(page["api"], "MAJOR_OUTAGE")]
    )
    await mailer.run_once()
    [request] = receiver.requests
    body = request.json()
    assert body["type"] == "incident.created"
    assert body["data"]["incidentId"] == incident_id
    assert body["page"]["name"] == "Acme"
    assert body["page"]["unsubscribeUrl"].startswith(f"{BASE_URL}/subscription/unsubscribe?token=")
    assert request.headers["webhook-id"].startswith("msg_")


@pytest.mark.parametrize(
    ("variables", "errors"),
    [
        ({"email": "not an address"}, [("email", "INVALID", "Not an email address")]),
        (
            {"email": "a@example.com", "hook": "ftp://example.com/x"},
            [
                (
                    "webhookUrl",
                    "INVALID",
                    "webhookUrl must be an http or https URL of at most 2048 characters",
                )
            ],
        ),
        (
            {"email": "a@example.com", "services": ["svc_missing"]},
            [("serviceIds", "NOT_FOUND", "Service not found: svc_missing")],
        ),
    ],
)
async def test_subscribe_validation(
    client: httpx.AsyncClient,
    page: dict[str, str],
    db: SessionFactory,
    variables: dict[str, Any],
    errors: list[tuple[str, str, str]],
) -> None:
    payload = await subscribe(client, "acme", **variables)
    assert payload["accepted"] is False
    assert [(e["field"], e["code"], e["message"]) for e in payload["userErrors"]] == errors
    async with db() as session:
        assert (await session.exec(select(Subscriber))).all() == []
        assert [e.type for e in (await session.exec(change_events())).all()] == []


async def test_a_service_the_page_does_not_show_cannot_be_chosen(
    client: httpx.AsyncClient, page: dict[str, str]
) -> None:
    payload = await subscribe(client, "acme", "a@example.com", services=[page["hidden"]])
    assert payload["userErrors"] == [
        {
            "field": "serviceIds",
            "code": "NOT_FOUND",
            "message": f"Service not found: {page['hidden']}",
        }
    ]


async def test_pages_without_subscriptions_or_not_readable_refuse(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory
) -> None:
    key = people.alice.secret
    await create_page(client, key, "quiet", showSubscribe=False)
    await create_page(client, key, "staff", statusPageVisibility="INTERNAL")
    payload = await subscribe(client, "quiet", "a@example.com")
    assert payload["userErrors"] == [
        {
            "field": "slug",
            "code": "SUBSCRIPTIONS_OFF",
            "message": "This status page does not take subscriptions",
        }
    ]
    for slug in ("staff", "missing"):
        body = (await gql(client, SUBSCRIBE, {"slug": slug, "email": "a@example.com"})).json()
        assert body["errors"][0]["message"] == "StatusPage not found"
        assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    async with db() as session:
        assert (await session.exec(select(Subscriber))).all() == []


async def test_a_webhook_url_into_a_private_network_is_refused(
    app_with: Any, people: Personas, page: dict[str, str], db: SessionFactory
) -> None:
    _app, guarded = await app_with(checks_allow_private_networks=False)
    body = (
        await gql(
            guarded,
            SUBSCRIBE,
            {"slug": "acme", "email": "a@example.com", "hook": "http://169.254.169.254/x"},
        )
    ).json()
    [error] = body["data"]["subscribe"]["userErrors"]
    assert (error["field"], error["code"]) == ("webhookUrl", "BLOCKED_ADDRESS")
    async with db() as session:
        assert (await session.exec(select(Subscriber))).all() == []


async def test_links_must_be_signed_for_their_purpose(
    client: httpx.AsyncClient, page: dict[str, str], db: SessionFactory
) -> None:
    await subscribe(client, "acme", "a@example.com")
    async with db() as session:
        [row] = (await session.exec(select(Subscriber))).all()
    confirm_token = TOKENS.make(Purpose.CONFIRM, row.id)
    forged = SubscriberTokens(b"another server").make(Purpose.UNSUBSCRIBE, row.id)
    for path in (
        f"/subscription/unsubscribe?token={confirm_token}",  # the other purpose
        f"/subscription/unsubscribe?token={forged}",
        "/subscription/unsubscribe?token=",
        "/subscription/confirm",
        f"/subscription/confirm?token={confirm_token[:-2]}",
    ):
        for method in ("GET", "POST"):
            response = await client.request(method, path)
            assert response.status_code == 400, path
            assert "This link is not valid." in response.text
    async with db() as session:
        [still] = (await session.exec(select(Subscriber))).all()
    assert still.confirmed_at is None


async def test_a_confirmation_link_after_unsubscribing_is_not_found(
    client: httpx.AsyncClient, page: dict[str, str], db: SessionFactory
) -> None:
    await subscribe(client, "acme", "a@example.com")
    async with db() as session:
        [row] = (await session.exec(select(Subscriber))).all()
    await client.post(f"/subscription/unsubscribe?token={TOKENS.make(Purpose.UNSUBSCRIBE, row.id)}")
    response = await client.post(
        f"/subscription/confirm?token={TOKENS.make(Purpose.CONFIRM, row.id)}"
    )
    assert response.status_code == 404
    assert "Subscription not found" in response.text


SUBSCRIBERS = """query($page: ID!) { subscribers(pageId: $page, first: 10) {
  edges { node { id kind email webhookUrl serviceIds confirmedAt } } } }"""


async def test_the_organization_lists_and_removes_subscribers(
    client: httpx.AsyncClient,
    people: Personas,
    page: dict[str, str],
    mailer: Notifier,
    smtp_sink: Sink,
    clock: FrozenClock,
) -> None:
    await confirmed(client, mailer, smtp_sink, "a@example.com", services=[page["api"]])
    clock.advance(seconds=1)
    await subscribe(client, "acme", "b@example.com", hook="https://hooks.example.com/x")
    body = (await gql(client, SUBSCRIBERS, {"page": page["id"]}, key=people.alice.secret)).json()
    nodes = [edge["node"] for edge in body["data"]["subscribers"]["edges"]]
    assert [(n["kind"], n["email"], n["webhookUrl"], n["serviceIds"]) for n in nodes] == [
        ("WEBHOOK", "b@example.com", "https://hooks.example.com/x", []),
        ("EMAIL", "a@example.com", None, [page["api"]]),
    ]
    assert nodes[0]["confirmedAt"] is None
    assert nodes[1]["confirmedAt"] == (clock() - timedelta(seconds=1)).isoformat()
    # Another organization sees neither the page's subscribers nor can remove one.
    stranger = people.charlie.secret
    body = (await gql(client, SUBSCRIBERS, {"page": page["id"]}, key=stranger)).json()
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    remove = "mutation($id: ID!) { removeSubscriber(id: $id) { deletedId userErrors { code } } }"
    body = (await gql(client, remove, {"id": nodes[0]["id"]}, key=stranger)).json()
    assert body["errors"][0]["message"] == "Subscriber not found"
    body = (
        await gql(
            client, "query($id: ID!) { node(id: $id) { id } }", {"id": nodes[0]["id"]}, key=stranger
        )
    ).json()
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    body = (await gql(client, remove, {"id": nodes[0]["id"]}, key=people.alice.secret)).json()
    assert body["data"]["removeSubscriber"] == {"deletedId": nodes[0]["id"], "userErrors": []}
    body = (await gql(client, SUBSCRIBERS, {"page": page["id"]}, key=people.alice.secret)).json()
    assert len(body["data"]["subscribers"]["edges"]) == 1


async def test_a_service_of_another_organization_cannot_be_chosen(
    client: httpx.AsyncClient, people: Personas, page: dict[str, str]
) -> None:
    await create_page(client, people.charlie.secret, "globex-status")
    payload = await subscribe(client, "globex-status", "a@example.com", services=[page["api"]])
    assert payload["userErrors"] == [
        {"field": "serviceIds", "code": "NOT_FOUND", "message": f"Service not found: {page['api']}"}
    ]


async def test_concurrent_subscriptions_of_one_address_make_one_row(
    client: httpx.AsyncClient, page: dict[str, str], db: SessionFactory
) -> None:
    answers = await asyncio.gather(
        *(subscribe(client, "acme", "race@example.com") for _ in range(8))
    )
    assert all(answer == {"accepted": True, "userErrors": []} for answer in answers)
    async with db() as session:
        rows = (await session.exec(select(Subscriber))).all()
        events = (await session.exec(change_events())).all()
    assert len(rows) == 1
    assert len(events) == 8  # one confirmation each: the address is still unconfirmed
