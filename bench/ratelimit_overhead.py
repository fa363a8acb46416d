"""What the rate limiter costs per request, memory and Redis storage, in one run.

    .venv/bin/python -m bench.ratelimit_overhead [--seconds 10] [--connections 16]
                                                 [--redis redis://127.0.0.1:6379/14]

Needs `wrk` (apt-get install wrk). Target: ≤ 10 % overhead with memory storage,
measured against the same middleware with the limiter switched off. The "headers only"
row answers every request with a constant decision: the cost of the three
X-RateLimit-* headers every response must carry, which no storage can remove.
"""

import argparse

import redis

from bench.harness import Result, UvicornServer, median_of, print_table, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians are shown"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()

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
