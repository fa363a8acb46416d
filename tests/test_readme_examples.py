"""The README's quick start and tour, and the shell examples of docs/monitors.md, run
with bash against a live server started by the README's own `make run`: what they print
and what the server stored. Placeholders (`sg_live_…`, the ids an earlier answer gave:
`svc_…`, `mon_…`, …), the example host, and the examples' own commands (`backup.sh`,
`deploy.sh`) are the only things substituted. `make test`, the quick start's other
command, is the suite running this file."""

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml  # type: ignore[import-untyped]
from sqlmodel import col, select

from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.db.models import HeartbeatPing, MetricPoint
from tests.servers import Server

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
MONITORS_PAGE = ROOT / "docs" / "monitors.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
DEFAULT_URL = "http://127.0.0.1:8000"
TOUR_HEADING = "## A 5-minute tour"
# An id an answer shows as `svc_…`: its type prefix, then anything.
ID_PLACEHOLDER = re.compile(r"^[a-z]+_…$")
CREATE = 'mutation { createMonitor(input: {name: "backup", type: HEARTBEAT, periodSeconds: 86400, graceSeconds: 3600}) { monitor { id } } }'
# A log tail with what broke the previous example: a backslash, a tab, both quotes, a
# newline, non-ASCII, and a UTF-8 character cut in half by `tail -c`.
LOG = 'copying /srv\\db\t"nightly" it\'s\nfailed: 磁盘已满\n'.encode() + "é".encode()[:1]


def block(language: str, containing: str, page: Path = README) -> str:
    [found] = [
        body
        for lang, body in FENCE.findall(page.read_text())
        if lang == language and containing in body
    ]
    return str(found)


def tour_blocks() -> list[tuple[str, str]]:
    """The fenced blocks of the README's tour section, in order."""
    text = README.read_text()
    start = text.index(TOUR_HEADING)
    end = text.index("\n## ", start + len(TOUR_HEADING))
    return [(lang, str(body)) for lang, body in FENCE.findall(text[start:end])]


def command_and_answers(step: str) -> tuple[str, list[Any]]:
    """A tour step is its commands, then one `# {json}` line per answer they print."""
    lines = step.rstrip("\n").split("\n")
    shown: list[str] = []
    while lines and lines[-1].startswith("# {"):
        shown.insert(0, lines.pop()[2:])
    return "\n".join(lines) + "\n", [json.loads(answer) for answer in shown]


def json_values(printed: str) -> list[Any]:
    """The JSON documents curl printed one after another (curl adds no newline)."""
    decoder = json.JSONDecoder()
    values, at = [], 0
    while at < len(printed.rstrip()):
        value, at = decoder.raw_decode(printed, at)
        values.append(value)
        while at < len(printed) and printed[at].isspace():
            at += 1
    return values


def assert_matches(shown: Any, actual: Any, ids: dict[str, str], where: str = "") -> None:
    """`actual` is what `shown` shows, a string ending in `…` standing for any string
    that starts with what precedes it. An id placeholder (`svc_…`) is remembered with
    the id it stood for, so that later steps can be run with it."""
    if isinstance(shown, dict):
        assert isinstance(actual, dict), where
        assert sorted(actual) == sorted(shown), where
        for name, value in shown.items():
            assert_matches(value, actual[name], ids, f"{where}.{name}")
    elif isinstance(shown, list):
        assert isinstance(actual, list), where
        assert len(actual) == len(shown), where
        for index, (value, got) in enumerate(zip(shown, actual, strict=True)):
            assert_matches(value, got, ids, f"{where}[{index}]")
    elif isinstance(shown, str) and shown.endswith("…"):
        assert isinstance(actual, str), where
        assert actual.startswith(shown[:-1]), (where, actual)
        if ID_PLACEHOLDER.match(shown):
            assert ids.setdefault(shown, actual) == actual, (where, actual, ids[shown])
    else:
        assert actual == shown, where


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


async def stored(database_url: str, monitor: str | None = None) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            if monitor is None:
                return list((await session.exec(select(MetricPoint))).all())
            query = select(HeartbeatPing).where(HeartbeatPing.monitor_id == monitor)
            return list((await session.exec(query.order_by(col(HeartbeatPing.created_at)))).all())
    finally:
        await engine.dispose()


# One server for the module, on SQLite, started as the quick start starts it: the
# examples exercise HTTP and the shell, which do not depend on the database
# (tests/test_end_to_end.py covers serve on PostgreSQL).
pytestmark = pytest.mark.asyncio(loop_scope="module")


class ReadmeServer(Server):
    database_url: str


