"""Fixtures: a migrated database per test on SQLite (and PostgreSQL when configured),
the app over an in-process ASGI transport, and three personas.

Tests commit for real instead of rolling back an outer transaction: concurrency
tests and the uvicorn end-to-end test need several connections to see each other's
writes. Isolation comes from a fresh copy of a migrated SQLite file per test, and
from TRUNCATE between tests on PostgreSQL, both cheap.
"""

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel
from starlette.applications import Starlette

from statusgraph.app import create_app
from statusgraph.clock import FrozenClock
from statusgraph.config import Settings
from statusgraph.db import migrate
from statusgraph.db.engine import SessionFactory, create_engine
from statusgraph.logs import StderrHandler
from tests.helpers import PEPPER, START, Persona, Personas, create_key, create_org

TEST_DATABASE_URL = os.environ.get("STATUSGRAPH_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("STATUSGRAPH_TEST_REDIS_URL")


# Fixtures shared by several test modules, kept in modules of their own.
pytest_plugins = ["tests.receivers", "tests.smtp_sink", "tests.browser"]


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI") != "true":
        return
    if not TEST_DATABASE_URL:
        pytest.exit(
            "CI=true but STATUSGRAPH_TEST_DATABASE_URL is not set: PostgreSQL is required", 3
        )
    if not TEST_REDIS_URL:
        pytest.exit("CI=true but STATUSGRAPH_TEST_REDIS_URL is not set: Redis is required", 3)


DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, url, variable in (
        ("postgresql", TEST_DATABASE_URL, "STATUSGRAPH_TEST_DATABASE_URL"),
        ("redis", TEST_REDIS_URL, "STATUSGRAPH_TEST_REDIS_URL"),
    ):
        if url:
            continue
        skip = pytest.mark.skip(reason=f"{variable} not set")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: runs against PostgreSQL")
    config.addinivalue_line("markers", "redis: runs against Redis")


@pytest.fixture(autouse=True)
def logging_left_as_found() -> Iterator[None]:
    """A test that runs the command line in-process (cli.main) configures logging for
    the whole process (logs.configure); the tests after it must not inherit INFO lines
    or a handler."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = [
        each for each in root.handlers if each in handlers or not isinstance(each, StderrHandler)
    ]
    root.setLevel(level)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of our own on the configured server, migrated once, dropped at the end."""
    assert TEST_DATABASE_URL
    admin_url = Settings(database_url=TEST_DATABASE_URL).database_url
    name = f"statusgraph_test_{uuid.uuid4().hex[:10]}"

    async def admin(statement: str) -> None:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "statusgraph.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)

    async def truncate() -> None:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
        await engine.dispose()

    asyncio.run(truncate())
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Monitors in tests point at names such as example.com: with private networks
    # allowed, saving one looks nothing up (tests never reach the internet, DNS included).
    # tests/test_monitor_targets.py turns the guard on.
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=PEPPER,
        checks_allow_private_networks=True,
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[Starlette]:
    application = create_app(settings, clock=clock)
    yield application
    await application.state.close()


@pytest.fixture
async def app_with(
    settings: Settings, clock: FrozenClock
) -> AsyncIterator[Callable[..., Awaitable[tuple[Starlette, httpx.AsyncClient]]]]:
    """Builds apps with settings overridden (`await app_with(graphql_max_cost=10)`), each
    with its in-process client; closes them all after the test."""
    built: list[tuple[Starlette, httpx.AsyncClient]] = []

    async def build(**overrides: Any) -> tuple[Starlette, httpx.AsyncClient]:
        application = create_app(settings.model_copy(update=overrides), clock=clock)
        transport = httpx.ASGITransport(app=application, client=("203.0.113.7", 50000))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        built.append((application, http))
        return application, http

    yield build
    for application, http in built:
        await http.aclose()
        await application.state.close()


@pytest.fixture
def db(app: Starlette) -> SessionFactory:
    factory: SessionFactory = app.state.db
    return factory


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def people(db: SessionFactory, clock: FrozenClock) -> Personas:
    acme = await create_org(db, clock, slug="acme")
    globex = await create_org(db, clock, slug="globex")
    alice = await create_key(db, clock, acme, scopes=["*:*"], name="alice")
    bob = await create_key(db, clock, acme, scopes=["api_keys:read", "audit_log:read"], name="bob")
    charlie = await create_key(db, clock, globex, scopes=["*:*"], name="charlie")
    return Personas(
        alice=Persona(acme, alice.key.id, alice.secret),
        bob=Persona(acme, bob.key.id, bob.secret),
        charlie=Persona(globex, charlie.key.id, charlie.secret),
    )
