"""Helpers for the live-update tests: an app under real uvicorn in the test's own event
loop (lifespan on, so its jobs and event dispatch run), and a graphql-transport-ws client
on the `websockets` package."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect

from tests.servers import free_port

PROTOCOL = "graphql-transport-ws"


@contextlib.asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[str]:
    """`app` under uvicorn on a free loopback port, lifespan included; yields host:port."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="auto"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        server.should_exit = True
        await task
        raise AssertionError("uvicorn did not start")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def socket(
    address: str, *, headers: dict[str, str] | None = None, path: str = "/graphql"
) -> AsyncIterator[ClientConnection]:
    async with connect(
        f"ws://{address}{path}",
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        additional_headers=headers or {},
        open_timeout=5,
    ) as websocket:
        yield websocket


async def send(websocket: ClientConnection, message: dict[str, Any]) -> None:
    await websocket.send(json.dumps(message))


async def receive(websocket: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(websocket.recv(), within))
    return message


async def init(websocket: ClientConnection, payload: dict[str, Any] | None = None) -> None:
    await send(websocket, {"type": "connection_init", "payload": payload or {}})
    assert await receive(websocket) == {"type": "connection_ack"}


async def subscribe(
    websocket: ClientConnection,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_id: str = "1",
) -> None:
    await send(
        websocket,
        {
            "type": "subscribe",
            "id": operation_id,
            "payload": {"query": query, "variables": variables or {}},
        },
    )


async def closed_with(websocket: ClientConnection, within: float = 5.0) -> tuple[int, str]:
    """The close code and reason the server closed with (messages before it skipped)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(within):
            async for _ in websocket:
                pass
    await asyncio.wait_for(websocket.wait_closed(), within)
    assert websocket.close_code is not None, "not closed"
    return websocket.close_code, websocket.close_reason or ""
