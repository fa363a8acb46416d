"""Scale-out on PostgreSQL and Redis (DESIGN §14, issue #19): N web processes and a worker.

    .venv/bin/python -m bench.scale_out [--postgres postgresql+asyncpg://postgres@127.0.0.1/test]
        [--seconds 5] [--rounds 3] [--connections 32] [--monitors 32]
        [--sockets 1000] [--samples 100]

What runs, all on loopback: `statusgraph serve --no-jobs --port P` as shipped, twice,
each its own process on its own port; one `statusgraph worker`; a PostgreSQL database of
the bench's own (`statusgraph_bench_scale`, created afresh and dropped afterwards); a
redis-server the bench starts on a free port (never the machine's shared one) holding
the rate limits and carrying the events. The processes are NOT pinned: the point is to
use every core, and the load generator, PostgreSQL, Redis and the worker share them, so
the table says where the CPU went during each run, in cores (1.00 = one core busy for
the whole run): the web processes, wrk, every PostgreSQL backend (other databases' on
the same server included), Redis, the worker, and everything else the machine ran.

The load generator is wrk (C, one thread), always two of them, each with half the
connections: for N = 1 both aim at the first web process, for N = 2 one at each (the
round-robin spread of connections over processes). Measured, in interleaved rounds
(the median round by requests per second is shown):
- heartbeat pings (`POST /api/heartbeat/<monitor>`, round-robin over `--monitors`
  monitors with a key each) and an authenticated GraphQL read (`services(first: 10)`)
  for N = 1 and 2;
- that a rate limit holds across processes: one team-plan key (read limit 100/minute,
  the only limit left in force) sends 300 reads, alternately through each process, 8
  at a time: the requests accepted must be the limit, not twice it;
- `--sockets` idle subscriptions (`statusPageChanged`, anonymous, each its own socket)
  held by one web process, and its resident memory per socket;
- the latency from a mutation to the subscriber's message across processes: a
  subscriber on the second web process, `createIncident` / `resolveIncident` sent
  through the first one, the worker dispatching and publishing through Redis. Measured
  from the moment the mutation is sent, so it bounds the time from its commit.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection

from bench.cluster import (
    CREATE_INCIDENT,
    GRAPHQL_READ,
    RESOLVE_INCIDENT,
    TEAM_READ_LIMIT,
    RedisServer,
    Web,
    Worker,
    bench_database,
    cpu_of,
    environment,
    incident_input,
    machine_jiffies,
    open_subscription,
    percentile,
    pids_named,
    rss_kib,
    seed,
)
from bench.harness import _ms, requests_in
from bench.heartbeat import ping_script

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DATABASE = "statusgraph_bench_scale"


def read_script(path: Path, key: str) -> Path:
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-API-Key"] = "{key}"\n'
        f"wrk.body = {json.dumps(json.dumps({'query': GRAPHQL_READ}))}\n"
    )
    return path


@dataclass
class Run:
    workload: str
    n: int
    requests_per_second: float
    requests: int
    non_2xx: int
    p50_ms: float
    p99_ms: float
    # CPU seconds per second of wall time (1.0 = one core), by component.
    cpu: dict[str, float]


@dataclass
class Cluster:
    webs: list[Web]
    worker: Worker
    redis: RedisServer

    def pids(self) -> dict[str, list[int]]:
        return {
            "web": [web.pid for web in self.webs],
            "worker": [self.worker.pid],
            "redis": [self.redis.pid] if self.redis.pid else [],
            "postgres": pids_named("postgres"),
        }


def run_wrk(
    urls: list[str], script: Path, connections: int, seconds: float, cluster: Cluster | None = None
) -> tuple[list[str], dict[str, float]]:
    """Two wrk processes, one per URL of `urls`, each with half the connections; their
    reports and the CPU each component used per second of the run."""
    pids = cluster.pids() if cluster else {}
    before = {name: cpu_of(each) for name, each in pids.items()}
    busy_before, total_before = machine_jiffies()
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [
                "wrk",
                "-t1",
                f"-c{max(connections // len(urls), 1)}",
                "--latency",
                "-s",
                str(script),
                f"-d{max(int(seconds), 1)}s",
                url,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    reports = []
    wrk_cpu = 0.0
    for process in processes:
        assert process.stdout is not None
        reports.append(process.stdout.read())
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = 0
        wrk_cpu += usage.ru_utime + usage.ru_stime
    wall = time.monotonic() - started
    busy_after, total_after = machine_jiffies()
    # PostgreSQL's backends come and go: one that exited during the run takes its CPU
    # time with it, hence the floor at 0.
    cpu = {name: max(cpu_of(each) - before[name], 0.0) / wall for name, each in pids.items()}
    cpu["wrk"] = wrk_cpu / wall
    cores = os.cpu_count() or 1
    cpu["machine"] = (busy_after - busy_before) / max(total_after - total_before, 1) * cores
    return reports, cpu


def summarize(workload: str, n: int, reports: list[str], cpu: dict[str, float]) -> Run:
    total = sum(requests_in(report) for report in reports)
    non_2xx = 0
    for report in reports:
        found = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
        non_2xx += int(found.group(1)) if found else 0
    rate = 0.0
    for report in reports:
        found = re.search(r"Requests/sec:\s+([\d.]+)", report)
        rate += float(found.group(1)) if found else 0.0

    def worst(quantile: str) -> float:
        return max(
            _ms(re.search(rf"^\s+{quantile}%\s+(\S+)", report, re.MULTILINE).group(1))  # type: ignore[union-attr]
            for report in reports
        )

    return Run(workload, n, rate, total, non_2xx, worst("50"), worst("99"), cpu)


def throughput(
    cluster: Cluster, scripts: dict[str, tuple[str, Path]], args: argparse.Namespace
) -> list[Run]:
    runs: list[Run] = []
    for round_ in range(args.rounds):
        for n in (1, 2):
            urls = [cluster.webs[0].url, cluster.webs[n - 1].url]
            for workload, (path, script) in scripts.items():
                url_paths = [url + path for url in urls]
                run_wrk(url_paths, script, args.connections, 1)  # warm-up
                reports, cpu = run_wrk(url_paths, script, args.connections, args.seconds, cluster)
                run = summarize(workload, n, reports, cpu)
                print(
                    f"  round {round_ + 1} {workload:<9} N={n}: {run.requests_per_second:>8.0f} req/s"
                    f" (non-2xx {run.non_2xx}, machine CPU {run.cpu['machine']:.2f} cores)",
                    flush=True,
                )
                runs.append(run)
    return runs


def median_run(runs: list[Run], workload: str, n: int) -> Run:
    chosen = sorted(
        (run for run in runs if run.workload == workload and run.n == n),
        key=lambda run: run.requests_per_second,
    )
    return chosen[len(chosen) // 2]


async def rate_limit_across(cluster: Cluster, key: str, requests: int) -> tuple[int, int]:
    """(accepted, refused) of `requests` reads with one team key, alternately through
    each web process, 8 at a time."""
    gate = asyncio.Semaphore(8)
    statuses: list[int] = []
    clients = [
        httpx.AsyncClient(base_url=web.url, headers={"X-API-Key": key}, timeout=30)
        for web in cluster.webs
    ]

    async def one(n: int) -> None:
        async with gate:
            answer = await clients[n % len(clients)].post("/graphql", json={"query": GRAPHQL_READ})
            statuses.append(answer.status_code)

    try:
        await asyncio.gather(*(one(n) for n in range(requests)))
    finally:
        for client in clients:
            await client.aclose()
    return statuses.count(200), statuses.count(429)


async def idle_sockets(web: Web, count: int) -> tuple[int, float, list[ClientConnection]]:
    """`count` anonymous sockets each holding one subscription to the team's page on
    `web`; (opened, KiB of resident memory per socket, the sockets)."""
    await asyncio.sleep(1)
    before = rss_kib(web.pid)
    sockets: list[ClientConnection] = []
    gate = asyncio.Semaphore(50)

    async def one() -> None:
        async with gate:
            sockets.append(
                await open_subscription(
                    web.address,
                    'subscription { statusPageChanged(slug: "idle") { event } }',
                    {},
                )
            )

    await asyncio.gather(*(one() for _ in range(count)))
    await asyncio.sleep(2)
    after = rss_kib(web.pid)
    return len(sockets), (after - before) / max(len(sockets), 1), sockets


async def latency(cluster: Cluster, admin: str, service: str, samples: int) -> list[float]:
    """Seconds from sending a mutation through the first web process to its event's
    message on a subscriber of the second."""
    websocket = await open_subscription(
        cluster.webs[-1].address,
        'subscription { statusPageChanged(slug: "bench") { event resync } }',
        {},
    )
    await asyncio.sleep(0.5)
    seen: list[float] = []
    async with httpx.AsyncClient(
        base_url=cluster.webs[0].url, headers={"X-API-Key": admin}, timeout=30
    ) as http:
        incident: str | None = None
        for n in range(samples):
            sent = time.monotonic()
            if incident is None:
                answer = (
                    await http.post(
                        "/graphql",
                        json={
                            "query": CREATE_INCIDENT,
                            "variables": incident_input(f"Latency {n}", service),
                        },
                    )
                ).json()
                incident = answer["data"]["createIncident"]["incident"]["id"]
            else:
                await http.post(
                    "/graphql", json={"query": RESOLVE_INCIDENT, "variables": {"id": incident}}
                )
                incident = None
            message = json.loads(await asyncio.wait_for(websocket.recv(), 10))
            seen.append(time.monotonic() - sent)
            assert message.get("type") == "next", message
            await asyncio.sleep(0.02)
    await websocket.close()
    return seen


def ours(cpu: dict[str, float]) -> float:
    return sum(cpu[name] for name in ("web", "wrk", "postgres", "redis", "worker"))


def other(cpu: dict[str, float]) -> float:
    """What the machine spent on anything but the bench's processes (other users'
    work on a shared machine, the kernel's softirqs)."""
    return max(cpu["machine"] - ours(cpu), 0.0)


