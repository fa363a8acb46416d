"""`statusgraph serve | migrate | orgs create | keys create | audit purge | export-schema`.

Machine-readable output (a key's secret, the SDL) goes to stdout; messages to stderr,
so `KEY=$(statusgraph keys create ...)` captures only the key.
"""

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import CLI, RequestInfo
from statusgraph.clock import utcnow
from statusgraph.config import Settings
from statusgraph.db import migrate as migrations
from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.resolvers import api_keys, audit, organizations
from statusgraph.resolvers.user_errors import UserInputError

Result = TypeVar("Result")
ENV_PREFIX = Settings.model_config.get("env_prefix", "")


def _say(message: str) -> None:
    print(message, file=sys.stderr)  # noqa: T201


def _emit(value: str) -> None:
    print(value)  # noqa: T201


def _in_transaction(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[Result]]
) -> Result:
    async def run() -> Result:
        engine = create_engine(settings.database_url)
        try:
            async with create_session_factory(engine).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _user_errors(error: UserInputError) -> int:
    for problem in error.errors:
        _say(f"error: {problem.field + ': ' if problem.field else ''}{problem.message}")
    return 2


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    migrations.upgrade(settings.database_url)
    _say("database is up to date")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers > 1 and settings.uses_memory_rate_limits:
        _say(
            f"error: --workers {workers} needs shared rate-limit storage "
            "(STATUSGRAPH_RATE_LIMIT_STORAGE=redis://...); in-memory counters are per process "
            f"and would multiply every limit by {workers}"
        )
        return 2
    if settings.is_sqlite:
        migrations.upgrade(settings.database_url)
    elif _pending_migrations(settings):
        _say("error: the database schema is behind this release; run `statusgraph migrate` first")
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
    _say(f"statusgraph listening on http://{host}:{port} (GraphiQL at /graphql)")
    uvicorn.run(
        "statusgraph.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        # It prints whole URLs, query values included; ours (statusgraph.access) does not.
        access_log=False,
        # Our middleware already knows the trusted proxies; uvicorn must not rewrite the peer.
        proxy_headers=False,
    )
    return 0


def _pending_migrations(settings: Settings) -> bool:
    async def check() -> bool:
        engine = create_engine(settings.database_url)
        try:
            return await migrations.pending_revisions(engine)
        finally:
            await engine.dispose()

    return asyncio.run(check())


def cmd_orgs_create(settings: Settings, args: argparse.Namespace) -> int:
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


def cmd_audit_purge(settings: Settings, _args: argparse.Namespace) -> int:
    purged = _in_transaction(settings, lambda session: audit.purge(session, now=utcnow()))
    _say(f"purged {purged} audit entries older than 365 days")
    return 0


def cmd_export_schema(_settings: Settings, args: argparse.Namespace) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="statusgraph", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate (SQLite), bootstrap and run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(run=cmd_serve)

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
    if isinstance(error, SettingsError):  # a complex field's value is not JSON
        named = re.search(r'field "(\w+)"', str(error))
        name = ENV_PREFIX + named.group(1).upper() if named else "environment"
        return [f"error: {name}: not valid JSON ({error.__cause__ or error})"]
    by_variable: dict[str, list[str]] = {}
    for problem in error.errors(include_url=False):
        field, *inside = [str(part) for part in problem["loc"]] or [""]
        name = ENV_PREFIX + field.upper() if field else "environment"
        where = ".".join(inside) + ": " if inside else ""
        by_variable.setdefault(name, []).append(where + problem["msg"])
    return [f"error: {name}: {'; '.join(found)}" for name, found in by_variable.items()]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as error:
        for line in _settings_errors(error):
            _say(line)
        return 2
    code: int = args.run(settings, args)
    return code
