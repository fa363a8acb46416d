"""Credentials in URLs are refused (DESIGN §5), and our access log never prints a query
string's values: the secret of a refused request appears nowhere."""

import asyncio
import logging
import os
import re

import httpx
import pytest
from sqlmodel import SQLModel, func, select

from statusgraph.app import create_app
from statusgraph.auth.url_credentials import EXEMPT_PATHS
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import HeartbeatPing, Service
from statusgraph.http.access_log import AccessLogMiddleware, query_names
from tests.servers import Server
from tests.test_heartbeats import heartbeat

MESSAGE = "Credentials must be sent in a header, not in the URL"
CREATE_SERVICE = 'mutation { createService(input: {name: "api"}) { service { id } } }'
LINE = re.compile(
    r"^(?P<method>[A-Z]+) (?P<target>\S+) (?P<status>\d{3}) (?P<ms>\d+\.\d\d)ms "
    r"request_id=(?P<request_id>\S+)$"
)


async def count(db: SessionFactory, model: type[SQLModel]) -> int:
    async with db() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "statusgraph.access"]


@pytest.mark.parametrize(
    "query",
    ["api_key={s}", "key={s}", "access_token={s}", "token={s}", "API_KEY={s}", "Token={s}",
     "api%5Fkey={s}", "x=1&Access_Token={s}", "key"],
)  # fmt: skip
async def test_a_credential_in_a_graphql_url_is_refused_before_anything_runs(
    client, people, db, query
):
    secret = people.alice.secret
    response = await client.post(
        f"/graphql?{query.format(s=secret)}",
        json={"query": CREATE_SERVICE},
        headers={"X-API-Key": secret},  # a valid header changes nothing
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": MESSAGE, "extensions": {"code": "BAD_REQUEST"}}]
    }
    assert secret not in response.text
    assert len(response.headers["x-request-id"]) == 32
    assert "x-ratelimit-limit" not in response.headers  # nothing was charged
    assert await count(db, Service) == 0


async def test_a_credential_in_a_rest_url_is_refused_in_rest_shape(client, people, db):
    monitor = await heartbeat(client, people.alice.secret)
    response = await client.post(
        f"/api/heartbeat/{monitor}?api_key={people.alice.secret}",
        headers={"X-API-Key": people.alice.secret},
    )
    assert response.status_code == 400
    assert response.json() == {"error": MESSAGE}
    assert await count(db, HeartbeatPing) == 0
    healthz = await client.get("/healthz?token=abc")
    assert (healthz.status_code, healthz.json()) == (400, {"error": MESSAGE})


async def test_refusals_are_not_charged_to_any_rate_limit(settings, clock, people):
    app = create_app(
        settings.model_copy(
            update={"rate_limit_failed_auth": "1/minute", "rate_limit_anonymous": "1/minute"}
        ),
        clock=clock,
    )
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for _ in range(5):
            refused = await http.get("/graphql?key=sg_live_nope&query={__typename}")
            assert refused.status_code == 400
        for _ in range(3):
            bad = await http.get("/graphql?query={__typename}&token=x", headers={"X-API-Key": "x"})
            assert bad.status_code == 400
        # The address's anonymous and failed-auth buckets are both still whole.
        assert (await http.get("/graphql?query={__typename}")).status_code == 200
        assert (await http.get("/healthz", headers={"X-API-Key": "bad"})).status_code == 401
    await app.state.close()


@pytest.mark.parametrize("query", ["monkey=1", "keyword=x", "tokens=2", "query={__typename}"])
async def test_query_parameters_that_are_not_credentials_pass(client, query):
    response = await client.get(f"/graphql?{query}&query={{__typename}}")
    assert response.status_code == 200


def test_only_the_subscribers_and_invitation_links_take_a_token_in_their_url():
    assert {"/subscription/confirm", "/subscription/unsubscribe", "/invitation"} == EXEMPT_PATHS


async def test_a_token_elsewhere_is_still_refused_and_the_links_token_is_not_logged(
    logged_client, caplog
):
    refused = await logged_client.get("/subscription/confirmx?token=abc")
    assert refused.status_code == 400
    answered = await logged_client.get("/subscription/confirm?token=secret-value")
    assert answered.status_code == 400  # not a valid token: the page says so
    assert "secret-value" not in caplog.text
    assert "GET /subscription/confirm?token 400" in caplog.text


