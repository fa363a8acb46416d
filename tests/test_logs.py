"""Logs: text or JSON lines (STATUSGRAPH_LOG_FORMAT), and every line logged while a
request is answered carries its request id, in the real server too."""

import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any

import httpx
import pytest

from statusgraph import logs
from statusgraph.errors import NotFoundError
from statusgraph.ingest.batcher import PingBatcher
from statusgraph.resolvers import heartbeats
from tests.servers import STARTUP_SECONDS, free_port

# Nothing listens on port 1: the rate limiter fails open and warns, inside the request.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
STORAGE_WARNING = "rate-limit storage unavailable, letting requests through unlimited"


def record(message: str, *, exc_info: Any = None, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord(
        "statusgraph.test", logging.WARNING, __file__, 1, message, (), exc_info
    )
    made.__dict__.update(extra)
    made.created = 1_800_000_000.25  # 2027-01-15T08:00:00.250Z
    return made


def test_a_json_line_has_timestamp_level_logger_and_message():
    assert json.loads(logs.JSONFormatter().format(record("disk\nfull"))) == {
        "timestamp": "2027-01-15T08:00:00.250+00:00",
        "level": "WARNING",
        "logger": "statusgraph.test",
        "message": "disk\nfull",
    }


def test_a_log_call_whose_arguments_do_not_fit_its_message_is_still_one_json_line():
    bad = logging.LogRecord(
        "statusgraph.test", logging.WARNING, __file__, 1, "%d pings from %s", ("many",), None
    )
    line = logs.JSONFormatter().format(bad)
    assert "\n" not in line
    assert json.loads(line)["message"] == (
        "%d pings from %s (log arguments did not fit the message: "
        "%d format: a real number is required, not str)"
    )


def test_a_json_line_carries_the_request_id_of_its_context_and_the_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        failure = sys.exc_info()
    token = logs.current_request_id.set("req-1")
    try:
        line = logs.JSONFormatter().format(record("failed", exc_info=failure))
    finally:
        logs.current_request_id.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "req-1"
    assert entry["exc_info"].startswith("Traceback (most recent call last):")
    assert entry["exc_info"].endswith("ValueError: boom")


def test_a_records_own_request_id_wins_over_the_context():
    token = logs.current_request_id.set("outer")
    try:
        entry = json.loads(logs.JSONFormatter().format(record("x", request_id="own")))
    finally:
        logs.current_request_id.reset(token)
    assert entry["request_id"] == "own"


def test_a_text_line_ends_with_the_request_id_when_there_is_one():
    formatter = logs.TextFormatter()
    assert formatter.format(record("idle")).endswith(" WARNING statusgraph.test: idle")
    token = logs.current_request_id.set("req-2")
    try:
        inside = formatter.format(record("slow"))
        # The access line prints its own id in its message: not twice.
        access = formatter.format(record("GET / 200 1.00ms request_id=own", request_id="own"))
    finally:
        logs.current_request_id.reset(token)
    assert inside.endswith(" WARNING statusgraph.test: slow request_id=req-2")
    assert access.endswith(": GET / 200 1.00ms request_id=own")


def test_configuring_again_replaces_only_what_configure_installed():
    root = logging.getLogger()
    theirs = logging.NullHandler()
    root.addHandler(theirs)
    try:
        logs.configure("json", "debug")
        logs.configure("text", "warning")
        ours = [each for each in root.handlers if isinstance(each, logs.StderrHandler)]
        assert len(ours) == 1
        assert isinstance(ours[0].formatter, logs.TextFormatter)
        assert theirs in root.handlers
        assert root.level == logging.WARNING
    finally:
        root.removeHandler(theirs)


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="log format must be one of text, json, not 'yaml'"):
        logs.configure("yaml", "info")


