"""Plumbing shared by the scale-out and chaos benches (DESIGN §14): a PostgreSQL
database of the bench's own, a redis-server of its own on a free port (never the
machine's shared one), `statusgraph serve --no-jobs` web processes and a `statusgraph
worker` as shipped, each its own process, the seed data, CPU accounting from /proc and a
minimal graphql-transport-ws client.
"""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import make_url, text
from websockets.asyncio.client import ClientConnection, connect

from bench.harness import ROOT, cpu_seconds, free_port
from statusgraph.app import create_app
from statusgraph.clock import utcnow
from statusgraph.config import Settings
from statusgraph.db import migrate
from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.resolvers import organizations

UNLIMITED = "1000000000/minute"
# The team plan's read limit, left in force for the rate-limit check across processes.
TEAM_READ_LIMIT = 100


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
            total += cpu_seconds(pid)
    return total


def pids_named(name: str) -> list[int]:
    """Every process whose command is `name` (PostgreSQL's backends: the server runs
    outside the bench, so its CPU is read from /proc, not from a child)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return found


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of every core since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class RedisServer:
    """A redis-server of the bench's own on a free loopback port, no persistence."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is needed: apt-get install redis-server")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


async def _admin(server_url: str, statement: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


@contextlib.contextmanager
def bench_database(server_url: str, name: str) -> Iterator[str]:
    """A database of the bench's own on `server_url`, created afresh and dropped after."""
    asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def environment(database_url: str, redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """What every process of the installation shares: PostgreSQL, Redis for the rate
    limits and the events, one secret. The bench's own differences from the defaults
    are the rate limits (raised, but for the team plan's read limit, which the
    rate-limit check spends) and the per-address websocket bound (the bench opens its
    1,000 sockets from one address)."""
    return {
        "STATUSGRAPH_DATA_DIR": str(data_dir),
        "STATUSGRAPH_DATABASE_URL": database_url,
        "STATUSGRAPH_SECRET_KEY": "bench-scale-out-secret-0123456789abcdef",
        "STATUSGRAPH_RATE_LIMIT_STORAGE": "async+" + redis_url,
        "STATUSGRAPH_EVENTS_URL": redis_url,
        "STATUSGRAPH_RATE_LIMIT_HEARTBEAT": UNLIMITED,
        "STATUSGRAPH_RATE_LIMIT_ANONYMOUS": UNLIMITED,
        "STATUSGRAPH_RATE_LIMIT_WS": UNLIMITED,
        "STATUSGRAPH_RATE_LIMIT_PLANS": json.dumps(
            {
                "enterprise": {"read": UNLIMITED, "write": UNLIMITED},
                "team": {"read": f"{TEAM_READ_LIMIT}/minute", "write": "120/minute"},
            }
        ),
        "STATUSGRAPH_WS_MAX_CONNECTIONS_PER_IP": "5000",
        "STATUSGRAPH_WS_MAX_CONNECTIONS_PER_CREDENTIAL": "5000",
        "STATUSGRAPH_LOG_LEVEL": "warning",
        **extra,
    }


class Role:
    """`python -m statusgraph <args>` as installed, in a process of its own, its output
    kept in `log`; restartable after a kill -9."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "statusgraph", *self.args],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Web(Role):
    """`statusgraph serve --no-jobs --port P`: the web role kept to requests."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.address = f"127.0.0.1:{self.port}"
        super().__init__(["serve", "--no-jobs", "--port", str(self.port)], env, log)

    def start(self) -> None:
        super().start()
        self.wait_until_up()

    def wait_until_up(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"statusgraph serve did not start (see {self.log})")


class Worker(Role):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(["worker"], env, log)


@dataclass
class Seeded:
    admin: str  # a full-access key of the enterprise organization
    pings: list[tuple[str, str]]  # (heartbeat monitor id, a key holding heartbeat:write)
    services: list[str]
    team: str  # a key of the team-plan organization (rate limits left in force)
    extra: dict[str, Any] = field(default_factory=dict)


GRAPHQL_READ = "{ services(first: 10) { edges { node { id name status } } } }"


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "statusgraph", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def seed(env: dict[str, str], monitors: int) -> Seeded:
    """Migrations, the bootstrap organization (enterprise) with `monitors` heartbeat
    monitors and a key each, 5 services on a public page `bench`; a team-plan
    organization `team` with a read key and a public page `idle`."""
    os.environ.update(env)
    settings = Settings()
    migrate.upgrade(settings.database_url)
    seeded = asyncio.run(_seed(settings, monitors))
    cli(env, "orgs", "create", "--name", "Team", "--slug", "team", "--plan", "team")
    seeded.team = cli(
        env, "keys", "create", "--org", "team", "--name", "hammer", "--scopes", "*:*"
    ).splitlines()[-1]
    asyncio.run(_team_page(settings, seeded.team))
    return seeded


async def _call(http: httpx.AsyncClient, document: str, variables: dict[str, Any]) -> Any:
    answer = (await http.post("/graphql", json={"query": document, "variables": variables})).json()
    assert "errors" not in answer, answer
    return answer["data"]


async def _seed(settings: Settings, monitors: int) -> Seeded:
    engine = create_engine(settings.database_url)
    async with create_session_factory(engine).begin() as session:
        admin = await organizations.bootstrap(session, now=utcnow(), pepper=settings.pepper())
    await engine.dispose()
    assert admin is not None
    app = create_app(settings.model_copy(update={"run_jobs": False}))
    pings = []
    services = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://seed", headers={"X-API-Key": admin}
    ) as http:
        for n in range(monitors):
            monitor = await _call(
                http,
                "mutation($n: String!) { createMonitor(input: {name: $n, type: HEARTBEAT, periodSeconds: 3600, graceSeconds: 600}) { monitor { id } } }",
                {"n": f"job {n}"},
            )
            key = await _call(
                http,
                'mutation($n: String!) { createApiKey(input: {name: $n, scopes: ["heartbeat:write"]}) { secret } }',
                {"n": f"job {n}"},
            )
            pings.append((monitor["createMonitor"]["monitor"]["id"], key["createApiKey"]["secret"]))
        for n in range(5):
            created = await _call(
                http,
                "mutation($n: String!) { createService(input: {name: $n}) { service { id } } }",
                {"n": f"Service {n}"},
            )
            services.append(created["createService"]["service"]["id"])
        await _call(
            http,
            'mutation($s: [ID!]!) { createStatusPage(input: {name: "Bench", slug: "bench", serviceIds: $s}) { statusPage { id } } }',
            {"s": services},
        )
    await app.state.close()
    return Seeded(admin=admin, pings=pings, services=services, team="")


async def _team_page(settings: Settings, key: str) -> None:
    app = create_app(settings.model_copy(update={"run_jobs": False}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://seed", headers={"X-API-Key": key}
    ) as http:
        await _call(
            http,
            'mutation { createStatusPage(input: {name: "Idle", slug: "idle"}) { statusPage { id } } }',
            {},
        )
    await app.state.close()


CREATE_INCIDENT = "mutation($i: CreateIncidentInput!) { createIncident(input: $i) { incident { id } userErrors { code message } } }"
RESOLVE_INCIDENT = "mutation($id: ID!) { resolveIncident(id: $id) { userErrors { code message } } }"


def incident_input(title: str, service: str) -> dict[str, Any]:
    return {
        "i": {
            "title": title,
            "message": "Investigating",
            "services": [{"serviceId": service, "status": "DEGRADED_PERFORMANCE"}],
        }
    }


PROTOCOL = "graphql-transport-ws"


async def open_subscription(
    address: str, query: str, variables: dict[str, Any], payload: dict[str, Any] | None = None
) -> ClientConnection:
    """A socket with one subscription started on it (connection_init acknowledged)."""
    websocket = await connect(
        f"ws://{address}/graphql",
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        open_timeout=30,
        ping_interval=None,
    )
    await websocket.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
    ack = json.loads(await asyncio.wait_for(websocket.recv(), 30))
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"not acknowledged: {ack}")
    await websocket.send(
        json.dumps(
            {"type": "subscribe", "id": "1", "payload": {"query": query, "variables": variables}}
        )
    )
    return websocket


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]