def print_report(
    runs: list[Run],
    limit: tuple[int, int],
    sockets: tuple[int, float],
    delays: list[float],
    args: argparse.Namespace,
) -> None:
    cores = os.cpu_count() or 1
    print()
    print(
        f"Scale-out on PostgreSQL + Redis, {cores} cores, wrk x2 at {args.connections} connections "
        f"in all, median of {args.rounds} rounds of {args.seconds:g} s"
    )
    print(
        f"{'workload':<26} {'N':>2} {'req/s':>8} {'x N=1':>6} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8}"
        f" {'µs/req web':>10} {'ours':>6}"
        f"  CPU (cores): {'web':>5} {'wrk':>5} {'pg':>5} {'redis':>5} {'worker':>6} {'other':>5} {'all':>5}"
    )
    names = {
        "heartbeat": "POST /api/heartbeat",
        "graphql": "GraphQL services(first:10)",
    }
    for workload in ("heartbeat", "graphql"):
        base = median_run(runs, workload, 1)
        for n in (1, 2):
            run = median_run(runs, workload, n)
            c = run.cpu
            rate = max(run.requests_per_second, 1e-9)
            print(
                f"{names[workload]:<26} {n:>2} {run.requests_per_second:>8.0f} "
                f"{run.requests_per_second / max(base.requests_per_second, 1e-9):>5.2f}x "
                f"{run.p50_ms:>7.2f} {run.p99_ms:>7.2f} {run.non_2xx:>8}"
                f" {c['web'] * 1e6 / rate:>10.0f} {ours(c) * 1e6 / rate:>6.0f}"
                f"  {'':>12} {c['web']:>5.2f} {c['wrk']:>5.2f} {c['postgres']:>5.2f} "
                f"{c['redis']:>5.2f} {c['worker']:>6.2f} {other(c):>5.2f} {c['machine']:>5.2f}"
            )
    print()
    print("What the cores allow, from the CPU each request cost (other users' work aside):")
    for workload in ("heartbeat", "graphql"):
        one, two = median_run(runs, workload, 1), median_run(runs, workload, 2)
        web_one = one.cpu["web"] / max(one.requests_per_second, 1e-9)
        all_one = ours(one.cpu) / max(one.requests_per_second, 1e-9)
        all_two = ours(two.cpu) / max(two.requests_per_second, 1e-9)
        ceiling_one = min(1 / web_one, cores / all_one)
        print(
            f"  {names[workload]}: N=1 ~{ceiling_one:.0f}/s (its one web process at "
            f"{web_one * 1e6:.0f} µs a request, everything at {all_one * 1e6:.0f}); N=2 "
            f"~{cores / all_two:.0f}/s ({cores} cores shared with wrk, PostgreSQL, Redis and "
            f"the worker, {all_two * 1e6:.0f} µs a request): at most "
            f"{cores / all_two / ceiling_one:.2f}x"
        )
    accepted, refused = limit
    print()
    print(
        f"rate limit across 2 processes: one team key ({TEAM_READ_LIMIT}/minute), "
        f"{3 * TEAM_READ_LIMIT} reads through both at once: {accepted} accepted, {refused} refused (2x the limit would be "
        f"{2 * TEAM_READ_LIMIT}): {'HOLDS' if accepted <= TEAM_READ_LIMIT else 'EXCEEDED'}"
    )
    opened, per_socket = sockets
    print(
        f"idle subscriptions on one web process: {opened} sockets held, "
        f"{per_socket:.1f} KiB of RSS per socket"
    )
    print(
        f"mutation -> subscriber message across processes (via the worker and Redis), "
        f"{len(delays)} samples: p50 {percentile(delays, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(delays, 0.99) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms, "
        f"mean {statistics.fmean(delays) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1/test")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32, help="in all, over both wrk")
    parser.add_argument("--monitors", type=int, default=32)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="statusgraph-scale-"))
    redis = RedisServer(data_dir)
    try:
        with bench_database(args.postgres, DATABASE) as database_url:
            env = environment(database_url, redis.url, data_dir)
            seeded = seed(env, args.monitors)
            worker = Worker(env, data_dir / "worker.log")
            webs = [Web(env, data_dir / f"web{n}.log") for n in range(2)]
            cluster = Cluster(webs, worker, redis)
            try:
                worker.start()
                for web in webs:
                    web.start()
                scripts = {
                    "heartbeat": (
                        "/api/heartbeat",
                        ping_script(data_dir / "ping.lua", seeded.pings),
                    ),
                    "graphql": ("/graphql", read_script(data_dir / "read.lua", seeded.admin)),
                }
                # The ping script gives whole paths: the URL's path is its base.
                scripts["heartbeat"] = ("", scripts["heartbeat"][1])
                print("throughput", flush=True)
                runs = throughput(cluster, scripts, args)
                print("rate limit across processes", flush=True)
                limit = asyncio.run(rate_limit_across(cluster, seeded.team, 3 * TEAM_READ_LIMIT))
                print("idle subscriptions and latency", flush=True)

                async def live() -> tuple[tuple[int, float], list[float]]:
                    opened, per_socket, sockets = await idle_sockets(webs[1], args.sockets)
                    try:
                        delays = await latency(
                            cluster, seeded.admin, seeded.services[0], args.samples
                        )
                    finally:
                        await asyncio.gather(
                            *(each.close() for each in sockets), return_exceptions=True
                        )
                    return (opened, per_socket), delays

                sockets, delays = asyncio.run(live())
            finally:
                for web in webs:
                    web.stop()
                worker.stop()
            print_report(runs, limit, sockets, delays, args)
    finally:
        redis.kill()


if __name__ == "__main__":
    main()
