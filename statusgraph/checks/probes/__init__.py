"""Probes: one check of one target, and what it found (DESIGN §10).

A probe never raises for what the target does: every failure is an Outcome with its
kind and a reason a person can read, so that a flaky DNS resolver, a refused
connection, a slow server and a real outage are told apart in the status history.
"""

import enum
import socket
from dataclasses import dataclass, field
from datetime import datetime

from statusgraph.checks.guard import BlockedAddressError


class Failure(enum.StrEnum):
    DNS = "DNS"
    BLOCKED = "BLOCKED"  # the SSRF guard refused the address (checks/guard.py)
    CONNECT = "CONNECT"
    TLS = "TLS"
    TIMEOUT = "TIMEOUT"
    STATUS = "STATUS"
    KEYWORD = "KEYWORD"
    PROTOCOL = "PROTOCOL"  # the server broke HTTP: closed early, too many redirects
    CERTIFICATE = "CERTIFICATE"  # valid, but expires within the threshold
    REGISTRATION = "REGISTRATION"  # the domain's registration expires within the threshold
    RDAP = "RDAP"  # no registration data to be had: no RDAP service, no record, bad answer


@dataclass(frozen=True, slots=True)
class Certificate:
    subject: str
    issuer: str
    not_after: datetime
    days_left: int


@dataclass(frozen=True, slots=True)
class Registration:
    domain: str
    registrar: str | None
    expires_at: datetime
    days_left: int


@dataclass(frozen=True, slots=True)
class Outcome:
    up: bool
    reason: str
    failure: Failure | None = None
    response_ms: float | None = None
    status_code: int | None = None
    # Milliseconds per phase, as far as the check got: resolve, connect, tls,
    # first_byte (request sent to response headers), total.
    phases: dict[str, float] = field(default_factory=dict)
    certificate: Certificate | None = None
    registration: Registration | None = None


def down(failure: Failure, reason: str, **details: object) -> Outcome:
    return Outcome(up=False, reason=reason, failure=failure, **details)  # type: ignore[arg-type]


def connection_failure(error: OSError, host: str, port: int) -> Outcome:
    """What opening a connection to host:port ran into, for the TCP and SSL probes."""
    if isinstance(error, BlockedAddressError):
        return down(Failure.BLOCKED, str(error))
    if isinstance(error, socket.gaierror):
        return down(Failure.DNS, f"{host} does not resolve: {error.strerror}")
    if isinstance(error, ConnectionRefusedError):
        return down(Failure.CONNECT, f"connection to {host}:{port} refused")
    return down(Failure.CONNECT, f"cannot connect to {host}:{port}: {error.strerror or error}")
