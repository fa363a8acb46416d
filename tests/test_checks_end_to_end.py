"""A newcomer's first monitor, on `statusgraph serve` as shipped (web and jobs in one
process): created over GraphQL, it shows UP within seconds, and `runMonitorCheck`
answers at once (the issue's "done when")."""

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from tests.servers import Server

STATUS = "query($id: ID!) { monitor(id: $id) { status lastCheck { reason } } }"


async def test_a_first_monitor_shows_up_within_seconds_on_serve(
    database_url: str, tmp_path: Path
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
    env["STATUSGRAPH_DATA_DIR"] = str(tmp_path / "data")
    env["STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS"] = "true"  # the site is on loopback
    if not database_url.startswith("sqlite"):
        env["STATUSGRAPH_DATABASE_URL"] = database_url
    try:
        async with Server(env) as server, httpx.AsyncClient(base_url=server.url) as http:
            [key] = server.printed_keys()
            headers = {"X-API-Key": key}

            async def graphql(query: str, **variables: str) -> dict[str, Any]:
                response = await http.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                body: dict[str, Any] = response.json()
                assert "errors" not in body, body
                data: dict[str, Any] = body["data"]
                return data

            created = await graphql(
                'mutation($url: String!) { createMonitor(input: {name: "Website", type: HTTP, '
                "url: $url}) { monitor { id status } } }",
                url=url,
            )
            monitor = created["createMonitor"]["monitor"]
            assert monitor["status"] == "PENDING"
            began = time.monotonic()
            while (await graphql(STATUS, id=monitor["id"]))["monitor"]["status"] != "UP":
                assert time.monotonic() - began < 15, "not UP within 15 s"
                await asyncio.sleep(0.1)
            answers["status"] = 503
            run = "mutation($id: ID!) { runMonitorCheck(id: $id) { result { up reason } monitor { status } } }"
            first = (await graphql(run, id=monitor["id"]))["runMonitorCheck"]
            assert first == {
                "result": {"up": False, "reason": "status 503"},
                "monitor": {"status": "UP"},
            }
            second = (await graphql(run, id=monitor["id"]))["runMonitorCheck"]
            assert second["monitor"] == {"status": "DOWN"}  # the second failure confirms
    finally:
        await runner.cleanup()
