"""The command line: secrets alone on stdout, messages on stderr, clear errors."""

import asyncio
import json
import os
import subprocess
import sys
from importlib.metadata import version
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlmodel import func, select

from statusgraph.auth import keys
from statusgraph.cli import main
from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.db.models import ApiKey, AuditEvent, Organization
from statusgraph.schema import schema
from tests.helpers import PEPPER


@pytest.fixture
def env(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("STATUSGRAPH_DATABASE_URL", database_url)
    monkeypatch.setenv("STATUSGRAPH_SECRET_KEY", PEPPER)
    monkeypatch.setenv("STATUSGRAPH_DATA_DIR", str(tmp_path / "data"))
    return database_url


def query(url: str, statement: Any) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as session:
                return list((await session.exec(statement)).all())
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

    async def tables() -> set[str]:
        engine = create_engine(url)
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        await engine.dispose()
        return set(names)

    assert {"organization", "api_key", "audit_event", "alembic_version"} <= asyncio.run(tables())


@pytest.mark.parametrize(
    "command",
    [
        ["orgs", "create", "--name", "Acme", "--slug", "acme"],
        ["keys", "create", "--org", "acme", "--name", "ci", "--scopes", "incidents:read"],
        ["keys", "list", "--org", "acme"],
        ["keys", "revoke", "key_x"],
        ["audit", "purge"],
    ],
    ids=" ".join,
)
def test_a_command_on_a_database_behind_its_migrations_says_so_with_exit_1(
    monkeypatch, tmp_path, capsys, command
):
    monkeypatch.setenv("STATUSGRAPH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    assert main(command) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "error: the database schema is behind this release; run `statusgraph migrate` first\n"
    )


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
        ("STATUSGRAPH_LOG_FORMAT", "yaml", "error: STATUSGRAPH_LOG_FORMAT: Input should be 'text' or 'json'"),
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


# `serve` in a Python where the named packages cannot be imported: a None in sys.modules
# makes `import name` raise ImportError, as if the package were not installed.
WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from statusgraph.cli import main
sys.exit(main(["serve", "--port", "1"]))
"""


@pytest.mark.parametrize(
    ("hidden", "named"),
    [
        ("uvloop", "uvloop"),
        ("httptools", "httptools"),
        ("uvloop,httptools", "uvloop and httptools"),
    ],
)
def test_serve_without_uvloop_or_httptools_names_them_and_exits_2_having_done_nothing(
    tmp_path, hidden, named
):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    env["STATUSGRAPH_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT, hidden],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        f"error: statusgraph serve needs {named} (part of uvicorn[standard]): "
        "pip install 'uvicorn[standard]'"
    ]
    # Refused before the database is created or a key is printed.
    assert not (tmp_path / "data" / "statusgraph.db").exists()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`statusgraph argv…` in-process: (exit status, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def acme_with_two_keys(capsys: pytest.CaptureFixture[str]) -> str:
    """Acme and two keys, a live one and a sandbox one; returns the organization's id."""
    code, out, _ = run(capsys, "orgs", "create", "--name", "Acme", "--slug", "acme")
    assert code == 0
    for extra in ([], ["--sandbox"]):
        name = "sandbox" if extra else "deploys"
        assert (
            run(
                capsys,
                "keys",
                "create",
                "--org",
                "acme",
                "--name",
                name,
                "--scopes",
                "incidents:write,monitors:read",
                *extra,
            )[0]
            == 0
        )
    return out.strip()


def keys_newest_first(url: str) -> list[ApiKey]:
    return sorted(
        query(url, select(ApiKey)), key=lambda key: (key.created_at, key.id), reverse=True
    )


def revocations(url: str) -> list[AuditEvent]:
    return query(url, select(AuditEvent).where(AuditEvent.action == "api_key.revoked"))


def test_version_prints_the_installed_distributions_version():
    done = subprocess.run(
        [sys.executable, "-m", "statusgraph", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"statusgraph {version('statusgraph')}\n",
        "",
    )


LOADED = """
import sys
from statusgraph.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    print(exit.code, file=sys.stderr)
heavy = {"sqlalchemy", "sqlmodel", "strawberry", "starlette", "pydantic", "pydantic_settings", "uvicorn", "graphql", "alembic", "limits"}
print(sorted({name.split(".")[0] for name in sys.modules} & heavy))
"""


@pytest.mark.parametrize(
    ("argv", "exit_code"),
    [
        (["--help"], "0"),
        (["keys", "--help"], "0"),
        (["--version"], "0"),
        (["keys", "revoke"], "2"),
        (["nonsense"], "2"),
    ],
)
def test_help_version_and_usage_errors_load_no_database_pydantic_or_web_library(argv, exit_code):
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "[]"
    assert done.stderr.splitlines()[-1] == exit_code


def test_keys_list_prints_an_aligned_table_newest_first_without_secrets(env, capsys):
    organization_id = acme_with_two_keys(capsys)
    sandbox, live = keys_newest_first(env)
    assert run(capsys, "keys", "revoke", live.id)[0] == 0
    code, out, err = run(capsys, "keys", "list", "--org", "acme")
    created = [key.created_at.strftime("%Y-%m-%d %H:%MZ") for key in (sandbox, live)]
    id_width = len(sandbox.id)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{'ID':<{id_width}}  NAME     PREFIX        SCOPES                         STATUS   CREATED            LAST USED  EXPIRES",
        f"{sandbox.id}  sandbox  {sandbox.display_prefix}  incidents:write,monitors:read  active   {created[0]}  never      never",
        f"{live.id}  deploys  {live.display_prefix}  incidents:write,monitors:read  revoked  {created[1]}  never      never",
    ]
    assert sandbox.display_prefix.startswith("sg_test_")
    assert live.display_prefix.startswith("sg_live_")
    assert run(capsys, "keys", "list", "--org", organization_id) == (code, out, err)
    for key in (sandbox, live):
        assert key.secret_hash not in out


def test_keys_list_json_describes_every_key_but_never_its_secret_hash(env, capsys):
    acme_with_two_keys(capsys)
    sandbox, live = keys_newest_first(env)
    code, out, err = run(capsys, "keys", "list", "--org", "acme", "--json")
    assert (code, err) == (0, "")
    described = json.loads(out)
    assert [entry["id"] for entry in described] == [sandbox.id, live.id]
    assert described[1] == {
        "id": live.id,
        "name": "deploys",
        "prefix": live.display_prefix,
        "scopes": ["incidents:write", "monitors:read"],
        "sandbox": False,
        "legacy": False,
        "ipAllowlist": [],
        "status": "active",
        "createdAt": live.created_at.isoformat(),
        "createdBy": "command line",
        "lastUsedAt": None,
        "lastUsedIp": None,
        "expiresAt": None,
        "revokedAt": None,
        "replacedById": None,
    }
    assert described[0]["sandbox"] is True
    assert live.secret_hash not in out
    assert sandbox.secret_hash not in out


def test_keys_list_of_an_organization_without_keys_says_so_on_stderr(env, capsys):
    run(capsys, "orgs", "create", "--name", "Acme", "--slug", "acme")
    assert run(capsys, "keys", "list", "--org", "acme") == (0, "", "no API keys\n")
    assert run(capsys, "keys", "list", "--org", "acme", "--json") == (0, "[]\n", "")


@pytest.mark.parametrize("reference", ["ghost", "org_0000000000000000000000"])
def test_keys_list_names_an_unknown_organization(env, capsys, reference):
    assert run(capsys, "keys", "list", "--org", reference) == (
        2,
        "",
        f"error: no organization with id or slug {reference!r}\n",
    )


def test_keys_revoke_revokes_the_key_and_audits_it_as_the_command_line(env, capsys):
    organization_id = acme_with_two_keys(capsys)
    sandbox, live = keys_newest_first(env)
    assert run(capsys, "keys", "revoke", live.id) == (
        0,
        "",
        f"revoked key {live.id} ('deploys'); a server that checked it recently refuses it "
        "within 30 s (STATUSGRAPH_CREDENTIAL_CACHE_SECONDS)\n",
    )
    by_id = {key.id: key for key in query(env, select(ApiKey))}
    assert by_id[live.id].revoked_at is not None
    assert by_id[sandbox.id].revoked_at is None
    [entry] = revocations(env)
    assert (
        entry.organization_id,
        entry.actor_type,
        entry.actor_id,
        entry.actor_label,
        entry.target_type,
        entry.target_id,
        entry.scopes_used,
        entry.details,
    ) == (organization_id, "cli", None, "command line", "api_key", live.id, [], {"name": "deploys"})


def test_keys_revoke_refuses_a_revoked_key_and_changes_nothing(env, capsys):
    acme_with_two_keys(capsys)
    _, live = keys_newest_first(env)
    run(capsys, "keys", "revoke", live.id)
    [first] = [key for key in query(env, select(ApiKey)) if key.id == live.id]
    assert run(capsys, "keys", "revoke", live.id) == (
        2,
        "",
        "error: id: API key is already revoked\n",
    )
    [again] = [key for key in query(env, select(ApiKey)) if key.id == live.id]
    assert again.revoked_at == first.revoked_at
    assert len(revocations(env)) == 1


def test_keys_revoke_names_an_unknown_key_and_changes_nothing(env, capsys):
    acme_with_two_keys(capsys)
    assert run(capsys, "keys", "revoke", "key_nope") == (
        2,
        "",
        "error: no API key with id 'key_nope'\n",
    )
    assert [key.revoked_at for key in query(env, select(ApiKey))] == [None, None]
    assert revocations(env) == []


def test_keys_revoke_needs_a_key_id(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["keys", "revoke"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "statusgraph keys revoke: error: the following arguments are required: KEY_ID"
    )
