"""SSL probe: the certificate a server presents, validated, and how long it has left.

DOWN when the chain or the name does not validate (the reason is OpenSSL's: expired,
self-signed, hostname mismatch, unknown issuer), or when it expires within the
monitor's threshold (`expiryThresholdDays`, 14 by default): the certificate's subject,
issuer, expiry and days left come with every result that got that far.
"""

import asyncio
import math
import ssl
import time
from datetime import UTC, datetime
from typing import Any

from statusgraph.checks.guard import Guard, Resolve
from statusgraph.checks.probes import Certificate, Failure, Outcome, connection_failure, down

DEFAULT_THRESHOLD_DAYS = 14


def _name(parts: Any) -> str:
    """An X.509 name from getpeercert(): its common name, else its first attribute."""
    pairs = [pair for rdn in parts or () for pair in rdn]
    for key, value in pairs:
        if key == "commonName":
            return str(value)
    return ", ".join(f"{key}={value}" for key, value in pairs)


def _certificate(peer: dict[str, Any], now: datetime) -> Certificate:
    not_after = datetime.fromtimestamp(ssl.cert_time_to_seconds(peer["notAfter"]), UTC)
    return Certificate(
        subject=_name(peer.get("subject")),
        issuer=_name(peer.get("issuer")),
        not_after=not_after,
        days_left=math.floor((not_after - now).total_seconds() / 86400),
    )


async def probe_tls(
    guard: Guard,
    host: str,
    port: int = 443,
    *,
    now: datetime,
    seconds: float,
    server_name: str | None = None,
    threshold_days: int = DEFAULT_THRESHOLD_DAYS,
    ssl_context: ssl.SSLContext | None = None,
    resolve: Resolve | None = None,
) -> Outcome:
    """`ssl_context`: whom to trust, the system's CAs by default."""
    context = ssl_context or ssl.create_default_context()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            _, writer = await guard.open_connection(
                host, port, ssl_context=context, server_hostname=server_name, resolve=resolve
            )
    except TimeoutError:
        return down(Failure.TIMEOUT, f"no TLS handshake with {host}:{port} within {seconds:g} s")
    except ssl.SSLCertVerificationError as error:
        return down(Failure.TLS, f"certificate rejected: {error.verify_message}")
    except ssl.SSLError as error:
        return down(Failure.TLS, f"TLS handshake failed: {error.reason or error}")
    except OSError as error:  # after ssl.SSLError, itself an OSError
        return connection_failure(error, host, port)
    except UnicodeError:  # a label over 63 characters: no DNS query can carry it
        return down(Failure.DNS, f"{host!r} is not a valid host name")
    elapsed = (time.perf_counter() - started) * 1000
    peer = writer.get_extra_info("peercert")
    # No TLS close exchange: a server that never answers it must not hold the probe.
    writer.transport.abort()
    certificate = _certificate(peer, now)
    details: dict[str, Any] = {
        "certificate": certificate,
        "response_ms": elapsed,
        "phases": {"handshake": elapsed},
    }
    days = certificate.days_left
    if days < threshold_days:
        when = "today" if days <= 0 else f"in {days} day{'s' if days != 1 else ''}"
        return down(Failure.CERTIFICATE, f"certificate expires {when}", **details)
    return Outcome(up=True, reason=f"certificate valid for {days} more days", **details)