@pytest.fixture
async def logged_client(settings, clock, caplog):
    """A client of an app built with the access log on and while statusgraph's loggers
    print at INFO: the access log middleware is installed only then (access_log.wanted)."""
    caplog.set_level(logging.INFO, logger="statusgraph")
    app = create_app(settings.model_copy(update={"access_log": True}), clock=clock)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await app.state.close()


async def test_the_access_log_names_parameters_and_never_prints_their_values(
    logged_client, people, caplog
):
    secret = people.alice.secret
    refused = await logged_client.get(f"/graphql?api_key={secret}&query={{__typename}}")
    answered = await logged_client.get(
        "/graphql?query={__typename}&variables={}", headers={"X-Request-ID": "trace-7"}
    )
    assert secret not in caplog.text
    assert "__typename" not in caplog.text
    refused_line, answered_line = (LINE.match(line) for line in access_lines(caplog))
    assert refused_line
    assert answered_line
    assert refused_line["method"] == "GET"
    assert refused_line["target"] == "/graphql?api_key&query"
    assert refused_line["status"] == "400"
    assert refused_line["request_id"] == refused.headers["x-request-id"]
    assert answered_line["target"] == "/graphql?query&variables"
    assert (answered_line["status"], answered_line["request_id"]) == ("200", "trace-7")
    assert answered.status_code == 200


def test_only_names_that_cannot_be_values_are_printed():
    assert query_names(b"a=1&b=&&c") == "?a&b&-"  # c alone may be a value
    assert query_names(b"sg_live_" + b"x" * 38) == "?-"
    assert query_names(b"%0Aforged=1&ok=2") == "?%0Aforged&ok"  # still percent-encoded
    assert query_names(b"bad name=1&" + b"n" * 41 + b"=2") == "?-&-"


@pytest.mark.parametrize(
    ("access_log", "level", "installed"),
    [(True, logging.INFO, True), (False, logging.INFO, False), (True, logging.WARNING, False)],
)
async def test_the_access_log_is_there_only_when_on_and_printed(
    settings, clock, caplog, access_log, level, installed
):
    caplog.set_level(level, logger="statusgraph")
    app = create_app(settings.model_copy(update={"access_log": access_log}), clock=clock)
    assert isinstance(app.build_middleware_stack(), AccessLogMiddleware) is installed
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        assert (await http.get("/healthz")).status_code == 200
    assert len(access_lines(caplog)) == installed
    await app.state.close()


async def test_the_real_server_logs_our_line_and_not_uvicorns_when_asked(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    env["STATUSGRAPH_DATA_DIR"] = str(tmp_path / "data")
    env["STATUSGRAPH_ACCESS_LOG"] = "true"
    secret = "sg_live_" + "S3cr3t" * 6 + "xy"
    async with Server(env) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            refused = await http.get(f"/graphql?api_key={secret}")
            found = await http.get("/healthz?probe=VALUE42")
        assert (refused.status_code, found.status_code) == (400, 200)
        request_id = refused.headers["x-request-id"]
        for _ in range(100):  # the lines reach the pipe a little after the answers
            if any("/healthz?probe 200" in line for line in server.output):
                break
            await asyncio.sleep(0.05)
    output = "".join(server.output)
    assert "GET /graphql?api_key 400 " in output
    assert f"request_id={request_id}" in output
    assert "GET /healthz?probe 200 " in output
    assert secret not in output
    assert "VALUE42" not in output
    assert "HTTP/1.1" not in output  # uvicorn's access line: `"GET /path HTTP/1.1" 200`


async def test_the_real_server_as_shipped_writes_no_access_line(tmp_path):
    """Off by default (a heartbeat ping takes about half again as much CPU with it): neither our
    line nor uvicorn's, at the default log level (info) that prints the startup lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    env["STATUSGRAPH_DATA_DIR"] = str(tmp_path / "data")
    async with Server(env) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            answered = await http.post("/graphql", json={"query": "{ __typename }"})
            found = await http.get("/healthz?probe=1")
        assert (answered.status_code, found.status_code) == (200, 200)
    # Read to its end: the server has exited and its output pipe is closed.
    output = "".join(server.output)
    assert "statusgraph listening on" in output
    assert not re.search(r"\b(GET|POST) /", output)
    assert answered.headers["x-request-id"] not in output
    assert "HTTP/1.1" not in output