async def test_the_request_id_is_set_for_the_request_and_gone_after_it(app_with, capsys):
    # model_copy does not validate: the storage in the form the validator would give.
    _, http = await app_with(rate_limit_storage="async+" + UNREACHABLE_REDIS)
    logs.configure("json", "info")
    capsys.readouterr()
    response = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": "trace-9"}
    )
    assert response.status_code == 200
    # The transport runs the app in this task: the guard put the context back as it was.
    assert logs.current_request_id.get() is None
    [warning] = [
        entry
        for entry in map(json.loads, capsys.readouterr().err.splitlines())
        if entry["logger"] == "statusgraph.ratelimit"
    ]
    assert warning["message"].startswith(STORAGE_WARNING)
    assert warning["request_id"] == "trace-9"


async def test_the_ping_batcher_does_not_carry_the_id_of_the_request_that_started_it(
    app, clock, monkeypatch
):
    """The batcher's task commits groups of many requests' pings. Started from inside the
    first one's context, it would tag whatever is logged while it runs with that
    request's id, for every group until the queue empties."""
    batcher: PingBatcher = app.state.ping_batcher
    seen: list[str | None] = []
    commit = batcher.writer.commit

    async def noting_the_request_id(group: Any, apply: Any) -> Any:
        seen.append(logs.current_request_id.get())
        return await commit(group, apply)

    monkeypatch.setattr(batcher.writer, "commit", noting_the_request_id)
    as_the_guard_does = logs.current_request_id.set("trace-first")
    try:
        answer = batcher.submit(
            organization_id="org_none",
            monitor_id="mon_none",
            kind=heartbeats.PingKind.SUCCESS,
            message=None,
            duration_ms=None,
            ip=None,
            now=clock(),
        )
    finally:
        logs.current_request_id.reset(as_the_guard_does)
    with pytest.raises(NotFoundError, match="Monitor not found"):
        await answer
    assert seen == [None]


async def read_lines(stream: asyncio.StreamReader | None, into: list[str]) -> None:
    assert stream is not None
    async for line in stream:
        into.append(line.decode())


@pytest.mark.parametrize("workers", [1, 2])
async def test_the_real_server_logs_json_lines_with_the_request_id(tmp_path, workers):
    """`serve` and, with --workers, the app factory in each worker process: every stderr
    line is JSON, uvicorn's included, and the lines of a request carry its id."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    env |= {
        "STATUSGRAPH_DATA_DIR": str(tmp_path / "data"),
        "STATUSGRAPH_LOG_FORMAT": "json",
        "STATUSGRAPH_ACCESS_LOG": "true",
        "STATUSGRAPH_RATE_LIMIT_STORAGE": UNREACHABLE_REDIS,
    }
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "statusgraph",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        env=env,
        stdout=asyncio.subprocess.PIPE,  # the first run's key banner: not a log line
        stderr=asyncio.subprocess.PIPE,
    )
    out: list[str] = []
    err: list[str] = []
    readers = [
        asyncio.create_task(read_lines(process.stdout, out)),
        asyncio.create_task(read_lines(process.stderr, err)),
    ]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(STARTUP_SECONDS * 20):
                try:
                    response = await http.post("/graphql", json={"query": "{ __typename }"})
                    break
                except httpx.TransportError:
                    assert process.returncode is None, "".join(err)
                    await asyncio.sleep(0.05)
        assert response.status_code == 200
        request_id = response.headers["X-Request-ID"]
        for _ in range(100):  # the lines reach the pipe a little after the answer
            if any('"statusgraph.access"' in line for line in err):
                break
            await asyncio.sleep(0.05)
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 30)
        await asyncio.gather(*readers)
    entries = [json.loads(line) for line in err]
    assert all({"timestamp", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert any(entry["logger"] == "uvicorn.error" for entry in entries)
    of_the_request = [entry for entry in entries if entry.get("request_id") == request_id]
    assert [(entry["logger"], entry["level"]) for entry in of_the_request] == [
        ("statusgraph.ratelimit", "WARNING"),
        ("statusgraph.access", "INFO"),
    ]
    assert of_the_request[0]["message"].startswith(STORAGE_WARNING)
    assert of_the_request[1]["message"].startswith("POST /graphql 200 ")
    assert all("request_id" not in entry for entry in entries if entry not in of_the_request)
