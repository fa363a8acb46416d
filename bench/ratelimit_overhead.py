"""What the rate limiter costs per request, memory and Redis storage, in one run.

    .venv/bin/python -m bench.ratelimit_overhead [--seconds 10] [--connections 16]
                                                 [--redis redis://127.0.0.1:6379/14]
                                                 [--scope-usage | --usage]

Needs `wrk` (apt-get install wrk). Target: ≤ 10 % overhead with memory storage,
measured against the same middleware with the limiter switched off. The "headers only"
row answers every request with a constant decision: the cost of the three
X-RateLimit-* headers every response must carry, which no storage can remove.

`--scope-usage` measures instead what recording scope usage costs (DESIGN §15,
resolvers/scope_usage.py): an authenticated GraphQL read (bench.graphql_reads's 20-row
services list, which passes a scope check at its root) against `statusgraph serve` as
shipped, with STATUSGRAPH_SCOPE_USAGE on and off, each on its own seeded database.
Target: no measurable difference (within run-to-run noise).

`--usage` measures the same way what usage metering costs (resolvers/key_usage.py:
requests per credential counted in memory, the new-address check, the limiter's 80 %
hook), with STATUSGRAPH_USAGE_METERING on and off.
"""

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

import redis

from bench import graphql_reads
from bench.harness import Result, ShippedServe, UvicornServer, median_of, print_table, wrk
from statusgraph.config import Settings
from statusgraph.db import migrate


def on_off_servers(what: str, variable: str) -> dict[str, tuple[UvicornServer, Path]]:
    """Two `statusgraph serve` processes, `variable` false and true, each with its own
    seeded database and the wrk script carrying that database's key."""
    servers: dict[str, tuple[UvicornServer, Path]] = {}
    for name, flag in ((f"{what} off", "false"), (f"{what} on", "true")):
        data_dir = Path(tempfile.mkdtemp(prefix="statusgraph-bench-"))
        env = {
            "STATUSGRAPH_DATA_DIR": str(data_dir),
            variable: flag,
            **graphql_reads.SERVE_ENV,
        }
        os.environ.update(env)
        settings = Settings()
        migrate.upgrade(settings.database_url)
        key = asyncio.run(graphql_reads.seed(settings))
        script = graphql_reads.lua_post(
            data_dir / "services.lua", {"query": graphql_reads.SERVICES}, key
        )
        servers[name] = (ShippedServe(env), script)
    return servers


def measure_on_off(args: argparse.Namespace, what: str, variable: str) -> None:
    servers = on_off_servers(what, variable)
    runs: dict[str, list[Result]] = {name: [] for name in servers}
    try:
        for _ in range(args.rounds):
            for name, (server, script) in servers.items():
                runs[name].append(
                    wrk(
                        name,
                        server,
                        "/graphql",
                        connections=args.connections,
                        seconds=args.seconds,
                        script=script,
                    )
                )
    finally:
        for server, _ in servers.values():
            server.stop()
    off, on = (median_of(runs[name]) for name in servers)
    print(
        f"\nPOST /graphql services(first: 50), authenticated, {args.connections} connections, "
        f"median of {args.rounds} interleaved rounds of {args.seconds:g} s\n"
    )
    print_table([off, on], off)
    delta = on.cpu_us_per_request - off.cpu_us_per_request
    print(
        f"\n{what} on: {delta:+.1f} µs CPU per request "
        f"({delta / off.cpu_us_per_request:+.1%} CPU, "
        f"{1 - on.requests_per_second / off.requests_per_second:+.1%} throughput lost vs off)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians are shown"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument(
        "--scope-usage", action="store_true", help="scope usage recording on vs off instead"
    )
    parser.add_argument("--usage", action="store_true", help="usage metering on vs off instead")
    args = parser.parse_args()
    if args.scope_usage:
        measure_on_off(args, "scope usage", "STATUSGRAPH_SCOPE_USAGE")
        return
    if args.usage:
        measure_on_off(args, "usage metering", "STATUSGRAPH_USAGE_METERING")
        return

    redis_up = True
    try:
        redis.Redis.from_url(args.redis).flushdb()
    except redis.RedisError:
        redis_up = False

    targets = [
        ("bare Starlette route", "bench.apps:bare", {}),
        ("middleware, limiter off", "bench.apps:guarded", {"BENCH_LIMITS": "off"}),
        ("middleware, headers only", "bench.apps:guarded", {"BENCH_LIMITS": "headers"}),
        ("middleware, limiter memory", "bench.apps:guarded", {"BENCH_LIMITS": "memory"}),
    ]
    if redis_up:
        targets.append(
            ("middleware, limiter Redis", "bench.apps:guarded", {"BENCH_LIMITS": args.redis})
        )
    runs: dict[str, list[Result]] = {name: [] for name, _, _ in targets}
    servers = {name: UvicornServer(factory, env) for name, factory, env in targets}
    try:
        for _ in range(args.rounds):
            for name, server in servers.items():
                runs[name].append(
                    wrk(name, server, "/ping", connections=args.connections, seconds=args.seconds)
                )
    finally:
        for server in servers.values():
            server.stop()
    results = [median_of(runs[name]) for name, _, _ in targets]

    print(
        f"\nGET /ping, {args.connections} connections, median of {args.rounds} interleaved "
        f"rounds of {args.seconds:g} s\n"
    )
    print_table(results, results[0])
    off = results[1]
    print()
    for result in results[2:]:
        cpu = (result.cpu_us_per_request - off.cpu_us_per_request) / off.cpu_us_per_request
        throughput = 1 - result.requests_per_second / off.requests_per_second
        print(
            f"{result.name}: +{result.cpu_us_per_request - off.cpu_us_per_request:.1f} µs CPU per request "
            f"({cpu:+.1%} CPU, {throughput:+.1%} throughput lost vs limiter off)"
        )
    headers_only, memory = results[2], results[3]
    print(
        f"counting in memory, beyond the headers: "
        f"+{memory.cpu_us_per_request - headers_only.cpu_us_per_request:.1f} µs CPU per request"
    )
    if not redis_up:
        print(f"Redis at {args.redis} did not answer: Redis storage not measured")


if __name__ == "__main__":
    main()
