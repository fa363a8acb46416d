"""App factories for the benchmarks, chosen by the BENCH_APP environment variable."""

import os
import tempfile

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from statusgraph.clock import utcnow
from statusgraph.config import Settings
from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.http.middleware import RequestGuardMiddleware
from statusgraph.ratelimit import Decision, Limiter, Policy


async def ping(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ping_with_body(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"status": "ok", "id": request.path_params["id"]})


def bare() -> Starlette:
    """The reference: a Starlette JSON route and nothing else; and the same with what a
    heartbeat ping needs at the least, a POST with a path parameter and a body read."""
    return Starlette(
        routes=[
            Route("/", ping),
            Route("/ping", ping),
            Route("/ping/{id}", ping_with_body, methods=["POST"]),
        ]
    )


class HeadersOnlyLimiter(Limiter):
    """Answers every request with the same decision, touching no storage: what is left
    is the cost of carrying a decision and its three X-RateLimit-* headers, the part of
    the limiter's overhead that no storage can remove."""

    async def hit(self, policy: Policy, identity: str, cost: int = 1) -> Decision | None:
        remaining, reset = (
            (b"x-ratelimit-remaining", b"999999999"),
            (b"x-ratelimit-reset", b"1900000000"),
        )
        return True, [policy.limit_header, remaining, reset]


def guarded() -> Starlette:
    """The same route behind our request middleware, the limiter on or off.

    BENCH_LIMITS=off | headers | memory | redis://…  Requests are anonymous, so the only
    storage touched is the limiter's (no database lookup to blur the number).
    """
    mode = os.environ.get("BENCH_LIMITS", "off")
    data_dir = tempfile.mkdtemp(prefix="statusgraph-bench-")
    settings = Settings(
        data_dir=data_dir,
        secret_key="bench",
        rate_limits_enabled=mode != "off",
        rate_limit_storage="async+memory://" if mode in ("off", "headers", "memory") else mode,
        # High enough never to block: we measure the bookkeeping, not the 429s.
        rate_limit_anonymous="1000000000/minute",
    )
    engine = create_engine(settings.database_url)
    return Starlette(
        routes=[Route("/", ping), Route("/ping", ping)],
        middleware=[
            Middleware(
                RequestGuardMiddleware,
                settings=settings,
                db=create_session_factory(engine),
                pepper=b"bench",
                clock=utcnow,
                limiter=HeadersOnlyLimiter(settings) if mode == "headers" else Limiter(settings),
            )
        ],
    )
