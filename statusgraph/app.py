"""create_app(settings) -> Starlette: routes, middleware, lifespan."""

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from statusgraph import logs
from statusgraph.auth.sealed import Sealer
from statusgraph.auth.subscriber_tokens import SubscriberTokens
from statusgraph.checks.manual import Checking
from statusgraph.clock import Clock, utcnow
from statusgraph.config import Settings
from statusgraph.db.engine import create_engine, create_session_factory, create_sqlite_writer
from statusgraph.db.page_versions import PageVersions
from statusgraph.events.bus import Item, Resync
from statusgraph.events.outbox import PAGE_CHANGES
from statusgraph.http import access_log
from statusgraph.http.cors import GraphQLCORSMiddleware
from statusgraph.http.graphiql import GraphiQL, shipped_graphiql
from statusgraph.http.graphiql import not_found as graphiql_off
from statusgraph.http.graphql_view import GraphQLEndpoint
from statusgraph.http.middleware import RequestGuardMiddleware
from statusgraph.http.persisted_queries import PersistedQueries
from statusgraph.http.routing import GuardedStarlette
from statusgraph.http.websocket import GraphQLWebSocket
from statusgraph.ingest.writers import group_writer
from statusgraph.jobs import catalog
from statusgraph.jobs.runner import JobsAlreadyRunning
from statusgraph.notifications.testing import Notifying
from statusgraph.oauth import rendering as oauth_rendering
from statusgraph.oauth.account import AccountPages
from statusgraph.oauth.authorize import Authorize
from statusgraph.oauth.session import Sessions
from statusgraph.oauth.token import TokenEndpoints
from statusgraph.pages.caching import PageCache
from statusgraph.pages.documents import PageDocuments
from statusgraph.pages.reading import PageReader
from statusgraph.pages.status_page import StatusPages
from statusgraph.pages.subscriptions import SubscriptionPages
from statusgraph.ratelimit import Limiter
from statusgraph.resolvers import key_usage as key_usage_ops
from statusgraph.resolvers import scope_usage as scope_usage_ops
from statusgraph.resolvers.credentials import CredentialCache
from statusgraph.rest.beacon import BeaconEndpoints
from statusgraph.rest.heartbeat import HeartbeatEndpoints
from statusgraph.rest.metrics import MetricsEndpoints
from statusgraph.schema import schema
from statusgraph.schema.limits import QueryLimits
from statusgraph.schema.response_cache import ResponseCache

logger = logging.getLogger("statusgraph")


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def freeze_startup_objects() -> None:
    """Moves everything alive at startup (modules, the GraphQL schema, SQLAlchemy's
    metadata: most of the heap) out of the garbage collector's sight.

    Under load, objects of requests in flight survive into the oldest generation fast
    enough to trigger full collections, and each walked that whole heap: at 64
    concurrent heartbeat pings, ~3 full collections a second of ~75 ms each, a fifth of
    the CPU. Frozen, a full collection takes ~2 ms. (The cost: a cycle among startup
    objects that later becomes garbage is never collected.)
    """
    gc.collect()
    gc.freeze()


