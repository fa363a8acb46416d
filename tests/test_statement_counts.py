"""No N+1: nested objects load through per-request DataLoaders, one batch per kind."""

from tests.helpers import StatementCounter, create_key, gql


async def test_repeated_organizations_load_in_one_statement(client, app, people):
    query = "{ a: viewer { organization { name } } b: viewer { organization { slug } } c: viewer { organization { plan } } }"
    with StatementCounter(app.state.engine) as counter:
        response = await gql(client, query, key=people.bob.secret)
    assert response.json()["data"]["c"]["organization"]["plan"] == "ENTERPRISE"
    # One statement authenticates the key (bob is used for the first time, so a second
    # one records lastUsedAt), and one loads the organization for all three fields.
    selects = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, counter.statements


async def test_a_page_of_keys_costs_the_same_statements_whatever_its_size(
    client, app, db, clock, people
):
    query = "{ apiKeys(first: 100) { totalCount edges { node { id createdBy { label } } } } }"
    await gql(client, "{ viewer { name } }", key=people.alice.secret)  # lastUsedAt written now

    with StatementCounter(app.state.engine) as small:
        await gql(client, query, key=people.alice.secret)
    for index in range(30):
        await create_key(
            db, clock, people.alice.organization, scopes=["incidents:read"], name=f"k{index}"
        )
    with StatementCounter(app.state.engine) as large:
        response = await gql(client, query, key=people.alice.secret)
    assert response.json()["data"]["apiKeys"]["totalCount"] == 32
    # page and count; the key was looked up by the first request and is cached since
    assert len(small) == len(large) == 2
