"""The README's shell examples, run with bash against a live server: what they print and
what the server stored. Placeholders (`sg_live_…`, `mon_…`, the example host) and the
example's own commands (`backup.sh`, `deploy.sh`) are the only things substituted."""

import asyncio
import json
import os
import re
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import yaml
from sqlmodel import select

from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.db.models import HeartbeatPing, MetricPoint
from tests.servers import Server

README = Path(__file__).parent.parent / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
DEFAULT_URL = "http://127.0.0.1:8000"
CREATE = 'mutation { createMonitor(input: {name: "backup", type: HEARTBEAT, periodSeconds: 86400, graceSeconds: 3600}) { monitor { id } } }'
# A log tail with what broke the previous example: a backslash, a tab, both quotes, a
# newline, non-ASCII, and a UTF-8 character cut in half by `tail -c`.
LOG = 'copying /srv\\db\t"nightly" it\'s\nfailed: 磁盘已满\n'.encode() + "é".encode()[:1]


def block(language: str, containing: str) -> str:
    [found] = [
        body
        for lang, body in FENCE.findall(README.read_text())
        if lang == language and containing in body
    ]
    return str(found)


async def bash(script: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-e",
        "-c",
        script,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def stored(database_url: str, monitor: str | None = None) -> list:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            if monitor is None:
                return list((await session.exec(select(MetricPoint))).all())
            query = select(HeartbeatPing).where(HeartbeatPing.monitor_id == monitor)
            return list((await session.exec(query.order_by(HeartbeatPing.created_at))).all())
    finally:
        await engine.dispose()


# One server for the module, on SQLite: the examples exercise HTTP and the shell, which
# do not depend on the database (tests/test_end_to_end.py covers serve on PostgreSQL).
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("readme") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    env["STATUSGRAPH_DATA_DIR"] = str(data)
    async with Server(env) as running:
        running.database_url = f"sqlite+aiosqlite:///{data / 'statusgraph.db'}"
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def live(server, tmp_path):
    """The server, and the environment the examples expect, with a fresh monitor."""
    [key] = server.printed_keys()
    async with httpx.AsyncClient(base_url=server.url) as http:
        created = await http.post("/graphql", json={"query": CREATE}, headers={"X-API-Key": key})
    monitor = created.json()["data"]["createMonitor"]["monitor"]["id"]
    shell_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SG_URL": server.url,
        "SG_KEY": key,
        "SG_MONITOR": monitor,
    }
    return server, shell_env


async def test_the_quick_start_curl_line_prints_what_the_readme_shows(live):
    server, env = live
    example = block("sh", "viewer { name organization { name } }")
    command, shown = example.rsplit("# ", 1)
    command = command.replace(DEFAULT_URL, server.url).replace("sg_live_…", env["SG_KEY"])
    code, out, err = await bash(command, env)
    assert (code, err) == (0, "")
    assert json.loads(out) == json.loads(shown)


async def test_the_backup_script_reports_a_failure_with_the_log_tail_verbatim(live, tmp_path):
    server, env = live
    log = tmp_path / "backup.log"
    log.write_bytes(b"x" * 5000 + LOG)  # longer than the tail the script sends
    script = (
        block("sh", "backup-and-report")
        .replace("/usr/local/bin/backup.sh", "false")
        .replace("/var/log/backup.log", str(log))
    )
    code, out, err = await bash(script, env)
    assert (code, err) == (0, "")
    assert json.loads(out)["status"] == "down"
    [ping] = await stored(server.database_url, env["SG_MONITOR"])
    assert ping.kind == "fail"
    expected = (b"x" * 5000 + LOG)[-2000:].decode(errors="replace")
    assert ping.message == expected
    assert ping.message.endswith('db\t"nightly" it\'s\nfailed: 磁盘已满\n\ufffd')


async def test_the_backup_script_reports_a_success(live):
    server, env = live
    script = block("sh", "backup-and-report").replace("/usr/local/bin/backup.sh", "true")
    code, out, err = await bash(script, env)
    assert (code, err) == (0, "")
    assert json.loads(out)["status"] == "up"
    [ping] = await stored(server.database_url, env["SG_MONITOR"])
    assert (ping.kind, ping.message) == ("success", None)


async def test_the_backup_script_shows_the_servers_error(live):
    _, env = live
    script = block("sh", "backup-and-report").replace("/usr/local/bin/backup.sh", "true")
    code, out, err = await bash(script, {**env, "SG_MONITOR": "mon_unknown"})
    assert code == 22  # curl's exit status for an HTTP error
    assert json.loads(out) == {"error": "Monitor not found"}  # -f alone would hide it
    assert "404" in err


async def test_the_ci_step_marks_the_start_and_reports_the_duration(live):
    server, env = live
    [step] = yaml.safe_load(block("yaml", "a CI step"))
    code, _out, err = await bash(step["run"].replace("./deploy.sh", "sleep 1"), env)
    assert (code, err) == (0, "")
    pings = await stored(server.database_url, env["SG_MONITOR"])
    assert [p.kind for p in pings] == ["start", "success"]
    assert pings[1].duration_ms in (1000, 2000, 3000)  # whole seconds of $SECONDS


async def test_the_metrics_example_stores_its_point(live):
    server, env = live
    command = block("sh", "/api/metrics/ingest").replace(DEFAULT_URL, server.url)
    code, out, err = await bash(command, env)
    assert (code, err) == (0, "")
    assert json.loads(out) == {"accepted": 1}
    [point] = await stored(server.database_url)
    assert (point.value, point.tags) == (42, {"queue": "emails"})