def make_run() -> str:
    """The quick start's first command, `make run`; the second is `make test`."""
    commands = [line.split("#")[0].strip() for line in block("sh", "make run").splitlines()]
    assert commands == ["make run", "make test"]
    return commands[0]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("readme") / "data"
    # As on a newcomer's machine: no settings, and not inside another make.
    unset = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_") and k not in unset
    }
    env["STATUSGRAPH_DATA_DIR"] = str(data)
    running = ReadmeServer(env, command=make_run(), cwd=ROOT)
    running.database_url = f"sqlite+aiosqlite:///{data / 'statusgraph.db'}"
    async with running:
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


async def test_make_run_prints_one_key_and_the_curl_line_the_readme_shows(server):
    [key] = server.printed_keys()
    printed = "".join(server.output)
    tried = printed[printed.index("Try it:\n\n") + len("Try it:\n\n") :].split("\n\n")[0]
    command, _shown = block("sh", "viewer { name organization { name } }").rsplit("# ", 1)
    expected = command.replace(DEFAULT_URL, server.url).replace("sg_live_…", key)
    assert [line.strip() for line in tried.splitlines()] == [
        line.strip() for line in expected.splitlines()
    ]


async def test_the_tour_runs_in_order_and_every_answer_is_the_one_shown(server, tmp_path):
    [key] = server.printed_keys()
    blocks = tour_blocks()
    assert [lang for lang, _ in blocks] == ["sh"] * len(blocks)
    (_, setup), *steps = blocks
    assert "export SG_URL=" in setup
    setup = setup.replace(DEFAULT_URL, server.url).replace("sg_live_…", key)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    ids: dict[str, str] = {}
    for number, (_, step) in enumerate(steps, start=1):
        command, shown = command_and_answers(step)
        assert shown, f"step {number} shows no answer"
        for placeholder, real in ids.items():
            command = command.replace(placeholder, real)
        assert "…" not in command, f"step {number} needs an id no earlier step answered"
        code, out, err = await bash(setup + command, env)
        assert (code, err) == (0, ""), f"step {number}"
        answers = json_values(out)
        assert len(answers) == len(shown), f"step {number}"
        for answer, expected in zip(answers, shown, strict=True):
            assert_matches(expected, answer, ids, f"step {number}")
    assert sorted(ids) == ["inc_…", "mon_…", "page_…", "svc_…"]
    # The ping of step 4 is stored, as its 200 promised.
    [ping] = await stored(server.database_url, ids["mon_…"])
    assert (ping.kind, ping.message) == ("success", None)
    # Step 8: the page the tour built, in HTML, themed, with its incident in the history.
    async with httpx.AsyncClient() as http:
        page = await http.get(server.url + "/status/default")
    assert page.status_code == 200
    assert "theme-ocean" in page.text
    assert "Acme Status" in page.text
    assert "All systems operational" in page.text
    assert "Slow API" in page.text


async def test_the_backup_script_reports_a_failure_with_the_log_tail_verbatim(live, tmp_path):
    server, env = live
    log = tmp_path / "backup.log"
    log.write_bytes(b"x" * 5000 + LOG)  # longer than the tail the script sends
    script = (
        block("sh", "backup-and-report", MONITORS_PAGE)
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
    script = block("sh", "backup-and-report", MONITORS_PAGE).replace(
        "/usr/local/bin/backup.sh", "true"
    )
    code, out, err = await bash(script, env)
    assert (code, err) == (0, "")
    assert json.loads(out)["status"] == "up"
    [ping] = await stored(server.database_url, env["SG_MONITOR"])
    assert (ping.kind, ping.message) == ("success", None)


async def test_the_backup_script_shows_the_servers_error(live):
    _, env = live
    script = block("sh", "backup-and-report", MONITORS_PAGE).replace(
        "/usr/local/bin/backup.sh", "true"
    )
    code, out, err = await bash(script, {**env, "SG_MONITOR": "mon_unknown"})
    assert code == 22  # curl's exit status for an HTTP error
    assert json.loads(out) == {"error": "Monitor not found"}  # -f alone would hide it
    assert "404" in err


async def test_the_ci_step_marks_the_start_and_reports_the_duration(live):
    server, env = live
    [step] = yaml.safe_load(block("yaml", "a CI step", MONITORS_PAGE))
    code, _out, err = await bash(step["run"].replace("./deploy.sh", "sleep 1"), env)
    assert (code, err) == (0, "")
    pings = await stored(server.database_url, env["SG_MONITOR"])
    assert [p.kind for p in pings] == ["start", "success"]
    assert pings[1].duration_ms in (1000, 2000, 3000)  # whole seconds of $SECONDS


async def test_the_metrics_example_stores_its_point(live):
    server, env = live
    command = block("sh", "/api/metrics/ingest", MONITORS_PAGE).replace(DEFAULT_URL, server.url)
    code, out, err = await bash(command, env)
    assert (code, err) == (0, "")
    assert json.loads(out) == {"accepted": 1}
    [point] = await stored(server.database_url)
    assert (point.value, point.tags) == (42, {"queue": "emails"})
