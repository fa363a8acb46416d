"""`statusgraph serve | worker | migrate | orgs create | keys create | keys list | keys revoke |
users create | users list | audit purge | export-schema`.

Machine-readable output (a key's secret, the SDL, the list of keys) goes to stdout;
messages to stderr, so `KEY=$(statusgraph keys create ...)` captures only the key.
Exit status: 0 done, 1 the database is not ready for it, 2 a refused command or setting.

At import only argparse and the standard library load: `--help`, `--version` and a
mistyped command answer without pydantic, SQLAlchemy or the web stack (~1 s less). Each
command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlmodel.ext.asyncio.session import AsyncSession

    from statusgraph.config import Settings
    from statusgraph.db.models import ApiKey, Organization
    from statusgraph.resolvers.user_errors import UserInputError

Result = TypeVar("Result")

SCHEMA_BEHIND = "error: the database schema is behind this release; run `statusgraph migrate` first"


class SchemaBehind(Exception):
    """The database is behind this release's migrations: a command that reads or writes
    it answers SCHEMA_BEHIND with exit status 1 (main), not a traceback."""


def _say(message: str) -> None:
    print(message, file=sys.stderr)  # noqa: T201


def _emit(value: str) -> None:
    print(value)  # noqa: T201


def _in_transaction(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[Result]]
) -> Result:
    import asyncio

    from sqlalchemy.exc import DBAPIError

    from statusgraph.db.engine import create_engine, create_session_factory

    async def run() -> Result:
        engine = create_engine(settings.database_url)
        try:
            async with create_session_factory(engine).begin() as session:
                return await work(session)
        except DBAPIError:
            # Most likely a table this release expects is missing: asked only on failure,
            # so a command that works pays nothing for the check.
            if await _schema_behind(engine):
                raise SchemaBehind from None
            raise
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _schema_behind(engine: AsyncEngine) -> bool:
    import logging

    from statusgraph.db import migrate as migrations

    # Alembic announces its context at INFO ("Context impl SQLiteImpl."), which would
    # precede the one line the operator needs.
    announcer = logging.getLogger("alembic.runtime.migration")
    level = announcer.level
    announcer.setLevel(logging.WARNING)
    try:
        return await migrations.pending_revisions(engine)
    finally:
        announcer.setLevel(level)


def _user_errors(error: UserInputError) -> int:
    for problem in error.errors:
        _say(f"error: {problem.field + ': ' if problem.field else ''}{problem.message}")
    return 2


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from statusgraph.db import migrate as migrations

    migrations.upgrade(settings.database_url)
    _say("database is up to date")
    return 0


# Named to uvicorn rather than left to its "auto", which falls back to asyncio's loop and
# the pure-Python h11 parser without a word when one is missing: a slower server that
# looks like the usual one. Both come with uvicorn[standard], a dependency.
SERVE_PACKAGES = ("uvloop", "httptools")


def _missing(packages: Sequence[str]) -> list[str]:
    import importlib

    missing = []
    for name in packages:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from statusgraph.clock import utcnow
    from statusgraph.db import migrate as migrations
    from statusgraph.resolvers import organizations

    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if args.no_jobs:
        import os

        # uvicorn's app factory (create_app_from_environment) reads its Settings from the
        # environment, in every process of --workers N.
        os.environ[settings.model_config.get("env_prefix", "") + "RUN_JOBS"] = "false"
    if workers > 1 and settings.uses_memory_rate_limits:
        _say(
            f"error: --workers {workers} needs shared rate-limit storage "
            "(STATUSGRAPH_RATE_LIMIT_STORAGE=redis://...); in-memory counters are per process "
            f"and would multiply every limit by {workers}"
        )
        return 2
    if workers > 1 and not settings.events_url:
        # Not refused: live updates are best-effort, and everything else works. A log
        # record, like every line of a running server's stderr (JSON when so configured).
        logging.getLogger("statusgraph").warning(
            "--workers %d without STATUSGRAPH_EVENTS_URL: each process's GraphQL "
            "subscriptions hear only of the events that process dispatches; set "
            "STATUSGRAPH_EVENTS_URL=redis://... (docs/live-updates.md)",
            workers,
        )
    missing = _missing(SERVE_PACKAGES)
    if missing:
        _say(
            f"error: statusgraph serve needs {' and '.join(missing)} (part of "
            "uvicorn[standard]): pip install 'uvicorn[standard]'"
        )
        return 2
    if settings.is_sqlite:
        migrations.upgrade(settings.database_url)
    elif _pending_migrations(settings):
        _say(SCHEMA_BEHIND)
        return 1
    secret = _in_transaction(
        settings,
        lambda session: organizations.bootstrap(session, now=utcnow(), pepper=settings.pepper()),
    )
    if secret is not None:
        _emit(
            '\nCreated organization "Default" (plan enterprise) and a full-access API key.\n'
            "It is shown this once; store it now:\n\n"
            f"    {secret}\n\n"
            "Try it:\n\n"
            f"    curl -s http://{host}:{port}/graphql -H 'Content-Type: application/json' \\\n"
            f"      -H 'X-API-Key: {secret}' \\\n"
            '      -d \'{"query": "{ viewer { name organization { name } } }"}\'\n'
        )
        sys.stdout.flush()
    # A log record, not a message: with STATUSGRAPH_LOG_FORMAT=json every line of a
    # running server's stderr is JSON.
    logging.getLogger("statusgraph").info(
        "statusgraph listening on http://%s:%d (GraphiQL at /graphql)", host, port
    )
    uvicorn.run(
        "statusgraph.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        loop="uvloop",
        http="httptools",
        # It prints whole URLs, query values included; ours (statusgraph.access) does not.
        access_log=False,
        # Our middleware already knows the trusted proxies; uvicorn must not rewrite the peer.
        proxy_headers=False,
        # Not uvicorn's handlers: its loggers reach ours (logs.configure), in our format.
        log_config=None,
    )
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from statusgraph.jobs import worker

    if args.status:
        return worker.worker_status(settings)
    return worker.run_worker(settings)


def _pending_migrations(settings: Settings) -> bool:
    import asyncio

    from statusgraph.db import migrate as migrations
    from statusgraph.db.engine import create_engine

    async def check() -> bool:
        engine = create_engine(settings.database_url)
        try:
            return await migrations.pending_revisions(engine)
        finally:
            await engine.dispose()

    return asyncio.run(check())


def cmd_orgs_create(settings: Settings, args: argparse.Namespace) -> int:
    from statusgraph.auth.principal import CLI, RequestInfo
    from statusgraph.clock import utcnow
    from statusgraph.resolvers import organizations
    from statusgraph.resolvers.user_errors import UserInputError

    try:
        organization = _in_transaction(
            settings,
            lambda session: organizations.create_organization(
                session,
                CLI,
                name=args.name,
                slug=args.slug,
                plan=args.plan,
                request=RequestInfo(),
                now=utcnow(),
            ),
        )
    except UserInputError as error:
        return _user_errors(error)
    _emit(organization.id)
    _say(f"created organization {organization.slug!r} ({organization.plan})")
    return 0


def cmd_keys_create(settings: Settings, args: argparse.Namespace) -> int:
    from statusgraph.auth.principal import CLI, RequestInfo
    from statusgraph.clock import utcnow
    from statusgraph.resolvers import api_keys, organizations
    from statusgraph.resolvers.user_errors import UserInputError

    if not args.legacy and not args.scopes:
        _say("error: --scopes is required (or --legacy for a full-access key)")
        return 2

    async def work(session: AsyncSession) -> api_keys.IssuedKey | None:
        organization = await organizations.get_by_slug(session, args.org)
        if organization is None:
            return None
        draft = api_keys.KeyDraft(
            name=args.name,
            scopes=[scope for scope in (args.scopes or "").split(",") if scope.strip()],
            expires_at=args.expires_at,
            ip_allowlist=[entry for entry in (args.ip_allowlist or "").split(",") if entry.strip()],
            sandbox=args.sandbox,
            legacy=args.legacy,
        )
        return await api_keys.create_key(
            session,
            CLI,
            organization=organization,
            draft=draft,
            granter=None,
            request=RequestInfo(),
            now=utcnow(),
            pepper=settings.pepper(),
        )

    try:
        issued = _in_transaction(settings, work)
    except UserInputError as error:
        return _user_errors(error)
    if issued is None:
        _say(f"error: no organization with slug {args.org!r}")
        return 2
    _emit(issued.secret)
    _say(
        f"created key {issued.key.id} ({', '.join(issued.key.scopes)}); "
        "the secret is shown only once"
    )
    return 0


async def _find_organization(session: AsyncSession, reference: str) -> Organization | None:
    from statusgraph.resolvers import organizations

    # An id (`org_…`) or a slug: a slug never holds an underscore.
    if reference.startswith("org_"):
        return await organizations.get_organization(session, reference)
    return await organizations.get_by_slug(session, reference)


KEY_COLUMNS = ("ID", "NAME", "PREFIX", "SCOPES", "STATUS", "CREATED", "LAST USED", "EXPIRES")


def _when(moment: datetime | None, missing: str) -> str:
    return moment.strftime("%Y-%m-%d %H:%MZ") if moment is not None else missing


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart; no trailing spaces."""
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def cmd_keys_list(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from statusgraph.clock import utcnow
    from statusgraph.resolvers import api_keys
    from statusgraph.resolvers.pagination import MAX_PAGE_SIZE, PageArgs

    async def work(session: AsyncSession) -> list[ApiKey] | None:
        organization = await _find_organization(session, args.org)
        if organization is None:
            return None
        found: list[ApiKey] = []
        after = None
        while True:
            page = await api_keys.list_keys(
                session,
                organization.id,
                include_revoked=True,
                page=PageArgs(first=MAX_PAGE_SIZE, after=after),
            )
            found += page.rows
            if not page.has_next_page:
                return found
            after = page.cursors[-1]

    found = _in_transaction(settings, work)
    if found is None:
        _say(f"error: no organization with id or slug {args.org!r}")
        return 2
    now = utcnow()
    if args.json:
        # Everything about a key but its secret's hash, which is never shown.
        described: list[dict[str, Any]] = [
            {
                "id": key.id,
                "name": key.name,
                "prefix": key.display_prefix,
                "scopes": key.scopes,
                "sandbox": key.sandbox,
                "legacy": key.legacy,
                "ipAllowlist": key.ip_allowlist,
                "status": api_keys.status(key, now).value,
                "createdAt": key.created_at.isoformat(),
                "createdBy": key.created_by_label,
                "lastUsedAt": key.last_used_at.isoformat() if key.last_used_at else None,
                "lastUsedIp": key.last_used_ip,
                "expiresAt": key.expires_at.isoformat() if key.expires_at else None,
                "revokedAt": key.revoked_at.isoformat() if key.revoked_at else None,
                "replacedById": key.replaced_by_id,
            }
            for key in found
        ]
        _emit(json.dumps(described, indent=2))
        return 0
    if not found:
        _say("no API keys")
        return 0
    rows = [
        (
            key.id,
            key.name,
            key.display_prefix,
            ",".join(key.scopes),
            api_keys.status(key, now).value,
            _when(key.created_at, "-"),
            _when(key.last_used_at, "never"),
            _when(key.expires_at, "never"),
        )
        for key in found
    ]
    _emit(_table(KEY_COLUMNS, rows))
    return 0


def cmd_keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from statusgraph.auth.principal import CLI, RequestInfo
    from statusgraph.clock import utcnow
    from statusgraph.db.models import ApiKey
    from statusgraph.resolvers import api_keys
    from statusgraph.resolvers.user_errors import UserInputError

    async def work(session: AsyncSession) -> ApiKey | None:
        # The operator acts for no organization: the key's own is the one to look in.
        found = await session.get(ApiKey, args.key_id)
        if found is None:
            return None
        return await api_keys.revoke(
            session,
            CLI,
            organization_id=found.organization_id,
            key_id=found.id,
            scopes_used=(),
            request=RequestInfo(),
            now=utcnow(),
        )

    try:
        revoked = _in_transaction(settings, work)
    except UserInputError as error:
        return _user_errors(error)
    if revoked is None:
        _say(f"error: no API key with id {args.key_id!r}")
        return 2
    _say(
        f"revoked key {revoked.id} ({revoked.name!r}); a server that checked it recently "
        f"refuses it within {settings.credential_cache_seconds:g} s "
        "(STATUSGRAPH_CREDENTIAL_CACHE_SECONDS)"
    )
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    """The new user's password: the first line of stdin with --password-stdin, else typed
    twice at a prompt that does not echo it. None when there is none to read."""
    import getpass

    if args.password_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r") or None
    if not sys.stdin.isatty():
        _say("error: no terminal to ask for the password: use --password-stdin")
        return None
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        _say("error: the two passwords differ")
        return None
    return first


def cmd_users_create(settings: Settings, args: argparse.Namespace) -> int:
    from statusgraph.auth.principal import CLI, RequestInfo
    from statusgraph.clock import utcnow
    from statusgraph.db.models import User
    from statusgraph.resolvers import users
    from statusgraph.resolvers.user_errors import UserInputError

    password = _read_password(args)
    if password is None:
        if args.password_stdin:
            _say("error: --password-stdin read no password")
        return 2

    async def work(session: AsyncSession) -> User | None:
        organization = await _find_organization(session, args.org)
        if organization is None:
            return None
        return await users.create_user(
            session,
            CLI,
            organization=organization,
            email=args.email,
            name=args.name,
            password=password,
            role=args.role,
            request=RequestInfo(),
            now=utcnow(),
        )

    try:
        user = _in_transaction(settings, work)
    except UserInputError as error:
        return _user_errors(error)
    if user is None:
        _say(f"error: no organization with id or slug {args.org!r}")
        return 2
    _emit(user.id)
    _say(f"created user {user.email} ({args.role} of {args.org})")
    return 0


USER_COLUMNS = ("MEMBER", "USER", "EMAIL", "NAME", "ROLE", "SINCE", "LAST LOGIN")


def cmd_users_list(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from statusgraph.db.models import Membership, User
    from statusgraph.resolvers import team
    from statusgraph.resolvers.pagination import MAX_PAGE_SIZE, PageArgs

    async def work(session: AsyncSession) -> list[tuple[Membership, User]] | None:
        organization = await _find_organization(session, args.org)
        if organization is None:
            return None
        found: list[tuple[Membership, User]] = []
        after = None
        while True:
            page, people = await team.list_members(
                session, organization.id, page=PageArgs(first=MAX_PAGE_SIZE, after=after)
            )
            found += [(member, people[member.user_id]) for member in page.rows]
            if not page.has_next_page:
                return found
            after = page.cursors[-1]

    found = _in_transaction(settings, work)
    if found is None:
        _say(f"error: no organization with id or slug {args.org!r}")
        return 2
    if args.json:
        described = [
            {
                "memberId": member.id,
                "userId": user.id,
                "email": user.email,
                "name": user.name,
                "role": member.role,
                "createdAt": member.created_at.isoformat(),
                "lastLoginAt": user.last_login_at.isoformat() if user.last_login_at else None,
            }
            for member, user in found
        ]
        _emit(json.dumps(described, indent=2))
        return 0
    if not found:
        _say("no members")
        return 0
    rows = [
        (
            member.id,
            user.id,
            user.email,
            user.name,
            member.role,
            _when(member.created_at, "-"),
            _when(user.last_login_at, "never"),
        )
        for member, user in found
    ]
    _emit(_table(USER_COLUMNS, rows))
    return 0


def cmd_audit_purge(settings: Settings, _args: argparse.Namespace) -> int:
    from statusgraph.clock import utcnow
    from statusgraph.resolvers import audit

    purged = _in_transaction(settings, lambda session: audit.purge(session, now=utcnow()))
    _say(f"purged {purged} audit entries older than 365 days")
    return 0


def cmd_export_schema(_settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from statusgraph.schema import schema

    sdl = str(schema) + "\n"
    if args.output:
        Path(args.output).write_text(sdl)
    else:
        sys.stdout.write(sdl)
    return 0


def _aware_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("give a timezone, e.g. 2027-01-01T00:00:00Z")
    return parsed


class PrintVersion(argparse.Action):
    """`--version`: `statusgraph 0.1.0`, from the installed distribution's metadata, read
    only when asked (importlib.metadata is not free)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **_options: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the version"
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from importlib.metadata import version

        _emit(f"statusgraph {version('statusgraph')}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statusgraph",
        description="Status pages and uptime monitoring: the server and its tools.",
    )
    parser.add_argument("--version", action=PrintVersion)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate (SQLite), bootstrap and run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument(
        "--no-jobs",
        action="store_true",
        help="serve requests only; `statusgraph worker` runs the background jobs",
    )
    serve.set_defaults(run=cmd_serve)

    worker = commands.add_parser("worker", help="run the background jobs only, until SIGTERM")
    worker.add_argument(
        "--status",
        action="store_true",
        help="print the processes running jobs and each job's last run and lag, then exit",
    )
    worker.set_defaults(run=cmd_worker)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)

    orgs = commands.add_parser("orgs", help="organizations").add_subparsers(
        dest="action", required=True
    )
    org_create = orgs.add_parser("create", help="create an organization; prints its id")
    org_create.add_argument("--name", required=True)
    org_create.add_argument("--slug", required=True)
    org_create.add_argument(
        "--plan", default="starter", choices=["starter", "pro", "team", "enterprise"]
    )
    org_create.set_defaults(run=cmd_orgs_create)

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    key_create = keys.add_parser("create", help="mint an API key; prints only the secret")
    key_create.add_argument("--org", required=True, help="organization slug")
    key_create.add_argument("--name", required=True)
    key_create.add_argument(
        "--scopes", help='comma-separated, e.g. "incidents:write,monitors:read"'
    )
    key_create.add_argument("--expires-at", type=_aware_datetime, help="ISO 8601 with a timezone")
    key_create.add_argument("--ip-allowlist", help="comma-separated CIDR ranges (enterprise only)")
    key_create.add_argument("--sandbox", action="store_true", help="an sg_test_ key")
    key_create.add_argument("--legacy", action="store_true", help="full access, no scopes")
    key_create.set_defaults(run=cmd_keys_create)
    key_list = keys.add_parser(
        "list", help="an organization's keys, newest first (never their secrets)"
    )
    key_list.add_argument("--org", required=True, help="organization id or slug")
    key_list.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    key_list.set_defaults(run=cmd_keys_list)
    key_revoke = keys.add_parser("revoke", help="revoke a key at once (no overlap)")
    key_revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id, key_…")
    key_revoke.set_defaults(run=cmd_keys_revoke)

    users_cmd = commands.add_parser("users", help="users and their memberships").add_subparsers(
        dest="action", required=True
    )
    user_create = users_cmd.add_parser(
        "create", help="create a user and their membership; prints the user's id"
    )
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--name", required=True)
    user_create.add_argument("--org", required=True, help="organization id or slug")
    user_create.add_argument(
        "--role", required=True, choices=["owner", "admin", "member", "viewer"]
    )
    user_create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of a prompt",
    )
    user_create.set_defaults(run=cmd_users_create)
    user_list = users_cmd.add_parser("list", help="an organization's members, newest first")
    user_list.add_argument("--org", required=True, help="organization id or slug")
    user_list.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    user_list.set_defaults(run=cmd_users_list)

    audit_cmd = commands.add_parser("audit", help="audit log").add_subparsers(
        dest="action", required=True
    )
    audit_cmd.add_parser("purge", help="delete entries older than 365 days").set_defaults(
        run=cmd_audit_purge
    )

    export = commands.add_parser("export-schema", help="print the GraphQL SDL")
    export.add_argument("--output", help="write to this file instead of stdout")
    export.set_defaults(run=cmd_export_schema)
    return parser


def _settings_errors(error: ValidationError | SettingsError) -> list[str]:
    """One line per bad variable, named as the operator wrote it, never its value (it
    may be a secret)."""
    import re

    from pydantic_settings import SettingsError

    from statusgraph.config import Settings

    env_prefix = Settings.model_config.get("env_prefix", "")
    if isinstance(error, SettingsError):  # a complex field's value is not JSON
        named = re.search(r'field "(\w+)"', str(error))
        name = env_prefix + named.group(1).upper() if named else "environment"
        return [f"error: {name}: not valid JSON ({error.__cause__ or error})"]
    by_variable: dict[str, list[str]] = {}
    for problem in error.errors(include_url=False):
        field, *inside = [str(part) for part in problem["loc"]] or [""]
        name = env_prefix + field.upper() if field else "environment"
        where = ".".join(inside) + ": " if inside else ""
        by_variable.setdefault(name, []).append(where + problem["msg"])
    return [f"error: {name}: {'; '.join(found)}" for name, found in by_variable.items()]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from statusgraph import logs
    from statusgraph.config import Settings

    try:
        settings = Settings()
    except (ValidationError, SettingsError) as error:
        for line in _settings_errors(error):
            _say(line)
        return 2
    # Every command logs the same way; `serve` passes it on to uvicorn (log_config=None).
    logs.configure(settings.log_format, settings.log_level)
    try:
        code: int = args.run(settings, args)
    except SchemaBehind:
        _say(SCHEMA_BEHIND)
        return 1
    return code
