"""The HTTP client for active checks, chosen by measurement (issue #15): aiohttp and httpx.

    .venv/bin/python -m bench.http_clients [--requests 1500] [--rounds 3] [--concurrency 16]

Both clients run in this process, pinned to CPU 1, against a bare Starlette route under
uvicorn pinned to CPU 0, over plain HTTP and over TLS (a certificate for `localhost`
from a `trustme` CA both clients trust). The URL names `localhost`, so each fresh
connection resolves a name as a check would. For each client, scheme and mode, the
table gives this process's CPU per request (user + system, its threads included:
getaddrinfo runs in a thread for both) and wall time per request at `--concurrency`
requests in flight, median of interleaved rounds:

- `fresh`: a new connection per request, what a check measures (resolve, connect, TLS,
  request, response): aiohttp with `force_close=True` (its resolver cache stays on, as
  a checker would run it), httpx with no keep-alive connections;
- `keep-alive`: connections reused, for comparison.

Both clients also report per-phase timings (resolve, connect, TLS, first byte): the
script checks that each client's hooks fire and prints one request's phases.
"""

import argparse
import asyncio
import os
import ssl
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import trustme

from bench.harness import UvicornServer

Fetch = Callable[[], Awaitable[int]]


def pin_to(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})


async def run(fetch: Fetch, requests: int, concurrency: int) -> tuple[float, float]:
    """(CPU µs per request, wall µs per request) for `requests` fetches, `concurrency`
    at a time."""
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status = await fetch()
            assert status == 200, status

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (
        (time.process_time() - cpu) / requests * 1e6,
        (time.perf_counter() - wall) / requests * 1e6,
    )


def aiohttp_session(context: ssl.SSLContext, *, fresh: bool) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=context, force_close=fresh, limit=0)
    return aiohttp.ClientSession(connector=connector)


def httpx_client(context: ssl.SSLContext, *, fresh: bool) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0 if fresh else None)
    return httpx.AsyncClient(verify=context, limits=limits)


async def phases(url: str, context: ssl.SSLContext) -> dict[str, list[str]]:
    """The phase hooks each client fires for one fresh request, by name."""
    seen: dict[str, list[str]] = {"aiohttp": [], "httpx": []}
    trace = aiohttp.TraceConfig()
    for name in (
        "on_dns_resolvehost_start",
        "on_dns_resolvehost_end",
        "on_connection_create_start",
        "on_connection_create_end",
        "on_request_start",
        "on_request_end",
    ):

        async def hook(*_: Any, name: str = name) -> None:
            seen["aiohttp"].append(name.removeprefix("on_"))

        getattr(trace, name).append(hook)
    async with (
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, force_close=True), trace_configs=[trace]
        ) as session,
        session.get(url) as response,
    ):
        await response.read()

    async def log(event: str, _info: dict[str, Any]) -> None:
        seen["httpx"].append(event)

    async with httpx.AsyncClient(verify=context) as client:
        await client.get(url, extensions={"trace": log})
    return seen


async def measure(
    urls: dict[str, str], context: ssl.SSLContext, requests: int, rounds: int, concurrency: int
) -> dict[tuple[str, str, str], list[tuple[float, float]]]:
    results: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for _ in range(rounds):
        for scheme, url in urls.items():
            for mode in ("fresh", "keep-alive"):
                fresh = mode == "fresh"
                async with aiohttp_session(context, fresh=fresh) as session:

                    async def with_aiohttp(
                        session: aiohttp.ClientSession = session, url: str = url
                    ) -> int:
                        async with session.get(url) as response:
                            await response.read()
                            return response.status

                    figure = await run(with_aiohttp, requests, concurrency)
                    results.setdefault(("aiohttp", scheme, mode), []).append(figure)
                async with httpx_client(context, fresh=fresh) as client:

                    async def with_httpx(client: httpx.AsyncClient = client, url: str = url) -> int:
                        return (await client.get(url)).status_code

                    figure = await run(with_httpx, requests, concurrency)
                    results.setdefault(("httpx", scheme, mode), []).append(figure)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians are shown"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    ca = trustme.CA()
    certificate = ca.issue_cert("localhost")
    folder = Path(tempfile.mkdtemp(prefix="statusgraph-bench-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    certificate.cert_chain_pems[0].write_to_path(str(cert))
    certificate.private_key_pem.write_to_path(str(key))
    context = ssl.create_default_context()
    ca.configure_trust(context)

    plain = UvicornServer("bench.apps:bare")
    secure = UvicornServer("bench.apps:bare", tls=(cert, key))
    pin_to(1)
    try:
        urls = {
            "http": f"http://localhost:{plain.port}/ping",
            "https": f"https://localhost:{secure.port}/ping",
        }
        seen = asyncio.run(phases(urls["https"], context))
        results = asyncio.run(measure(urls, context, args.requests, args.rounds, args.concurrency))
    finally:
        plain.stop()
        secure.stop()

    print(
        f"\n{args.requests} requests a run, {args.concurrency} in flight, median of "
        f"{args.rounds} interleaved rounds; client on CPU 1, server on CPU 0\n"
    )
    print(f"{'client':<8} {'scheme':<6} {'connections':<11} {'CPU µs/req':>11} {'wall µs/req':>12}")
    for (client, scheme, mode), figures in sorted(
        results.items(), key=lambda i: (i[0][1], i[0][2], i[0][0])
    ):
        cpu = statistics.median(f[0] for f in figures)
        wall = statistics.median(f[1] for f in figures)
        print(f"{client:<8} {scheme:<6} {mode:<11} {cpu:>11.0f} {wall:>12.0f}")
    print("\nphase hooks fired for one fresh HTTPS request:")
    for client, events in seen.items():
        print(f"  {client}: {', '.join(events)}")


if __name__ == "__main__":
    main()
