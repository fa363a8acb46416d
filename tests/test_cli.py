"""The command line: secrets alone on stdout, messages on stderr, clear errors."""

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import inspect
from sqlmodel import func, select

from statusgraph.auth import keys
from statusgraph.cli import main
from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.db.models import ApiKey, Organization
from statusgraph.schema import schema
from tests.helpers import PEPPER


@pytest.fixture
def env(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("STATUSGRAPH_DATABASE_URL", database_url)
    monkeypatch.setenv("STATUSGRAPH_SECRET_KEY", PEPPER)
    monkeypatch.setenv("STATUSGRAPH_DATA_DIR", str(tmp_path / "data"))
    return database_url


def query(url, statement):
    async def run():
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as session:
                return (await session.exec(statement)).all()
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_orgs_create_prints_the_id(env, capsys):
    assert main(["orgs", "create", "--name", "Acme", "--slug", "acme", "--plan", "team"]) == 0
    out, err = capsys.readouterr()
    assert out.strip().startswith("org_")
    assert "created organization 'acme' (team)" in err
    assert [(o.slug, o.plan) for o in query(env, select(Organization))] == [("acme", "team")]


def test_orgs_create_refuses_a_taken_slug(env, capsys):
    main(["orgs", "create", "--name", "Acme", "--slug", "acme"])
    capsys.readouterr()
    assert main(["orgs", "create", "--name", "Other", "--slug", "acme"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == "error: slug: This slug is already taken"
    assert len(query(env, select(Organization))) == 1


def test_orgs_create_refuses_a_bad_slug(env, capsys):
    assert main(["orgs", "create", "--name", "Acme", "--slug", "Acme Inc"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: slug: Slug must contain only lowercase letters, numbers, and hyphens"
    )


def test_keys_create_prints_only_the_secret(env, capsys):
    main(["orgs", "create", "--name", "Acme", "--slug", "acme"])
    capsys.readouterr()
    code = main(
        [
            "keys",
            "create",
            "--org",
            "acme",
            "--name",
            "ci",
            "--scopes",
            "incidents:write, monitors:read",
            "--expires-at",
            "2099-01-01T00:00:00+00:00",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    secret = out.strip()
    assert out == secret + "\n"
    assert keys.parse(secret) is not None
    assert "shown only once" in err
    assert secret not in err
    [row] = query(env, select(ApiKey))
    assert row.secret_hash == keys.hash_secret(PEPPER.encode(), secret)
    assert row.scopes == ["incidents:write", "monitors:read"]
    assert row.created_by_type == "cli"
    assert row.expires_at.year == 2099


def test_keys_create_names_an_unknown_scope_and_writes_nothing(env, capsys):
    main(["orgs", "create", "--name", "Acme", "--slug", "acme"])
    capsys.readouterr()
    assert (
        main(
            [
                "keys",
                "create",
                "--org",
                "acme",
                "--name",
                "ci",
                "--scopes",
                "incidents:write,nope:read",
            ]
        )
        == 2
    )
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == "error: scopes: Unknown scope: nope:read"
    assert query(env, select(func.count()).select_from(ApiKey)) == [0]


def test_keys_create_needs_a_known_organization(env, capsys):
    assert (
        main(["keys", "create", "--org", "ghost", "--name", "ci", "--scopes", "incidents:read"])
        == 2
    )
    assert capsys.readouterr().err.strip() == "error: no organization with slug 'ghost'"


def test_keys_create_needs_scopes_or_legacy(env, capsys):
    assert main(["keys", "create", "--org", "acme", "--name", "ci"]) == 2
    assert "--scopes is required" in capsys.readouterr().err


def test_export_schema_prints_the_sdl(capsys):
    assert main(["export-schema"]) == 0
    assert capsys.readouterr().out == str(schema) + "\n"


def test_migrate_creates_the_tables_on_an_empty_database(monkeypatch, tmp_path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
    monkeypatch.setenv("STATUSGRAPH_DATABASE_URL", url)
    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0  # a second run has nothing to do

    async def tables():
        engine = create_engine(url)
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        await engine.dispose()
        return set(names)

    assert {"organization", "api_key", "audit_event", "alembic_version"} <= asyncio.run(tables())


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("STATUSGRAPH_PORT", "abc", "error: STATUSGRAPH_PORT: Input should be a valid integer, unable to parse string as an integer"),
        ("STATUSGRAPH_PORT", "0", "error: STATUSGRAPH_PORT: Input should be greater than or equal to 1"),
        ("STATUSGRAPH_GRAPHIQL", "maybe", "error: STATUSGRAPH_GRAPHIQL: Input should be a valid boolean, unable to interpret input"),
        ("STATUSGRAPH_RATE_LIMIT_STANDARD", "10 per fortnight", "error: STATUSGRAPH_RATE_LIMIT_STANDARD: Value error, no granularity matched for fortnight"),
        ("STATUSGRAPH_RATE_LIMIT_PLANS", "{team: 1}", "error: STATUSGRAPH_RATE_LIMIT_PLANS: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        ("STATUSGRAPH_RATE_LIMIT_PLANS", '{"team": {"read": "x"}}', "error: STATUSGRAPH_RATE_LIMIT_PLANS: team.read: Value error, couldn't parse rate limit string 'x'; team.write: Field required"),
        ("STATUSGRAPH_CORS_ORIGINS", "https://app.example.com/", "error: STATUSGRAPH_CORS_ORIGINS: Value error, 'https://app.example.com/' is not an origin like https://example.com or *"),
    ],
)  # fmt: skip
def test_a_bad_environment_variable_is_one_line_naming_it(
    monkeypatch, capsys, variable, value, line
):
    monkeypatch.setenv(variable, value)
    assert main(["migrate"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", line + "\n")


def test_each_bad_variable_gets_its_line_and_no_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    env |= {"STATUSGRAPH_PORT": "abc", "STATUSGRAPH_ACCESS_LOG": "sometimes"}
    done = subprocess.run(
        [sys.executable, "-m", "statusgraph", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: STATUSGRAPH_PORT: Input should be a valid integer, unable to parse string as an integer",
        "error: STATUSGRAPH_ACCESS_LOG: Input should be a valid boolean, unable to interpret input",
    ]
