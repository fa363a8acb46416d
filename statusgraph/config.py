"""Settings: the only module that reads the environment (prefix ``STATUSGRAPH_``)."""

import email.utils
import ipaddress
import os
import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from limits import parse
from pydantic import AfterValidator, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SECRET_FILE_NAME = "secret.key"  # noqa: S105  (a file name, not a secret)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ORIGIN = re.compile(r"https?://[^/\s?#]+")
SMTP_SCHEME = re.compile(r"(?i)(smtp|smtp\+starttls|smtps)://")


def _check_limit(value: str) -> str:
    parse(value)  # raises ValueError on anything `limits` cannot read, e.g. "10 per fortnight"
    return value


RateLimit = Annotated[str, AfterValidator(_check_limit)]


class PlanLimits(BaseModel):
    """A plan's replacement for the standard bucket: queries and mutations counted apart."""

    read: RateLimit
    write: RateLimit


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STATUSGRAPH_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means SQLite in the data dir",
    )
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None
    rate_limit_storage: str = "async+memory://"
    rate_limits_enabled: bool = True
    rate_limit_standard: RateLimit = "1000/minute"
    rate_limit_sandbox: RateLimit = "120/minute"
    rate_limit_heartbeat: RateLimit = "10000/minute"
    rate_limit_beacon_ip: RateLimit = "6000/minute"
    rate_limit_anonymous: RateLimit = "300/minute"
    rate_limit_failed_auth: RateLimit = "60/minute"
    # Sign-in attempts per account (lower-cased email), on top of the address's bucket.
    rate_limit_failed_login: RateLimit = "10/15minutes"
    rate_limit_plans: dict[str, PlanLimits] = {
        "team": PlanLimits(read="600/minute", write="120/minute"),
        "enterprise": PlanLimits(read="2400/minute", write="600/minute"),
    }
    # GraphQL documents are bounded before anything executes (DESIGN §6).
    graphql_max_depth: int = Field(default=10, ge=1)
    graphql_max_aliases: int = Field(default=15, ge=0)
    graphql_max_tokens: int = Field(default=2000, ge=1)
    graphql_max_body_bytes: int = Field(default=64 * 1024, ge=1)
    graphql_max_page_size: int = Field(default=100, ge=1, le=100)
    graphql_max_cost: int = Field(default=1000, ge=1)
    graphql_max_selections: int = Field(default=1000, ge=1)
    graphiql: bool = True
    # Documents remembered for automatic persisted queries (http/persisted_queries.py),
    # per process; 0 answers PersistedQueryNotSupported, and clients stop sending hashes.
    graphql_persisted_queries: int = Field(default=1000, ge=0)
    # How long a response to an anonymous GraphQL request or a status page's document
    # may be served from memory; 0 turns the caches off. A write in any process that
    # changes a page invalidates it sooner (db/page_versions.py); this bounds only what no
    # write announces, such as a maintenance window starting on the clock.
    public_cache_seconds: float = Field(default=5.0, ge=0)
    # How often each process reads an organization's page version from the database: a
    # page changed through another process is served fresh within this time.
    page_version_check_seconds: float = Field(default=1.0, ge=0)
    # Monitors may target loopback, private and link-local addresses (a self-hoster's own
    # network); off, such targets are refused when saved and when dialled (checks/guard.py).
    checks_allow_private_networks: bool = False
    # Active checks (docs/monitors.md): how many run at once per process, the shortest
    # interval a monitor may have, how long raw results are kept (rollups keep 400 days),
    # and where the domain checks find the RDAP servers (the IANA bootstrap file).
    check_concurrency: int = Field(default=100, ge=1, le=10_000)
    check_min_interval: int = Field(default=30, ge=1)
    check_results_retention_days: int = Field(default=7, ge=1)
    rdap_bootstrap_url: str = "https://data.iana.org/rdap/dns.json"
    # How often each checker logs what it checked, its lag and its writes (0: never).
    check_report_seconds: float = Field(default=60.0, ge=0)
    # How often old check results, rollups and transitions are purged.
    check_retention_seconds: float = Field(default=3600.0, gt=0)
    # Notifications (docs/notifications.md): how many deliveries each process sends at
    # once, how often it looks for new events and due deliveries, and how long a
    # receiver has to answer. Outgoing requests pass the checks' SSRF guard (and its
    # STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS).
    notification_concurrency: int = Field(default=200, ge=1, le=1000)
    notification_poll_seconds: float = Field(default=0.25, gt=0)
    notification_timeout_seconds: float = Field(default=15.0, gt=0, le=60)
    # How often maintenance windows that started or ended are told of, and monitors
    # still DOWN are reminded of (their re-notify interval is their own).
    maintenance_events_seconds: float = Field(default=15.0, gt=0)
    reminders_seconds: float = Field(default=60.0, gt=0)
    # Where people reach this server, for links in notifications and mails
    # (http://<host>:<port> when unset).
    public_url: str | None = None
    # How long a looked-up API key is trusted before it is read again; a key revoked
    # through another process stops working within this time. 0 turns the cache off.
    credential_cache_seconds: float = Field(default=30.0, ge=0)
    # How often the server records heartbeat transitions (LATE, DOWN) that no ping caused.
    heartbeat_evaluate_seconds: float = Field(default=10.0, gt=0)
    # Background jobs (docs/workers-and-jobs.md). `serve` runs them in-process unless
    # this is false (or `serve --no-jobs`); `statusgraph worker` always does.
    run_jobs: bool = True
    # How often the audit log loses entries older than 365 days.
    audit_purge_seconds: float = Field(default=24 * 3600.0, gt=0)
    # Scope usage (resolvers/scope_usage.py): recorded in memory per request, written by
    # each web process every this many seconds (at most one write per credential and
    # scope per flush). Off: nothing is recorded (apiKey.scopeUsage stays empty).
    scope_usage: bool = True
    scope_usage_flush_seconds: float = Field(default=60.0, gt=0)
    # Usage metering (resolvers/key_usage.py): requests per credential counted in memory
    # and added to request_count by each web process every this many seconds; the
    # api_key.new_ip and api_key.rate_limit_80 alerts. Off: neither (usage shows no
    # requests; api_key.first_use is still raised, with the key's first lastUsedAt).
    usage_metering: bool = True
    usage_flush_seconds: float = Field(default=60.0, gt=0)
    # How often keys older than their organization's key policy allows are revoked.
    key_policy_seconds: float = Field(default=3600.0, gt=0)
    # A job run's lease, renewed every third of it while the run lasts; a process killed
    # mid-run holds its job this long at most. Also how long a silent process counts as alive.
    jobs_lease_seconds: float = Field(default=30.0, gt=0)
    # On SIGTERM, how long runs in flight may take to finish before they are cancelled.
    jobs_shutdown_seconds: float = Field(default=10.0, ge=0)
    # Mail (DESIGN §12): the SMTP server as a URL, smtp:// (STARTTLS when offered),
    # smtp+starttls:// (STARTTLS required) or smtps:// (TLS at once), with the user name
    # and password percent-encoded; unset, EMAIL channels and subscriber mails fail.
    smtp_url: SecretStr | None = None
    smtp_from: str = "statusgraph <statusgraph@localhost>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # How long an OAuth refresh token lives (each refresh rotates it and starts again).
    oauth_refresh_days: int = Field(default=30, ge=1, le=365)
    # Where app developers read about this server's OAuth provider: the metadata
    # document's service_documentation (RFC 8414), left out when unset.
    oauth_documentation_url: str | None = None
    # Comma-separated addresses or CIDR ranges whose X-Forwarded-For we believe.
    trusted_proxies: Annotated[list[str], NoDecode] = ["127.0.0.1"]
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"
    # `json`: one JSON object per line (timestamp, level, logger, message, request_id);
    # `text`: one readable line. Either way every line logged while a request is being
    # answered carries its request id (statusgraph.logs).
    log_format: Literal["text", "json"] = "text"
    # A line per request on the `statusgraph.access` logger (names of query parameters,
    # never their values); uvicorn's own access log is always off. Off by default: with
    # it, a heartbeat ping took 45-67 % more CPU (serve at log level info, measured).
    access_log: bool = False
    # Live updates (docs/live-updates.md). Where events travel between processes:
    # unset, in-process only (the embedded single process); `redis://…`, Redis pub/sub on
    # `events_channel`, so that a change dispatched by any worker or web process reaches
    # every subscriber of every process.
    events_url: str | None = None
    events_channel: str = "statusgraph:events"
    # Events queued per subscription before it is told to resync instead.
    events_queue_size: int = Field(default=100, ge=1, le=100_000)
    # GraphQL over websocket (graphql-transport-ws): open sockets per credential and per
    # client address in each process, subscriptions per socket, the time a client has to
    # send connection_init, and the rate of new sockets and subscriptions, charged like
    # requests to the shared rate-limit storage (per credential, or per address when
    # anonymous).
    ws_max_connections_per_credential: int = Field(default=100, ge=1)
    ws_max_connections_per_ip: int = Field(default=200, ge=1)
    ws_max_subscriptions_per_connection: int = Field(default=100, ge=1)
    ws_connection_init_seconds: float = Field(default=10.0, gt=0)
    rate_limit_ws: RateLimit = "120/minute"
    # Comma-separated origins allowed to call /graphql from a browser, or `*`; empty: no
    # CORS headers at all. `*` is safe: credentials travel in headers, never in cookies.
    cors_origins: Annotated[list[str], NoDecode] = []

    @field_validator("trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # raises ValueError on garbage
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        # Browsers send `scheme://host[:port]`, nothing more: a trailing slash or a path
        # would never match, silently.
        for origin in value:
            if origin != "*" and not ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin like https://example.com or *")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The scheme only: notifications.mail.SmtpServer.parse reads the rest, and config,
        # imported by the lowest layer (auth), imports none above it. The URL is never
        # echoed: it may hold a password.
        if value is not None and not SMTP_SCHEME.match(value.get_secret_value()):
            raise ValueError("an SMTP URL starts with smtp://, smtp+starttls:// or smtps://")
        return value

    @field_validator("smtp_from")
    @classmethod
    def _check_smtp_from(cls, value: str) -> str:
        # A line break would let the value add headers to every mail.
        _, address = email.utils.parseaddr(value)
        if "\r" in value or "\n" in value or "@" not in address:
            raise ValueError("not an address on one line, like statusgraph <ops@example.com>")
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _async_storage(cls, value: str) -> str:
        # `limits` names its async storages async+<scheme>; accept the plain form too.
        if value.startswith(("redis://", "rediss://", "memory://")):
            return "async+" + value
        return value

    @model_validator(mode="after")
    def _default_database(self) -> "Settings":
        url = self.database_url
        if not url:
            url = f"sqlite+aiosqlite:///{self.data_dir / 'statusgraph.db'}"
        elif url.startswith(("postgres://", "postgresql://")):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        elif url.startswith("sqlite://"):
            url = "sqlite+aiosqlite://" + url.split("://", 1)[1]
        self.database_url = url
        return self

    @property
    def uses_memory_rate_limits(self) -> bool:
        return self.rate_limit_storage.startswith("async+memory")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in self.trusted_proxies)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def pepper(self) -> bytes:
        """The HMAC key API keys are hashed with.

        Order: STATUSGRAPH_SECRET_KEY, STATUSGRAPH_SECRET_KEY_FILE, then
        `<data dir>/secret.key`, generated (mode 0600) on first use.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.secret_key_file or self.data_dir / SECRET_FILE_NAME
        try:
            return path.read_bytes().strip()
        except FileNotFoundError:
            if self.secret_key_file is not None:
                raise
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48).encode()
        # O_EXCL: two processes starting at once must not both write a different pepper.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(value)
        return value
