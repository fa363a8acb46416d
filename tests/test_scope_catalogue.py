"""Every scope of the DESIGN §4 catalogue guards something real (issue #20, "done when").

Walks the catalogue (statusgraph/auth/scopes.py) and the whole schema, Query, Mutation,
Subscription and every object type's fields, collecting the scope each field's
permission requires; the REST shim's scopes are checked by calling their routes without
them. A scope that guards nothing is either in NOT_YET_GUARDED (built by a later part of
issue #20) or a failure.
"""

import pytest
from graphql import GraphQLObjectType
from strawberry.types.field import StrawberryField

from statusgraph.auth.scopes import CATALOGUE
from statusgraph.schema import schema
from statusgraph.schema.permissions import HasScope
from tests.helpers import create_key

# Scopes no field or route requires yet, each with what will. This set may only shrink:
# when the part that builds one lands, remove it here (the last test says so).
NOT_YET_GUARDED: dict[str, str] = {}

# Scopes the REST shim requires (DESIGN §8): (method, path, body) of a route that needs it.
REST_GUARDED: dict[str, tuple[str, str, object]] = {
    "heartbeat:write": ("POST", "/api/heartbeat/mon_missing", {}),
    "metrics:write": ("POST", "/api/metrics/ingest", [{"name": "x", "value": 1}]),
}


def graphql_guards() -> dict[str, list[str]]:
    """scope -> the fields ("Type.field") whose permission requires it."""
    found: dict[str, list[str]] = {}
    for type_name, graphql_type in schema._schema.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, field in graphql_type.fields.items():
            definition = field.extensions.get("strawberry-definition")
            if not isinstance(definition, StrawberryField):
                continue
            for extension in definition.extensions:
                for permission in getattr(extension, "permissions", []):
                    if isinstance(permission, HasScope):
                        found.setdefault(permission.scope, []).append(f"{type_name}.{field_name}")
    return found


def test_every_field_guard_names_a_catalogue_scope():
    assert set(graphql_guards()) <= CATALOGUE


@pytest.mark.parametrize("scope", sorted(CATALOGUE - set(NOT_YET_GUARDED)))
def test_each_scope_guards_a_field_or_a_route(scope):
    fields = graphql_guards().get(scope, [])
    assert fields or scope in REST_GUARDED, f"{scope} guards no field and no REST route"


@pytest.mark.parametrize("scope", sorted(REST_GUARDED))
async def test_each_rest_scope_is_required_by_its_route(client, db, clock, people, scope):
    method, path, body = REST_GUARDED[scope]
    # Every other scope of the catalogue, but not this one (nor a wildcard granting it).
    others = sorted(CATALOGUE - {scope})
    key = await create_key(db, clock, people.alice.organization, scopes=others)
    response = await client.request(method, path, json=body, headers={"X-API-Key": key.secret})
    assert response.status_code == 403
    assert response.json() == {"error": f"Insufficient scope: {scope} required"}
    allowed = await create_key(db, clock, people.alice.organization, scopes=[scope])
    response = await client.request(method, path, json=body, headers={"X-API-Key": allowed.secret})
    assert response.status_code != 403, response.text


def test_the_not_yet_guarded_set_only_holds_scopes_that_guard_nothing():
    """Fails once a part lands: then remove its scope from NOT_YET_GUARDED."""
    guarded = set(graphql_guards()) | set(REST_GUARDED)
    assert not (set(NOT_YET_GUARDED) & guarded), "remove these from NOT_YET_GUARDED"
    assert set(NOT_YET_GUARDED) <= CATALOGUE


def test_what_is_still_missing():
    """The issue is done when this set is empty (parts 2 and 3 of #20): it is."""
    assert set(CATALOGUE - set(graphql_guards()) - set(REST_GUARDED)) == set(NOT_YET_GUARDED)
    assert NOT_YET_GUARDED == {}
    assert "Organization.usage" in graphql_guards()["billing:read"]


def test_the_walk_sees_object_fields_not_only_root_ones() -> None:
    # The settings are guarded where they are, also reached through viewer.organization.
    assert "Organization.settings" in graphql_guards()["config:read"]
