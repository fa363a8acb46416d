"""TCP probe: UP when a connection opens within the timeout."""

import asyncio
import time

from statusgraph.checks.guard import Guard, Resolve
from statusgraph.checks.probes import Failure, Outcome, connection_failure, down


async def probe_tcp(
    guard: Guard, host: str, port: int, *, seconds: float, resolve: Resolve | None = None
) -> Outcome:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            _, writer = await guard.open_connection(host, port, resolve=resolve)
    except TimeoutError:
        return down(Failure.TIMEOUT, f"no connection to {host}:{port} within {seconds:g} s")
    except OSError as error:
        return connection_failure(error, host, port)
    except UnicodeError:  # a label over 63 characters: no DNS query can carry it
        return down(Failure.DNS, f"{host!r} is not a valid host name")
    elapsed = (time.perf_counter() - started) * 1000
    # Closed without waiting for the peer: the check is over, and a peer that never
    # finishes closing must not hold it past its time.
    writer.transport.abort()
    return Outcome(up=True, reason="connected", response_ms=elapsed, phases={"connect": elapsed})
