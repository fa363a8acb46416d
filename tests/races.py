"""Bursts of concurrent mutations through the app, and what their answers must be.

On PostgreSQL the calls of a burst really overlap: each request holds its own pooled
connection (5 + 10 overflow), and `peak_connections` proves they were checked out
together. On SQLite write transactions queue behind one another (BEGIN IMMEDIATE), so
the same tests check that every answer is the one a sequential call would get.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
from sqlalchemy import event
from sqlmodel import col, func, select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import AuditEvent
from tests.helpers import gql

N = 12  # calls per burst: more than the pool's 5 steady connections, within its 15


@contextlib.contextmanager
def peak_connections(db: SessionFactory) -> Iterator[list[int]]:
    """[the most connections checked out at once] while the block runs."""
    pool = db.kw["bind"].sync_engine.pool
    out, peak = [0], [0]

    def checkout(*_args: Any) -> None:
        out[0] += 1
        peak[0] = max(peak[0], out[0])

    def checkin(*_args: Any) -> None:
        out[0] -= 1

    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    try:
        yield peak
    finally:
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)


async def burst(
    client: httpx.AsyncClient,
    db: SessionFactory,
    key: str,
    document: str,
    variables: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """One call of `document` per entry of `variables`, all at once."""
    return await burst_mixed(client, db, key, [(document, each) for each in variables])


async def burst_mixed(
    client: httpx.AsyncClient, db: SessionFactory, key: str, calls: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Every (document, variables) call at once; every answer a 200 (never a 500)."""
    with peak_connections(db) as peak:
        responses = await asyncio.gather(
            *(gql(client, document, variables, key=key) for document, variables in calls)
        )
    for response in responses:
        assert response.status_code == 200, response.text
    # Connections checked out one or two at a time would mean the calls ran one after
    # another (a request may hold two: a read and a write session): no race tested.
    # Three prove that calls overlapped. (Half the burst at once was asked for once; on
    # two busy cores, with the calls queuing on one organization's lock, the first calls
    # sometimes finished before the last had parsed their documents: peak 4 of 12.)
    assert peak[0] >= 3, peak[0]
    return [response.json() for response in responses]


def outcomes(bodies: list[dict[str, Any]], field: str) -> tuple[list[dict[str, Any]], list[Any]]:
    """(payloads that succeeded, what the others answered: their userErrors, or their
    top-level errors as (code, message))."""
    won, lost = [], []
    for body in bodies:
        if "errors" in body:
            assert body["data"] is None, body
            lost.append([(e["extensions"]["code"], e["message"]) for e in body["errors"]])
        elif body["data"][field]["userErrors"]:
            lost.append(body["data"][field]["userErrors"])
        else:
            won.append(body["data"][field])
    return won, lost


def one_wins(bodies: list[dict[str, Any]], field: str, loser: Any) -> dict[str, Any]:
    """Exactly one call succeeded and every other answered `loser`; the winner's payload."""
    won, lost = outcomes(bodies, field)
    assert len(won) == 1, (won, lost)
    assert lost == [loser] * (len(bodies) - 1)
    return won[0]


def user_error(field: str, code: str, message: str) -> list[dict[str, str]]:
    return [{"field": field, "code": code, "message": message}]


def not_found(type_name: str) -> list[tuple[str, str]]:
    return [("NOT_FOUND", f"{type_name} not found")]


async def audit_entries(db: SessionFactory, action: str, target_id: str | None = None) -> int:
    statement = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if target_id is not None:
        statement = statement.where(col(AuditEvent.target_id) == target_id)
    async with db() as session:
        return (await session.exec(statement)).one()
