"""TCP probe: UP when a connection opens within the timeout."""

import asyncio
import contextlib
import socket
import time

from statusgraph.checks.guard import BlockedAddressError, Guard, Resolve
from statusgraph.checks.probes import Failure, Outcome, down


async def probe_tcp(
    guard: Guard, host: str, port: int, *, seconds: float, resolve: Resolve | None = None
) -> Outcome:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            _, writer = await guard.open_connection(host, port, resolve=resolve)
    except TimeoutError:
        return down(Failure.TIMEOUT, f"no connection to {host}:{port} within {seconds:g} s")
    except BlockedAddressError as error:
        return down(Failure.BLOCKED, str(error))
    except socket.gaierror as error:
        return down(Failure.DNS, f"{host} does not resolve: {error.strerror}")
    except ConnectionRefusedError:
        return down(Failure.CONNECT, f"connection to {host}:{port} refused")
    except OSError as error:
        return down(Failure.CONNECT, f"cannot connect to {host}:{port}: {error.strerror or error}")
    elapsed = (time.perf_counter() - started) * 1000
    writer.close()
    with contextlib.suppress(OSError):  # a reset while closing says nothing of the port
        await writer.wait_closed()
    return Outcome(up=True, reason="connected", response_ms=elapsed, phases={"connect": elapsed})
