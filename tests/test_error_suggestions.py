"""Near-miss documents: exact codes, and never a "Did you mean" (README, Errors).

graphql-core suggests schema names for misspelt enum values, arguments, types, input
fields and leaf selections, whatever `disable_field_suggestions` says (it covers fields
only). An invalid enum value is the caller's input: BAD_USER_INPUT, inline or in
variables, like every value that does not coerce.
"""

import pytest

from tests.helpers import gql

CREATE_SERVICE = (
    "mutation($i: CreateServiceInput!) { createService(input: $i) { userErrors { code } } }"
)
VALIDATION = "GRAPHQL_VALIDATION_FAILED"
BAD_INPUT = "BAD_USER_INPUT"

# (document, variables, code, message): one error each.
NEAR_MISSES = {
    "enum literal": (
        'mutation { createService(input: {name: "x", status: OPERATIONL}) { userErrors { code } } }',
        None,
        BAD_INPUT,
        "Value 'OPERATIONL' does not exist in 'ServiceStatus' enum.",
    ),
    "enum literal in a list": (
        'mutation { createIncident(input: {title: "x", message: "x", services: [{serviceId: "svc_x", status: MAJOR_OUTAG}]}) { userErrors { code } } }',
        None,
        BAD_INPUT,
        "Value 'MAJOR_OUTAG' does not exist in 'ServiceStatus' enum.",
    ),
    "enum written as a string": (
        'mutation { createService(input: {name: "x", status: "OPERATIONAL"}) { userErrors { code } } }',
        None,
        BAD_INPUT,
        "Enum 'ServiceStatus' cannot represent non-enum value: \"OPERATIONAL\".",
    ),
    "enum inside a variable": (
        CREATE_SERVICE,
        {"i": {"name": "x", "status": "OPERATIONL"}},
        BAD_INPUT,
        "Variable '$i' has invalid value at .status: "
        "Value 'OPERATIONL' does not exist in 'ServiceStatus' enum.",
    ),
    "enum variable": (
        'mutation($s: ServiceStatus!) { createService(input: {name: "x", status: $s}) { userErrors { code } } }',
        {"s": "OPERATIONL"},
        BAD_INPUT,
        "Variable '$s' has invalid value: Value 'OPERATIONL' does not exist in 'ServiceStatus' enum.",
    ),
    "input field inside a variable": (
        CREATE_SERVICE,
        {"i": {"name": "x", "descripton": "y"}},
        BAD_INPUT,
        "Variable '$i' has invalid value: Expected value of type 'CreateServiceInput' not to "
        "include unknown field 'descripton'. Found: {'name': 'x', 'descripton': 'y'}.",
    ),
    "input field literal": (
        'mutation { createService(input: {name: "x", descripton: "y"}) { userErrors { code } } }',
        None,
        VALIDATION,
        "Expected value of type 'CreateServiceInput' not to include unknown field 'descripton'. "
        'Found: { name: "x", descripton: "y" }.',
    ),
    "root field": (
        "{ viewr { name } }",
        None,
        VALIDATION,
        "Cannot query field 'viewr' on type 'Query'.",
    ),
    "object field": (
        "{ viewer { nam } }",
        None,
        VALIDATION,
        "Cannot query field 'nam' on type 'Viewer'.",
    ),
    "interface field": (
        '{ node(id: "x") { name } }',
        None,
        VALIDATION,
        "Cannot query field 'name' on type 'Node'.",
    ),
    "argument": (
        "{ apiKeys(firs: 1) { totalCount } }",
        None,
        VALIDATION,
        "Unknown argument 'firs' on field 'Query.apiKeys'.",
    ),
    "directive argument": (
        "{ viewer @include(iff: true, if: true) { name } }",
        None,
        VALIDATION,
        "Unknown argument 'iff' on directive '@include'.",
    ),
    "variable type": (
        "query($x: Boolea!) { apiKeys(includeRevoked: $x) { totalCount } }",
        {"x": True},
        VALIDATION,
        "Unknown type 'Boolea'.",
    ),
    "type condition": (
        '{ node(id: "x") { ... on Servce { id } } }',
        None,
        VALIDATION,
        "Unknown type 'Servce'.",
    ),
    "leaf selection": (
        "{ viewer }",
        None,
        VALIDATION,
        "Field 'viewer' of type 'Viewer' must have a selection of subfields.",
    ),
}


@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
async def test_a_near_miss_gets_its_exact_code_and_no_suggestion(client, people, case):
    document, variables, code, message = NEAR_MISSES[case]
    response = await gql(client, document, variables, key=people.alice.secret)
    assert "did you mean" not in response.text.lower()
    assert response.status_code == 200  # a request error, under application/json
    errors = response.json()["errors"]
    assert [(e["message"], e["extensions"]["code"]) for e in errors] == [(message, code)]
    assert "data" not in response.json()


async def test_suggestions_are_gone_with_application_json_too(client, people):
    response = await gql(
        client,
        NEAR_MISSES["enum literal"][0],
        key=people.alice.secret,
        headers={"Accept": "application/json"},
    )
    # (Its status, 200 or 400, is the GraphQL-over-HTTP tests' business.)
    assert "did you mean" not in response.text.lower()
    assert response.json()["errors"][0]["extensions"]["code"] == BAD_INPUT
