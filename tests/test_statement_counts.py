"""No N+1: nested objects load through per-request DataLoaders, one batch per kind."""

from tests.helpers import StatementCounter, create_key, gql


async def test_repeated_organizations_load_in_one_statement(client, app, people):
    query = "{ a: viewer { organization { name } } b: viewer { organization { slug } } c: viewer { organization { plan } } }"
    # Bob's first request, and what it leaves to be written in the background (the usage
    # alerts: his key's first use, its first address), out of the way first.
    await gql(client, "{ viewer { name } }", key=people.bob.secret)
    await app.state.usage.flush()
    app.state.credential_cache.forget(people.bob.key_id)
    with StatementCounter(app.state.engine) as counter:
        response = await gql(client, query, key=people.bob.secret)
    assert response.json()["data"]["c"]["organization"]["plan"] == "ENTERPRISE"
    # One statement authenticates the key, and one loads the organization for all
    # three fields.
    selects = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, counter.statements


async def test_a_page_of_keys_costs_the_same_statements_whatever_its_size(
    client, app, db, clock, people
):
    query = "{ apiKeys(first: 100) { totalCount edges { node { id createdBy { label } } } } }"
    await gql(client, "{ viewer { name } }", key=people.alice.secret)  # lastUsedAt written now
    await app.state.usage.flush()  # and the usage alerts' background writes

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


async def test_a_page_of_monitors_with_uptime_costs_the_same_statements_whatever_its_size(
    client, app, people
):
    query = """{ monitors(first: 100) { edges { node {
      lastCheck { up } uptime(window: LAST_7_DAYS) { percent } dailyBars(days: 7) { status }
      day: uptime(window: LAST_24_HOURS) { percent } } } } }"""
    key = people.alice.secret

    async def add(count: int) -> None:
        for n in range(count):
            created = await gql(
                client,
                f'mutation {{ createMonitor(input: {{name: "m{n}", type: HTTP, url: "https://e.com"}}) {{ userErrors {{ message }} }} }}',
                key=key,
            )
            assert created.json()["data"]["createMonitor"]["userErrors"] == []

    await add(2)
    await gql(client, query, key=key)  # the key is looked up and cached
    with StatementCounter(app.state.engine) as small:
        await gql(client, query, key=key)
    await add(20)
    with StatementCounter(app.state.engine) as large:
        response = await gql(client, query, key=key)
    assert len(response.json()["data"]["monitors"]["edges"]) == 22
    assert len(small) == len(large), (small.statements, large.statements)
