"""How long analysis takes (everything before execution) on adversarial documents.

    .venv/bin/python -m bench.query_analysis [--rounds 3] [--no-stock]

Target (DESIGN §6): every document within the limits is analysed in well under 50 ms on
one core, and documents past a limit are refused at least as fast. The process pins
itself to one core. For each document of bench/adversarial.py it prints:

- analysis: parse, the selection bound, validation and the cost walk, uncached (the
  caches are bypassed: renaming one alias defeats them anyway), best of the rounds;
- request: the same document POSTed anonymously to the app in-process (ASGI), with the
  parse and validation caches emptied before each (a comment would not do: documents
  that differ only in comments are equal ASTs), against a bare Starlette route;
- stock: graphql-core's own validation of the same document (its quadratic
  field-merging rule included), for comparison with what ran before.
"""

import argparse
import asyncio
import functools
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from graphql import GraphQLError, specified_rules, validate
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.adversarial import DOCUMENTS
from statusgraph.app import create_app, freeze_startup_objects
from statusgraph.config import Settings
from statusgraph.db import migrate
from statusgraph.schema import schema
from statusgraph.schema.fragments import expanded_selections
from statusgraph.schema.limits import (
    QueryLimits,
    analyze,
    parse_document,
    select_operation,
    validate_document,
)

LIMITS = QueryLimits()
TARGET_MS = 50.0


def analysis(query: str) -> tuple[str, int]:
    """Everything the server does before executing `query`, uncached: (outcome, selections)."""
    try:
        document = parse_document.__wrapped__(query, LIMITS.max_tokens)
    except GraphQLError as error:
        return _outcome(error), 0
    selections = expanded_selections(document)
    errors = validate_document.__wrapped__(schema._schema, document, LIMITS.max_selections)
    if errors:
        return _outcome(errors[0]), selections
    operation = select_operation(document, None)
    if operation is None:
        return "no single operation", selections
    found = analyze(schema._schema, operation, document, {}, LIMITS)
    return (_outcome(found.errors[0]) if found.errors else "accepted"), selections


def stock_validation(query: str) -> None:
    try:
        document = parse_document.__wrapped__(query, LIMITS.max_tokens)
    except GraphQLError:
        return
    validate(schema._schema, document, specified_rules)


def _outcome(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if code:
        return str(code)
    return "invalid" if not error.message.startswith("Syntax Error") else "parse error"


def best_ms(run: Callable[[], Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best * 1000


async def request_times(directory: str, rounds: int) -> tuple[dict[str, float], float]:
    """Whole anonymous requests through the app, in-process; and a bare Starlette route."""
    if True:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        settings = Settings(
            data_dir=Path(directory),
            database_url=url,
            secret_key="bench-pepper",
            rate_limits_enabled=False,
            public_cache_seconds=0,
        )
        app = create_app(settings)
        bare = Starlette(routes=[Route("/", lambda _r: JSONResponse({"ok": True}))])
        times: dict[str, float] = {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, make in DOCUMENTS.items():
                query = make()
                best = float("inf")
                for _ in range(rounds):
                    parse_document.cache_clear()
                    validate_document.cache_clear()
                    started = time.perf_counter()
                    response = await client.post("/graphql", json={"query": query})
                    best = min(best, time.perf_counter() - started)
                    if response.status_code >= 500:
                        raise SystemExit(f"{name}: HTTP {response.status_code}")
                times[name] = best * 1000
        bare_transport = httpx.ASGITransport(app=bare)
        async with httpx.AsyncClient(transport=bare_transport, base_url="http://bench") as client:
            best = float("inf")
            for _ in range(max(rounds, 20)):
                started = time.perf_counter()
                await client.get("/")
                best = min(best, time.perf_counter() - started)
        await app.state.close()
        return times, best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-stock", action="store_true", help="skip graphql-core's validation")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    # As `statusgraph serve` does at startup: otherwise the garbage collector's full
    # collections, each walking the whole heap of schema and models, land in the timings.
    freeze_startup_objects()

    with tempfile.TemporaryDirectory() as directory:
        migrate.upgrade(f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}")
        requests, bare_ms = asyncio.run(request_times(directory, args.rounds))
    rows = []
    for name, make in DOCUMENTS.items():
        query = make()
        outcome, selections = analysis(query)
        ms = best_ms(functools.partial(analysis, query), args.rounds)
        stock = (
            "-"
            if args.no_stock
            else f"{best_ms(functools.partial(stock_validation, query), 1):,.1f}"
        )
        rows.append((name, len(query), selections, outcome, ms, requests[name], stock))

    header = ("document", "chars", "selections", "outcome", "analysis ms", "request ms", "stock ms")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for name, chars, selections, outcome, ms, request_ms, stock in rows:
        print(
            f"{name} | {chars:,} | {selections:,} | {outcome} | {ms:.1f} | {request_ms:.1f} | {stock}"
        )
    print(f"bare Starlette route (in-process) | | | | | {bare_ms:.2f} |")
    worst_name, *_, worst = max(((row[0], row[4]) for row in rows), key=lambda row: row[1])
    verdict = "met" if worst < TARGET_MS else "MISSED"
    print(
        f"\nworst analysis: {worst:.1f} ms ({worst_name}); target < {TARGET_MS:.0f} ms: {verdict}"
    )


if __name__ == "__main__":
    main()
