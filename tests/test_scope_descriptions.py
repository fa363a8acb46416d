"""Introspection carries the scope (DESIGN §5): applied directives are invisible to
introspection, so every guarded field's description ends with its scope sentence."""

from graphql import GraphQLInterfaceType, GraphQLObjectType
from strawberry.schema.schema_converter import GraphQLCoreConverter

from statusgraph.schema import schema
from statusgraph.schema.permissions import RequiresScope
from tests.helpers import gql

INTROSPECT = "{ __schema { types { name kind fields { name description } } } }"


def required_scopes() -> dict[tuple[str, str], list[str]]:
    """(type, field) -> the scopes its @requiresScope directives name, from the schema."""
    found = {}
    for type_ in schema._schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for name, field in type_.fields.items():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            scopes = [
                d.scope
                for d in getattr(definition, "directives", [])
                if isinstance(d, RequiresScope)
            ]
            if scopes:
                found[type_.name, name] = scopes
    return found


async def test_every_guarded_field_says_its_scope_through_introspection(client, people):
    response = await gql(client, INTROSPECT, key=people.alice.secret)
    assert response.status_code == 200, response.text
    described = {
        (type_["name"], field["name"]): field["description"] or ""
        for type_ in response.json()["data"]["__schema"]["types"]
        for field in type_["fields"] or []
    }
    guarded = required_scopes()
    assert len(guarded) >= 50  # every Query and Mutation field but the few public ones
    for key, scopes in guarded.items():
        sentences = " ".join(f"Requires scope: `{scope}`." for scope in scopes)
        assert described[key].endswith(sentences), (key, described[key])
        assert described[key].count("Requires scope") == len(scopes), key
    for key, description in described.items():
        if key not in guarded:
            assert "Requires scope" not in description, (key, description)


async def test_a_field_with_its_own_description_keeps_it_before_the_scope(client, people):
    response = await gql(
        client,
        '{ __type(name: "Mutation") { fields { name description } } }',
        key=people.alice.secret,
    )
    fields = {f["name"]: f["description"] for f in response.json()["data"]["__type"]["fields"]}
    assert fields["deleteStatusPage"] == (
        "Deleting the default page makes the oldest remaining one the default. "
        "Requires scope: `status_pages:write`."
    )
    assert fields["createApiKey"] == "Requires scope: `api_keys:write`."


def test_building_the_schema_again_does_not_repeat_the_sentence():
    from statusgraph.schema import build_schema

    again = build_schema()
    mutation = again._schema.mutation_type
    assert mutation is not None
    field = mutation.fields["createApiKey"]
    assert field.description == "Requires scope: `api_keys:write`."
