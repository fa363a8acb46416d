"""The real thing: `statusgraph serve` under uvicorn on a free port, driven over HTTP."""

import gc
import os
from pathlib import Path

import httpx
import pytest

from statusgraph.app import create_app
from tests.servers import Server


@pytest.fixture
def server_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    env["STATUSGRAPH_DATA_DIR"] = str(tmp_path / "data")
    if not database_url.startswith("sqlite"):
        env["STATUSGRAPH_DATABASE_URL"] = database_url
    # On SQLite nothing else is set: the embedded default, migrated by `serve` itself.
    return env


async def test_first_run_prints_a_key_that_answers_viewer(server_env, tmp_path):
    async with Server(server_env) as server:
        [key] = server.printed_keys()
        assert f"X-API-Key: {key}" in "".join(server.output)  # the ready curl line
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.post(
                "/graphql",
                json={"query": "{ viewer { scopes organization { name slug plan } } }"},
                headers={"X-API-Key": key},
            )
            assert response.status_code == 200
            assert response.json() == {
                "data": {
                    "viewer": {
                        "scopes": ["*:*"],
                        "organization": {
                            "name": "Default",
                            "slug": "default",
                            "plan": "ENTERPRISE",
                        },
                    }
                },
                "extensions": {"cost": {"requested": 2, "maximum": 1000}},
            }
            assert response.headers["x-ratelimit-limit"] == "2400"  # enterprise reads
            assert len(response.headers["x-request-id"]) == 32

            page = await http.get("/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 200
            assert "graphiql" in page.text.lower()

            anonymous = await http.post("/graphql", json={"query": "{ apiKeys { totalCount } }"})
            assert anonymous.status_code == 401

            # A cron job's heartbeat, through the REST shim.
            created = await http.post(
                "/graphql",
                headers={"X-API-Key": key},
                json={
                    "query": 'mutation { createMonitor(input: {name: "backup", type: HEARTBEAT, periodSeconds: 86400, graceSeconds: 3600}) { monitor { id } } }'
                },
            )
            monitor = created.json()["data"]["createMonitor"]["monitor"]["id"]
            ping = await http.post(
                f"/api/heartbeat/{monitor}", headers={"Authorization": f"Bearer {key}"}
            )
            assert ping.status_code == 200
            assert ping.json()["status"] == "up"
            status = await http.get(f"/api/heartbeat/{monitor}", headers={"X-API-Key": key})
            assert status.json()["status"] == "up"

    if "STATUSGRAPH_DATABASE_URL" not in server_env:
        secret_file = Path(server_env["STATUSGRAPH_DATA_DIR"]) / "secret.key"
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        # A second start finds the organization and prints no key; the first one still works.
        async with Server(server_env) as again:
            assert again.printed_keys() == []
            async with httpx.AsyncClient(base_url=again.url) as http:
                response = await http.post(
                    "/graphql",
                    json={"query": "{ viewer { name } }"},
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert response.json()["data"] == {"viewer": {"name": "First key"}}


async def test_startup_freezes_what_it_built_out_of_the_collectors_sight(settings, clock):
    app = create_app(settings, clock=clock)
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 10_000  # modules, schema, metadata, ...
    finally:
        gc.unfreeze()  # the test process goes on collecting as usual
