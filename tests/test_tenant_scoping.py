"""Tenant filters are written in one place, statusgraph/db/scoping.py (STYLE.md, convention
5). This walks the package's source and fails on any other comparison with an
`organization_id`: in a query, such a filter is easy to get subtly wrong (a missing
`col()`, the wrong table in a join), and a query without one is easy to miss in review
when some have theirs written by hand.

A comparison that is not a tenant filter (an authorization check on rows already
loaded, a join made before anyone's organization is known) goes in ALLOWED with the
reason.
"""

import ast
from pathlib import Path
from typing import TypeGuard

import statusgraph

PACKAGE = Path(statusgraph.__file__).parent
SCOPING = PACKAGE / "db" / "scoping.py"
# Migrations are frozen history: they describe tables, they do not query tenants' rows.
MIGRATIONS = PACKAGE / "db" / "migrations"

# SQLAlchemy's comparison methods, written as calls instead of operators.
COMPARISON_METHODS = frozenset(
    {"in_", "not_in", "notin_", "is_", "is_not", "isnot", "__eq__", "__ne__", "like", "between"}
)

# (path under statusgraph/, enclosing function, the comparison as ast.unparse prints it)
ALLOWED: dict[tuple[str, str, str], str] = {
    (
        "resolvers/status_pages.py",
        "readable_page",
        "principal is not None and principal.organization_id == page.organization_id",
    ): "authorization on the page already loaded by its slug, which is global: a caller "
    "of the page's organization reads it whatever its visibility",
    (
        "resolvers/credentials.py",
        "_lookup",
        "col(Organization.id) == col(ApiKey.organization_id)",
    ): "the join from a presented key to its organization, made to authenticate: nobody's "
    "organization is known yet",
    (
        "ingest/batcher.py",
        "_apply",
        "monitor is None or monitor.organization_id != ping.organization_id",
    ): "a ping's monitor, loaded by id in one statement for the whole batch, is checked "
    "against the organization of the key that sent the ping",
    (
        "notifications/dispatcher.py",
        "_channels",
        "CHANNELS.c.organization_id.in_(organization_ids)",
    ): "the dispatcher works for every organization at once: each event's channels are "
    "those of the event's own organization, matched by the organization ids of the batch",
    (
        "notifications/dispatcher.py",
        "_subscribers",
        "SUBSCRIBERS.c.organization_id.in_(organizations)",
    ): "likewise for subscribers: an event reaches the subscribers of its own organization",
    (
        "resolvers/oauth_access.py",
        "authenticate",
        "col(Organization.id) == col(OAuthGrant.organization_id)",
    ): "the join from a presented access token to its grant's organization, made to "
    "authenticate: nobody's organization is known yet",
    (
        "resolvers/oauth_grants.py",
        "grant_membership",
        "col(Membership.organization_id) == col(OAuthGrant.organization_id)",
    ): "the join from a grant (reached from a presented token, to authenticate or to "
    "introspect it) to its user's membership in the grant's own organization, whose "
    "role bounds the token's scopes",
    (
        "resolvers/consent.py",
        "session_hours",
        "col(Membership.organization_id) == col(Organization.id)",
    ): "a signed-in user's own organizations, chosen by user, for the shortest session "
    "length among them",
    (
        "resolvers/users.py",
        "memberships_of",
        "col(Organization.id) == col(Membership.organization_id)",
    ): "a signed-in user's own memberships across organizations, chosen by user: the join "
    "names each membership's organization",
    (
        "db/page_versions.py",
        "read",
        "PAGE_VERSION.c.organization_id == organization_id",
    ): "the page-version counter is keyed by organization: reading one organization's "
    "counter by its key is the whole query",
    (
        "pages/caching.py",
        "answer",
        "self.monotonic() < entry.expires_at and await self.versions.current(entry.organization_id) == entry.version",
    ): "a cached document's version against its organization's current counter: no rows "
    "are read for a tenant here",
    (
        "schema/public.py",
        "public_status_page",
        "page.organization_id not in ctx.page_versions",
    ): "a lookup in the request's dict of counters already read, by the page's organization",
    (
        "workflows/engine.py",
        "on_events",
        "col(Workflow.organization_id).in_({event.organization_id for event in wanted})",
    ): "workflows run for every organization's events at once, in the dispatcher's batch: "
    "each event's workflows are those of its own organization, matched just below",
    (
        "workflows/engine.py",
        "on_events",
        "workflow.organization_id != event.organization_id or workflow.trigger != kind",
    ): "that match: a workflow runs only for an event of its own organization",
    (
        "resolvers/oauth_apps.py",
        "grants_of_user",
        "col(Organization.id) == col(OAuthGrant.organization_id)",
    ): "a signed-in user's own grants across every organization they belong to, chosen by "
    "user (/account/apps): the join names each grant's organization",
    (
        "resolvers/oauth_apps.py",
        "grants_of_user",
        "col(Membership.organization_id) == col(OAuthGrant.organization_id)",
    ): "likewise: only grants in organizations the user is still a member of",
    (
        "resolvers/oauth_apps.py",
        "grants_of_user",
        "col(registrar.id) == col(OAuthApp.organization_id)",
    ): "likewise: the name of the organization that registered each app, which may be any "
    "(the consent page shows it too)",
    (
        "resolvers/oauth_apps.py",
        "grant_parties",
        "col(Organization.id) == col(OAuthApp.organization_id)",
    ): "the apps of a page of the organization's own grants (read through for_org), wherever "
    "registered: only their name, client id and registering organization's name are kept",
    (
        "resolvers/oauth_apps.py",
        "delete_oauth_app",
        "grant.organization_id == principal.organization_id",
    ): "deleting an app revokes its grants in every organization: a grant of the caller's "
    "own is audited with the caller as actor, another's with the system",
}


