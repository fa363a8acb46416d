"""From a monitor's settings to the probe that checks it (DESIGN §10).

A `Target` is a snapshot of what a check needs of a monitor row, taken when the check
is claimed: probes run outside any transaction, so a slow site never holds a database
connection. One `Prober` per process holds the HTTP session (one connection pool, one
DNS cache) and the RDAP client, made in the running event loop on first use.
"""

import asyncio
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from statusgraph.checks.guard import Guard, Resolve
from statusgraph.checks.probes import Failure, Outcome, down
from statusgraph.checks.probes.domain import Rdap, probe_domain
from statusgraph.checks.probes.http import DEFAULT_EXPECTED, HttpCheck, http_session, probe_http
from statusgraph.checks.probes.tcp import probe_tcp
from statusgraph.checks.probes.tls import probe_tls

ACTIVE_TYPES = ("http", "keyword", "tcp", "ssl", "domain")
DEFAULT_TIMEOUT = 10
MAX_TIMEOUT = 60


@dataclass(frozen=True, slots=True)
class Target:
    monitor_id: str
    type: str
    settings: dict[str, Any]
    timeout_seconds: int | None
    interval_seconds: int | None
    due: datetime  # when the check was due (the scheduler's lag is measured from it)
    # The monitor's updated_at when its settings were read: a result is applied only if
    # the monitor is still at that version (results.record).
    version: datetime


def timeout_of(target: Target) -> float:
    """The monitor's timeout, at most MAX_TIMEOUT: a monitor saved under older rules may
    hold more, and a probe must end well within its claim's lease."""
    return float(min(target.timeout_seconds or DEFAULT_TIMEOUT, MAX_TIMEOUT))


def http_check(target: Target) -> HttpCheck:
    settings = target.settings
    codes = settings.get("expected_status_codes")
    keyword = settings.get("keyword") if target.type == "keyword" else None
    return HttpCheck(
        url=settings["url"],
        method=settings.get("method", "GET"),
        headers={header["name"]: header["value"] for header in settings.get("headers", [])},
        body=settings.get("body"),
        expected=[(code, code) for code in codes] if codes else DEFAULT_EXPECTED,
        follow_redirects=settings.get("follow_redirects", True),
        verify_tls=settings.get("verify_tls", True),
        timeout=timeout_of(target),
        keyword=keyword,
        keyword_present=settings.get("keyword_mode", "present") == "present",
        case_sensitive=settings.get("case_sensitive", True),
    )


class Prober:
    def __init__(
        self,
        guard: Guard,
        *,
        rdap_bootstrap_url: str,
        concurrency: int = 100,
        ssl_context: ssl.SSLContext | None = None,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        resolve: Resolve | None = None,
    ) -> None:
        """`ssl_context` (whom TLS checks trust), `resolver` (aiohttp's DNS) and `resolve`
        (the TCP and SSL probes' DNS): the system's by default; tests give theirs."""
        self.guard = guard
        self.rdap_bootstrap_url = rdap_bootstrap_url
        self.concurrency = concurrency
        self.ssl_context = ssl_context
        self.resolver = resolver
        self.resolve = resolve
        self._session: aiohttp.ClientSession | None = None
        self._rdap: Rdap | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = http_session(
                self.guard,
                concurrency=self.concurrency,
                ssl_context=self.ssl_context,
                resolver=self.resolver,
            )
        return self._session

    def _registry(self) -> Rdap:
        if self._rdap is None:
            self._rdap = Rdap(self._http(), self.rdap_bootstrap_url)
        return self._rdap

    async def probe(self, target: Target, now: datetime) -> Outcome:
        """One check of `target`. Never raises for what the target does; an error of our
        own is a PROTOCOL failure with its class, so a check always has a result."""
        try:
            return await self._probe(target, now)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a probe bug must not stop the scheduler
            return down(Failure.PROTOCOL, f"the check itself failed: {type(error).__name__}")

    async def _probe(self, target: Target, now: datetime) -> Outcome:
        settings = target.settings
        seconds = timeout_of(target)
        if target.type in ("http", "keyword"):
            return await probe_http(self._http(), http_check(target))
        if target.type == "tcp":
            return await probe_tcp(
                self.guard,
                settings["host"],
                settings["port"],
                seconds=seconds,
                resolve=self.resolve,
            )
        if target.type == "ssl":
            return await probe_tls(
                self.guard,
                settings["host"],
                settings.get("port", 443),
                now=now,
                seconds=seconds,
                server_name=settings.get("sni_name"),
                threshold_days=settings.get("warning_days", 14),
                ssl_context=self.ssl_context,
                resolve=self.resolve,
            )
        if target.type == "domain":
            try:
                async with asyncio.timeout(seconds):
                    return await probe_domain(
                        self._registry(),
                        settings["domain"],
                        now=now,
                        threshold_days=settings.get("warning_days", 30),
                    )
            except TimeoutError:
                return down(Failure.TIMEOUT, f"no RDAP answer within {seconds:g} s")
        raise ValueError(f"{target.type} monitors are not checked")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._rdap = None
