"""Saving a monitor that points at a private address (DESIGN §10, checks/guard.py).

With STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS off (the default), createMonitor and
updateMonitor refuse a URL or host that is, or resolves only to, a loopback, private or
link-local address, with a userError naming the setting, and write nothing. Only
literal addresses and `localhost` (from /etc/hosts) are used here: tests never look a
public name up.
"""

from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Monitor
from tests.helpers import create_key, create_org, gql

CREATE = "mutation($i: CreateMonitorInput!) { createMonitor(input: $i) { monitor { id } userErrors { field code message } } }"
UPDATE = "mutation($id: ID!, $i: UpdateMonitorInput!) { updateMonitor(id: $id, input: $i) { monitor { url } userErrors { field code message } } }"
SETTING = "STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS"


@pytest.fixture
async def guarded(app_with: Any, clock: Any) -> tuple[httpx.AsyncClient, SessionFactory, str]:
    app, client = await app_with(checks_allow_private_networks=False)
    org = await create_org(app.state.db, clock, slug="guarded")
    key = (await create_key(app.state.db, clock, org, scopes=["*:*"])).secret
    return client, app.state.db, key


async def stored(db: SessionFactory) -> int:
    async with db() as session:
        return int((await session.exec(select(func.count()).select_from(Monitor))).one())


@pytest.mark.parametrize(
    ("target", "field", "message"),
    [
        (
            {"type": "HTTP", "url": "http://127.0.0.1:8080/health"},
            "url",
            f"127.0.0.1 is a loopback address; checks reach public addresses only unless {SETTING}=true",
        ),
        (
            {"type": "KEYWORD", "url": "https://169.254.169.254/latest/meta-data", "keyword": "x"},
            "url",
            f"169.254.169.254 is a link-local address; checks reach public addresses only unless {SETTING}=true",
        ),
        (
            {"type": "TCP", "host": "10.0.0.5", "port": 5432},
            "host",
            f"10.0.0.5 is a private address; checks reach public addresses only unless {SETTING}=true",
        ),
        (
            {"type": "SSL", "host": "::1"},
            "host",
            f"::1 is a loopback address; checks reach public addresses only unless {SETTING}=true",
        ),
    ],
)
async def test_a_private_target_is_refused_and_nothing_is_written(
    guarded: tuple[httpx.AsyncClient, SessionFactory, str],
    target: dict[str, Any],
    field: str,
    message: str,
) -> None:
    client, db, key = guarded
    answer = (await gql(client, CREATE, {"i": {"name": "inside", **target}}, key=key)).json()
    assert answer["data"]["createMonitor"] == {
        "monitor": None,
        "userErrors": [{"field": field, "code": "BLOCKED_ADDRESS", "message": message}],
    }
    assert await stored(db) == 0


async def test_a_name_that_resolves_to_loopback_is_refused(
    guarded: tuple[httpx.AsyncClient, SessionFactory, str],
) -> None:
    client, db, key = guarded
    settings = {"name": "local", "type": "HTTP", "url": "http://localhost:3000/"}
    answer = (await gql(client, CREATE, {"i": settings}, key=key)).json()
    [error] = answer["data"]["createMonitor"]["userErrors"]
    assert (error["field"], error["code"]) == ("url", "BLOCKED_ADDRESS")
    assert error["message"].startswith("localhost (")
    assert SETTING in error["message"]
    assert await stored(db) == 0


async def test_a_public_address_is_saved_and_an_update_into_a_private_one_refused(
    guarded: tuple[httpx.AsyncClient, SessionFactory, str],
) -> None:
    client, _, key = guarded
    settings = {"name": "dns", "type": "HTTP", "url": "https://8.8.8.8/"}
    created = (await gql(client, CREATE, {"i": settings}, key=key)).json()["data"]["createMonitor"]
    assert created["userErrors"] == []
    monitor = created["monitor"]["id"]
    moved = (
        await gql(client, UPDATE, {"id": monitor, "i": {"url": "http://192.168.1.1/"}}, key=key)
    ).json()["data"]["updateMonitor"]
    assert moved["monitor"] is None
    assert moved["userErrors"][0]["code"] == "BLOCKED_ADDRESS"
    after = (
        await gql(client, "query($id: ID!) { monitor(id: $id) { url } }", {"id": monitor}, key=key)
    ).json()
    assert after["data"]["monitor"]["url"] == "https://8.8.8.8/"


async def test_with_private_networks_allowed_they_are_saved(
    client: httpx.AsyncClient, people: Any
) -> None:
    settings = {"name": "lan", "type": "TCP", "host": "10.0.0.5", "port": 5432}
    answer = (await gql(client, CREATE, {"i": settings}, key=people.alice.secret)).json()
    assert answer["data"]["createMonitor"]["userErrors"] == []


async def test_a_target_the_type_does_not_take_is_invalid_not_looked_up(
    guarded: tuple[httpx.AsyncClient, SessionFactory, str],
) -> None:
    client, db, key = guarded
    fields = {"type": "HEARTBEAT", "periodSeconds": 60, "graceSeconds": 60}
    answer = (
        await gql(
            client, CREATE, {"i": {"name": "cron", "url": "http://127.0.0.1/", **fields}}, key=key
        )
    ).json()
    assert answer["data"]["createMonitor"] == {
        "monitor": None,
        "userErrors": [
            {
                "field": "url",
                "code": "INVALID",
                "message": "url does not apply to HEARTBEAT monitors",
            }
        ],
    }
    assert await stored(db) == 0