def mentions_organization_id(node: ast.AST) -> bool:
    return any(
        isinstance(child, ast.Attribute) and child.attr == "organization_id"
        for child in ast.walk(node)
    )


def is_comparison_with_organization_id(node: ast.AST) -> TypeGuard[ast.expr]:
    if isinstance(node, ast.Compare):
        return mentions_organization_id(node)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in COMPARISON_METHODS:
            return mentions_organization_id(node.func.value)
        if node.func.attr == "filter_by":
            return any(keyword.arg == "organization_id" for keyword in node.keywords)
    return False


class _Finder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.function = "<module>"
        self.found: list[tuple[str, str, int]] = []

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        # `a is None or a.organization_id != b`: the guard and the check read as one.
        if any(is_comparison_with_organization_id(value) for value in node.values):
            self.found.append((self.function, ast.unparse(node), node.lineno))
            return
        self.generic_visit(node)

    def generic_visit(self, node: ast.AST) -> None:
        if not isinstance(node, ast.BoolOp) and is_comparison_with_organization_id(node):
            self.found.append((self.function, ast.unparse(node), node.lineno))
            return
        super().generic_visit(node)


def organization_comparisons(source: str) -> list[tuple[str, str, int]]:
    finder = _Finder()
    finder.visit(ast.parse(source))
    return finder.found


def package_comparisons() -> dict[tuple[str, str, str], int]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == SCOPING or MIGRATIONS in path.parents:
            continue
        relative = path.relative_to(PACKAGE).as_posix()
        for function, text, line in organization_comparisons(path.read_text()):
            found[(relative, function, text)] = line
    return found


def test_no_tenant_filter_is_written_outside_db_scoping():
    hand_written = [
        f"statusgraph/{path}:{line} in {function}(): {text}"
        for (path, function, text), line in package_comparisons().items()
        if (path, function, text) not in ALLOWED
    ]
    assert hand_written == [], (
        "Filter by organization through statusgraph.db.scoping (for_org, for_org_via, "
        "owned_by); if this is an authorization check on loaded rows, add it to ALLOWED "
        "with the reason:\n" + "\n".join(hand_written)
    )


def test_every_allowed_comparison_still_exists():
    stale = set(ALLOWED) - set(package_comparisons())
    assert stale == set()


def test_the_check_sees_filters_written_as_operators_methods_and_keywords():
    source = """
def listing(organization_id, ids):
    select(Service).where(Service.organization_id == organization_id)
    select(func.max(Service.position)).where(col(Service.organization_id) == organization_id)
    select(Service).where(col(Service.organization_id).in_(ids))
    select(Service).filter_by(organization_id=organization_id)
    select(exists().where(organization_id != Service.organization_id))
"""
    assert [line for _function, _text, line in organization_comparisons(source)] == [
        3,
        4,
        5,
        6,
        7,
    ]


def test_the_check_ignores_organization_ids_that_are_only_passed_along():
    source = """
async def create(session, principal):
    await lock_organization(session, principal.organization_id)
    return Service(organization_id=principal.organization_id)
"""
    assert organization_comparisons(source) == []