def create_app(settings: Settings, *, clock: Clock = utcnow) -> Starlette:
    engine = create_engine(settings.database_url)
    db = create_session_factory(engine)
    pepper = settings.pepper()
    limiter = Limiter(settings)
    # Requests per credential and the usage alerts, counted in memory and written by
    # this process (resolvers/key_usage.py); the limiter tells it of buckets 80 % spent.
    usage = key_usage_ops.key_usage_for(
        db, clock, enabled=settings.usage_metering, flush_seconds=settings.usage_flush_seconds
    )
    if usage is not None:
        limiter.near_limit = usage.near_limit
    credential_cache = CredentialCache(settings.credential_cache_seconds)
    persisted = (
        PersistedQueries(settings.graphql_persisted_queries)
        if settings.graphql_persisted_queries
        else None
    )

    # Live updates (DESIGN §14): this process's subscriptions hear of events through it.
    bus = catalog.events_bus_for(settings)
    # The background jobs, unless this process is kept to requests (serve --no-jobs).
    runner = (
        catalog.runner_for(settings, db, role="serve", clock=clock, bus=bus)
        if settings.run_jobs
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        freeze_startup_objects()
        await bus.start()
        if scope_usage is not None:
            scope_usage.flusher.start()
        if usage is not None:
            usage.start()
        dispatching = runner is not None
        if runner is not None:
            try:
                await runner.start()
            except JobsAlreadyRunning as error:
                # SQLite: one process runs the jobs, and another one already does.
                logger.warning("%s; this process serves requests only", error)
                dispatching = False
        if not dispatching and not settings.events_url:
            logger.warning(
                "this process runs no jobs and STATUSGRAPH_EVENTS_URL is unset: events "
                "dispatched by other processes cannot reach its GraphQL subscriptions; set "
                "STATUSGRAPH_EVENTS_URL=redis://… (docs/live-updates.md)"
            )
        try:
            yield
        finally:
            if runner is not None:
                await runner.stop()  # finishes runs in flight, releases their leases
            await close()

    async def close() -> None:
        """Releases what the app holds; also called by tests, which run no lifespan."""
        if scope_usage is not None:
            await scope_usage.flusher.stop()  # writes what was counted since the last flush
        if usage is not None:
            await usage.stop()  # the same, and the alerts queued
        await bus.close()
        await heartbeat.batcher.close()
        await prober.close()
        if notifying.transport is not None:
            await notifying.transport.close()
        await limiter.close()
        await engine.dispose()
        if sqlite_writer is not None:
            sqlite_writer.dispose()

    # runMonitorCheck probes from the web process, through its own guard and sessions.
    prober = catalog.prober_for(settings)
    checking = Checking(guard=prober.guard, prober=prober, min_interval=settings.check_min_interval)
    # testNotificationChannel sends from the web process, through its own transport.
    notifying = Notifying(Sealer(pepper), SubscriberTokens(pepper), catalog.transport_for(settings))
    sqlite_writer = create_sqlite_writer(settings.database_url)
    # Scope usage, counted in memory and written by this process's own flusher (below).
    scope_usage = scope_usage_ops.recorder_for(
        db, enabled=settings.scope_usage, flush_seconds=settings.scope_usage_flush_seconds
    )
    heartbeat = HeartbeatEndpoints(
        db, clock, group_writer(engine, sqlite_writer), scope_usage=scope_usage
    )
    beacon = BeaconEndpoints(db, clock)
    metrics_api = MetricsEndpoints(db, clock, scope_usage=scope_usage)
    subscriptions = SubscriptionPages(db, SubscriberTokens(pepper), clock)
    status_html = StatusPages(db, clock, pepper)
    # The browser session of the login, consent and account pages only (DESIGN §11).
    sessions = Sessions(pepper, secure=settings.base_url.startswith("https://"))
    account = AccountPages(db, sessions, clock, pepper, limiter)
    authorize = Authorize(db, sessions, clock, pepper, issuer=settings.base_url)
    oauth_token = TokenEndpoints(
        db,
        clock,
        pepper,
        limiter,
        issuer=settings.base_url,
        refresh_lifetime=timedelta(days=settings.oauth_refresh_days),
        documentation_url=settings.oauth_documentation_url,
    )
    # Each process's view of the page versions, shared by every page cache (DESIGN §13).
    versions = PageVersions(db, settings.page_version_check_seconds)

    def page_changed(item: Item) -> None:
        # An event of a page's change, dispatched by any process (through Redis, every
        # process hears it), or a gap in what this process heard: read the versions again.
        if isinstance(item, Resync):
            versions.changed(None)
        elif item.type in PAGE_CHANGES:
            versions.changed(item.organization_id)

    bus.watch(page_changed)
    cached = PageCache(db, versions, settings.public_cache_seconds).wrap
    documents = PageDocuments(PageReader(db, clock, pepper), settings.base_url)
    # The explorer's page and files, read once per process (http/graphiql.py).
    graphiql: GraphiQL | None = shipped_graphiql() if settings.graphiql else None
    graphql = GraphQLEndpoint(
        schema,
        db=db,
        pepper=pepper,
        clock=clock,
        graphiql=graphiql,
        query_limits=QueryLimits(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_tokens=settings.graphql_max_tokens,
            max_page_size=settings.graphql_max_page_size,
            max_cost=settings.graphql_max_cost,
            max_selections=settings.graphql_max_selections,
        ),
        cache=ResponseCache(settings.public_cache_seconds)
        if settings.public_cache_seconds
        else None,
        versions=versions,
        credential_cache=credential_cache,
        persisted=persisted,
        checking=checking,
        notifying=notifying,
        scope_usage=scope_usage,
        rate_limits=limiter.limits_for,
    )
    live = GraphQLWebSocket(
        schema,
        settings=settings,
        db=db,
        pepper=pepper,
        clock=clock,
        limiter=limiter,
        bus=bus,
        query_limits=graphql.query_limits,
        credential_cache=credential_cache,
        checking=checking,
        notifying=notifying,
    )
    ping_route = Route("/api/heartbeat/{monitor_id}", heartbeat.ping, methods=["POST"])
    app = GuardedStarlette(
        routes=[
            ping_route,
            Route("/api/heartbeat/{monitor_id}", heartbeat.status, methods=["GET"]),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", live),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/api/beacon", beacon.post, methods=["POST"]),
            Route("/api/beacon", beacon.preflight, methods=["OPTIONS"]),
            Route("/api/metrics/ingest", metrics_api.ingest, methods=["POST"]),
            Route("/subscription/confirm", subscriptions.confirm, methods=["GET", "POST"]),
            Route("/subscription/unsubscribe", subscriptions.unsubscribe, methods=["GET", "POST"]),
            Route("/status/{slug}", cached(status_html.page), methods=["GET", "HEAD"]),
            Route("/status/{slug}/history", cached(status_html.history), methods=["GET", "HEAD"]),
            Route(
                "/status/{slug}/incidents/{incident_id}",
                cached(status_html.incident),
                methods=["GET", "HEAD"],
            ),
            Route("/status/{slug}/feed.atom", cached(documents.atom), methods=["GET", "HEAD"]),
            Route("/status/{slug}/feed.rss", cached(documents.rss), methods=["GET", "HEAD"]),
            Route("/status/{slug}/badge.svg", cached(documents.badge_svg), methods=["GET", "HEAD"]),
            Route(
                "/status/{slug}/badge.json", cached(documents.badge_json), methods=["GET", "HEAD"]
            ),
            Route(
                "/status/{slug}/services/{service_id}/badge.svg",
                cached(documents.badge_svg),
                methods=["GET", "HEAD"],
            ),
            Route(
                "/status/{slug}/services/{service_id}/badge.json",
                cached(documents.badge_json),
                methods=["GET", "HEAD"],
            ),
            Route(
                "/status/{slug}/api/v2/{document:path}",
                cached(documents.statuspage),
                methods=["GET", "HEAD"],
            ),
            Route("/status/{slug}/subscribe", status_html.subscribe, methods=["POST"]),
            Route("/assets/{name}", status_html.stylesheet, methods=["GET", "HEAD"]),
            Route(
                "/assets/graphiql/{name}",
                graphiql.asset if graphiql else graphiql_off,
                methods=["GET", "HEAD"],
            ),
            Route("/login", account.login, methods=["GET", "POST"]),
            Route("/logout", account.logout, methods=["POST"]),
            Route("/account", account.account, methods=["GET"]),
            Route("/account/apps", account.apps, methods=["GET"]),
            Route("/account/apps/{grant_id}/revoke", account.revoke, methods=["POST"]),
            Route("/invitation", account.invitation, methods=["GET", "POST"]),
            Route("/oauth/authorize", authorize.endpoint, methods=["GET", "POST"]),
            Route("/oauth/token", oauth_token.token, methods=["POST"]),
            Route("/oauth/revoke", oauth_token.revoke, methods=["POST"]),
            Route("/oauth/introspect", oauth_token.introspect, methods=["POST"]),
            Route(
                "/.well-known/oauth-authorization-server",
                oauth_token.metadata,
                methods=["GET", "HEAD"],
            ),
            Route("/oauth/assets/{name}", oauth_rendering.stylesheet, methods=["GET", "HEAD"]),
        ],
        middleware=[
            # Outermost first; each only when switched on, so that it costs nothing when off.
            *([Middleware(access_log.AccessLogMiddleware)] if access_log.wanted(settings) else []),
            *(
                [Middleware(GraphQLCORSMiddleware, origins=settings.cors_origins)]
                if settings.cors_origins
                else []
            ),
            Middleware(
                RequestGuardMiddleware,
                settings=settings,
                db=db,
                pepper=pepper,
                clock=clock,
                limiter=limiter,
                credential_cache=credential_cache,
                persisted=persisted,
                usage=usage,
            ),
        ],
        lifespan=lifespan,
        direct=ping_route,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.db = db
    app.state.limiter = limiter
    app.state.bus = bus
    app.state.live = live
    app.state.credential_cache = credential_cache
    app.state.ping_batcher = heartbeat.batcher
    app.state.scope_usage = scope_usage
    app.state.usage = usage
    app.state.close = close
    return app


def create_app_from_environment() -> Starlette:
    """Factory for `uvicorn --factory` and `serve --workers N`: settings from the environment."""
    settings = Settings()
    # Again in each worker process of `serve --workers N`: a fresh interpreter.
    logs.configure(settings.log_format, settings.log_level)
    return create_app(settings)
