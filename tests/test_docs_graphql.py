"""Every GraphQL example in the docs and the README is valid against the schema: a
renamed field or argument fails here, not in a reader's hands."""

import re
from pathlib import Path

import pytest
from graphql import LoneAnonymousOperationRule, parse, specified_rules, validate

from statusgraph.schema import schema

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```graphql\n(.*?)```", re.DOTALL)
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
EXAMPLES = [
    pytest.param(block, id=f"{page.name}:{n}")
    for page in PAGES
    for n, block in enumerate(BLOCK.findall(page.read_text()))
]


# A block may list several operations one after the other, as alternatives to send.
RULES = [rule for rule in specified_rules if rule is not LoneAnonymousOperationRule]


def test_the_docs_have_graphql_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("document", EXAMPLES)
def test_each_example_validates(document: str) -> None:
    errors = validate(schema._schema, parse(document), RULES)
    assert errors == [], [error.message for error in errors]
