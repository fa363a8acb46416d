"""Issue #16's "done when", on `statusgraph serve` as shipped (web and jobs in one
process): a check that goes DOWN reaches a webhook (signed, verified with the reference
library), a Slack-format receiver and an inbox within seconds, and each is logged."""

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from sqlalchemy import update
from standardwebhooks.webhooks import Webhook

from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.db.models import NotificationChannel
from tests.receivers import Receiver
from tests.servers import Server
from tests.smtp_sink import Sink

CREATE_CHANNEL = """mutation($i: CreateNotificationChannelInput!) {
  createNotificationChannel(input: $i) { notificationChannel { id } signingSecret
  userErrors { message } } }"""
LOG = """{ deliveries(first: 10) { edges { node { eventType status channelId } } } }"""


async def test_a_monitor_going_down_reaches_a_webhook_slack_and_an_inbox_within_seconds(
    database_url: str, tmp_path: Path, receiver: Receiver, smtp_sink: Sink
) -> None:
    answers = {"status": 200}

    async def site(_request: web.Request) -> web.Response:
        return web.Response(status=answers["status"], text="ok")

    app = web.Application()
    app.router.add_get("/", site)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    env |= {
        "STATUSGRAPH_DATA_DIR": str(tmp_path / "data"),
        "STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS": "true",  # everything is on loopback
        "STATUSGRAPH_SMTP_URL": smtp_sink.url(),
        "STATUSGRAPH_PUBLIC_URL": "https://status.example.com",
    }
    if not database_url.startswith("sqlite"):
        env["STATUSGRAPH_DATABASE_URL"] = database_url
    try:
        async with Server(env) as server, httpx.AsyncClient(base_url=server.url) as http:
            [key] = server.printed_keys()

            async def graphql(query: str, **variables: Any) -> dict[str, Any]:
                response = await http.post(
                    "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"X-API-Key": key},
                )
                body: dict[str, Any] = response.json()
                assert "errors" not in body, body
                data: dict[str, Any] = body["data"]
                return data

            webhook = (
                await graphql(
                    CREATE_CHANNEL,
                    i={"name": "hook", "kind": "WEBHOOK", "url": receiver.url("/hook")},
                )
            )["createNotificationChannel"]
            slack = (
                await graphql(
                    CREATE_CHANNEL,
                    i={
                        "name": "slack",
                        "kind": "SLACK",
                        "url": "https://hooks.slack.com/services/T0/B0/secret",
                    },
                )
            )["createNotificationChannel"]
            await graphql(
                CREATE_CHANNEL,
                i={"name": "mail", "kind": "EMAIL", "addresses": ["oncall@example.com"]},
            )
            # Slack only takes https; the receiver here is plain http on loopback, so the
            # saved URL is pointed at it behind the API's back.
            database = env.get("STATUSGRAPH_DATABASE_URL") or (
                f"sqlite+aiosqlite:///{tmp_path / 'data' / 'statusgraph.db'}"
            )
            engine = create_engine(database)
            async with create_session_factory(engine).begin() as session:
                await session.exec(
                    update(NotificationChannel)
                    .where(NotificationChannel.id == slack["notificationChannel"]["id"])
                    .values(settings={"url": receiver.url("/slack")})
                )
            await engine.dispose()
            monitor = (
                await graphql(
                    'mutation($url: String!) { createMonitor(input: {name: "Website", '
                    "type: HTTP, url: $url, confirmations: 1}) { monitor { id } } }",
                    url=url,
                )
            )["createMonitor"]["monitor"]
            status = "query($id: ID!) { monitor(id: $id) { status } }"
            began = time.monotonic()
            while (await graphql(status, id=monitor["id"]))["monitor"]["status"] != "UP":
                assert time.monotonic() - began < 15, "not UP within 15 s"
                await asyncio.sleep(0.1)
            answers["status"] = 503
            run = "mutation($id: ID!) { runMonitorCheck(id: $id) { monitor { status } } }"
            assert (await graphql(run, id=monitor["id"]))["runMonitorCheck"]["monitor"] == {
                "status": "DOWN"
            }
            down_at = time.monotonic()
            while not (receiver.at("/hook") and receiver.at("/slack") and smtp_sink.received):
                assert time.monotonic() - down_at < 10, "not delivered within 10 s"
                await asyncio.sleep(0.05)
            delivered_in = time.monotonic() - down_at
            [hooked] = receiver.at("/hook")
            payload = Webhook(webhook["signingSecret"]).verify(hooked.body, hooked.headers)
            assert payload["type"] == "monitor.down"
            assert payload["data"]["reason"] == "status 503"
            assert payload["data"]["monitor"]["name"] == "Website"
            assert receiver.at("/slack")[0].json()["text"] == "🔴 Website is DOWN"
            [mail] = smtp_sink.received
            assert mail.message["Subject"] == "🔴 Website is DOWN"
            assert mail.rcpt_tos == ["oncall@example.com"]

            # The attempts are written in batches just after they are sent.
            def logged(edges: list[dict[str, Any]]) -> list[tuple[str, str]]:
                return sorted((e["node"]["eventType"], e["node"]["status"]) for e in edges)

            wanted = [("MONITOR_DOWN", "SUCCEEDED")] * 3
            while logged((await graphql(LOG))["deliveries"]["edges"]) != wanted:
                assert time.monotonic() - down_at < 10, await graphql(LOG)
                await asyncio.sleep(0.05)
            assert delivered_in < 5, delivered_in
    finally:
        await runner.cleanup()
