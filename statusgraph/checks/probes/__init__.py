"""Probes: one check of one target, and what it found (DESIGN §10).

A probe never raises for what the target does: every failure is an Outcome with its
kind and a reason a person can read, so that a flaky DNS resolver, a refused
connection, a slow server and a real outage are told apart in the status history.
"""

import enum
from dataclasses import dataclass, field
from datetime import datetime


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
