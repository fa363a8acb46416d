"""`statusgraph users create | list`: the password from a prompt or stdin, never an
argument; the user's id alone on stdout; exact errors with nothing written."""

import asyncio
import getpass
import io
import json
from typing import Any

import pytest
from sqlmodel import select

from statusgraph.auth import passwords
from statusgraph.cli import main
from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.db.models import AuditEvent, Membership, User
from tests.helpers import PEPPER

PASSWORD = "correct horse battery"


@pytest.fixture
def env(monkeypatch, database_url, tmp_path, capsys):
    monkeypatch.setenv("STATUSGRAPH_DATABASE_URL", database_url)
    monkeypatch.setenv("STATUSGRAPH_SECRET_KEY", PEPPER)
    monkeypatch.setenv("STATUSGRAPH_DATA_DIR", str(tmp_path / "data"))
    assert main(["orgs", "create", "--name", "Acme", "--slug", "acme"]) == 0
    capsys.readouterr()
    return database_url


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def query(url: str, statement: Any) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as session:
                return list((await session.exec(statement)).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def create(
    monkeypatch: pytest.MonkeyPatch, stdin: str, *extra: str, email: str = "Ada@Example.com"
) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    arguments = ["users", "create", "--email", email, "--name", "Ada Lovelace"]
    return main([*arguments, "--org", "acme", "--role", "owner", "--password-stdin", *extra])


def test_users_create_reads_the_password_from_stdin(env, monkeypatch, capsys):
    assert create(monkeypatch, PASSWORD + "\n") == 0
    out, err = capsys.readouterr()
    [user] = query(env, select(User))
    assert out.strip() == user.id
    assert err.strip() == "created user ada@example.com (owner of acme)"
    assert user.email == "ada@example.com"
    assert passwords.verify_password(user.password_hash, PASSWORD)
    [membership] = query(env, select(Membership))
    assert (membership.user_id, membership.role) == (user.id, "owner")
    [event] = query(env, select(AuditEvent).where(AuditEvent.action == "member.added"))
    assert (event.actor_type, event.actor_label) == ("cli", "command line")
    assert PASSWORD not in out + err + json.dumps(event.details)


def test_users_create_asks_twice_at_a_prompt(env, monkeypatch, capsys):
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr(getpass, "getpass", lambda prompt: next(answers))
    monkeypatch.setattr("sys.stdin", Terminal())
    arguments = ["--email", "ada@example.com", "--name", "Ada", "--org", "acme", "--role", "viewer"]
    assert main(["users", "create", *arguments]) == 0
    assert [m.role for m in query(env, select(Membership))] == ["viewer"]


def test_users_create_refuses_two_different_passwords(env, monkeypatch, capsys):
    answers = iter([PASSWORD, PASSWORD + "!"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt: next(answers))
    monkeypatch.setattr("sys.stdin", Terminal())
    arguments = ["--email", "ada@example.com", "--name", "Ada", "--org", "acme", "--role", "owner"]
    assert main(["users", "create", *arguments]) == 2
    assert capsys.readouterr().err.strip() == "error: the two passwords differ"
    assert query(env, select(User)) == []


def test_users_create_without_a_terminal_needs_password_stdin(env, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD))
    arguments = ["--email", "ada@example.com", "--name", "Ada", "--org", "acme", "--role", "owner"]
    assert main(["users", "create", *arguments]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: no terminal to ask for the password: use --password-stdin"
    )
    assert query(env, select(User)) == []


@pytest.mark.parametrize(
    ("stdin", "extra", "email", "expected"),
    [
        ("", (), "ada@example.com", "error: --password-stdin read no password"),
        (
            "short\n",
            (),
            "ada@example.com",
            "error: password: Password must be at least 10 characters",
        ),
        (PASSWORD, (), "not-an-email", "error: email: Email must be a valid email address"),
        (
            PASSWORD,
            ("--org", "ghost"),
            "ada@example.com",
            "error: no organization with id or slug 'ghost'",
        ),
    ],
)
def test_users_create_refusals_write_nothing(
    env, monkeypatch, capsys, stdin, extra, email, expected
):
    assert create(monkeypatch, stdin, *extra, email=email) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == expected
    assert query(env, select(User)) == []
    assert query(env, select(AuditEvent).where(AuditEvent.action == "member.added")) == []


def test_users_create_refuses_an_address_with_an_account(env, monkeypatch, capsys):
    assert create(monkeypatch, PASSWORD) == 0
    capsys.readouterr()
    assert create(monkeypatch, PASSWORD, email="ADA@example.com") == 2
    assert capsys.readouterr().err.strip() == (
        "error: email: A user with this email address already exists"
    )
    assert len(query(env, select(User))) == 1


def test_users_create_refuses_an_unknown_role(env, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD))
    arguments = ["--email", "a@example.com", "--name", "A", "--org", "acme", "--role", "god"]
    with pytest.raises(SystemExit) as exited:
        main(["users", "create", *arguments, "--password-stdin"])
    assert exited.value.code == 2
    assert "invalid choice: 'god'" in capsys.readouterr().err


def test_users_list(env, monkeypatch, capsys):
    assert main(["users", "list", "--org", "acme"]) == 0
    assert capsys.readouterr().err.strip() == "no members"
    assert create(monkeypatch, PASSWORD) == 0
    capsys.readouterr()
    assert main(["users", "list", "--org", "acme", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["email"], listed["name"], listed["role"]) == (
        "ada@example.com",
        "Ada Lovelace",
        "owner",
    )
    assert listed["lastLoginAt"] is None
    assert main(["users", "list", "--org", "acme"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MEMBER", "USER", "EMAIL", "NAME", "ROLE", "SINCE", "LAST", "LOGIN"]
    assert "ada@example.com  Ada Lovelace  owner" in lines[1]
    assert main(["users", "list", "--org", "ghost"]) == 2
    assert capsys.readouterr().err.strip() == "error: no organization with id or slug 'ghost'"
