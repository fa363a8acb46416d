"""Hypothesis strategies built from the schema's own input types (graphql-core's view
of statusgraph.schema.schema), for tests/test_fuzz.py.

Every value strategy mixes the right shape (so the request gets past coercion and
reaches resolvers and the database) with wrong ones (so coercion itself is probed),
and every scalar draws from odd values: lone surrogates, NUL, very long and unusual
Unicode strings, naive and out-of-range date-times, huge and fractional numbers.
"""

import json
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
    is_leaf_type,
)
from hypothesis import strategies as st

from statusgraph.schema import schema

ODD_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfff",
        "\\u0000",
        "😀",
        "\u202e\ufeff",
        "ﷺ" * 50,
        "' OR 1=1 --",
        "%00%ff",
        "../../etc/passwd",
        "null",
        "x" * 5_000,
        "é" * 3_000,
    ]
)
LONE_SURROGATES = st.sampled_from(["\ud800", "\udc00", "a\ud83d", "\udfffz"])
STRINGS = st.one_of(
    st.text(max_size=40),
    ODD_STRINGS,
    LONE_SURROGATES,
    st.text(st.characters(categories=["Cs", "Cc", "Lo", "So", "Zs"]), max_size=8),
)
ID_PREFIXES = ["page", "svc", "grp", "inc", "mnt", "mon", "key", "org", "bkey", "met", "png", "aud"]
IDS = st.one_of(STRINGS, st.tuples(st.sampled_from(ID_PREFIXES), STRINGS).map("_".join))
INTS = st.one_of(
    st.integers(-5, 200),
    st.sampled_from([0, -1, 2**31 - 1, 2**31, -(2**31) - 1, 2**63, 10**30]),
    st.integers(),
)
FLOATS = st.one_of(st.floats(allow_nan=False), st.sampled_from([0.5, -0.0, 1e308, 1e-308]))
DATETIMES = st.one_of(
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda moment: moment.isoformat()),
    st.sampled_from(
        [
            "2026-03-02T09:00:00",
            "2026-03-02T09:00:00Z",
            "2026-03-02",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "9999-12-31T23:59:59.999999+00:00",
            "2026-02-30T00:00:00Z",
            "2026-03-02T09:00:00+25:00",
            "yesterday",
        ]
    ),
    STRINGS,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INTS | FLOATS | STRINGS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(STRINGS, children, max_size=4)
    ),
    max_leaves=12,
)
# Deeper than json_input's bound (64 levels), as graphql variables nest them.
DEEP = st.integers(60, 200).map(lambda depth: json.loads("[" * depth + "]" * depth))
# one_of draws each branch about as often: containers, where a scalar is expected,
# are what broke hand-written type checks ({"status": []}).
WRONG_SHAPES = st.one_of(
    st.sampled_from([None, [], {}, 0, True, ""]),
    st.lists(JSON_VALUES, min_size=1, max_size=3),
    st.dictionaries(STRINGS, JSON_VALUES, min_size=1, max_size=3),
    JSON_VALUES,
    DEEP,
)


def scalar(type_: GraphQLScalarType) -> st.SearchStrategy[Any]:
    right = {
        "String": STRINGS,
        "ID": IDS,
        "Int": INTS,
        "Float": st.one_of(FLOATS, INTS),
        "Boolean": st.booleans(),
        "DateTime": DATETIMES,
        "JSON": JSON_VALUES,
    }.get(type_.name, JSON_VALUES)
    return right


def value(type_: GraphQLInputType, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for `type_`: mostly of its shape (one wrong argument is refused before
    the others reach a resolver), sometimes of any other."""
    if depth >= 4:
        return JSON_VALUES
    shaped = _shaped(type_, depth)
    return st.integers(0, 9).flatmap(lambda roll: WRONG_SHAPES if roll == 0 else shaped)


def _shaped(type_: GraphQLInputType, depth: int) -> st.SearchStrategy[Any]:
    if isinstance(type_, GraphQLNonNull):
        return _shaped(type_.of_type, depth)
    if isinstance(type_, GraphQLList):
        return st.lists(value(type_.of_type, depth + 1), max_size=5)
    if isinstance(type_, GraphQLEnumType):
        return st.one_of(st.sampled_from(list(type_.values)), STRINGS)
    if isinstance(type_, GraphQLScalarType):
        return scalar(type_)
    assert isinstance(type_, GraphQLInputObjectType)
    fields = {name: value(field.type, depth + 1) for name, field in type_.fields.items()}
    required = {
        name: fields[name]
        for name, field in type_.fields.items()
        if isinstance(field.type, GraphQLNonNull) and field.default_value is None
    }
    optional = {name: strategy for name, strategy in fields.items() if name not in required}
    return st.fixed_dictionaries(required, optional=optional)


@dataclass(frozen=True)
class RootField:
    operation: str  # "query" or "mutation"
    name: str
    field: GraphQLField

    def __str__(self) -> str:
        return f"{self.operation}.{self.name}"

    def document(self) -> str:
        """A valid document that passes every argument as a variable of its own type."""
        declared = ", ".join(f"${arg}: {spec.type}" for arg, spec in self.field.args.items())
        passed = ", ".join(f"{arg}: ${arg}" for arg in self.field.args)
        selection = "" if is_leaf_type(get_named_type(self.field.type)) else " { __typename }"
        return f"{self.operation}({declared}) {{ {self.name}({passed}){selection} }}"

    def variables(self) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {arg: value(spec.type) for arg, spec in self.field.args.items()}
        )


def root_fields() -> list[RootField]:
    graphql_schema = schema._schema
    roots = [("query", graphql_schema.query_type), ("mutation", graphql_schema.mutation_type)]
    return [
        RootField(operation, name, field)
        for operation, root in roots
        if root is not None
        for name, field in root.fields.items()
        if field.args  # a field without arguments has no input to fuzz
    ]
