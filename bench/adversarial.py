"""Adversarial GraphQL documents, each pushed up to the default limits (DESIGN §6):
2,000 tokens, 64 KiB, depth 10, 15 aliases, 1,000 expanded selections. Shared by
bench/query_analysis.py and the test that keeps the worst case bounded.

Each is a document an anonymous caller may send: analysis runs before any credential
matters. Where a shape can go past a limit, two variants are made: one just inside (it
is analysed in full) and one past it (it must be refused cheaply).
"""

from collections.abc import Callable

from graphql import Lexer, Source, TokenKind

MAX_TOKENS = 2000
MAX_SELECTIONS = 1000


def repeated_field(count: int) -> str:
    """The quadratic case of graphql-core's field-merging rule: one field many times."""
    return "{ " + " ".join(["viewer { name }"] * count) + " }"


def repeated_leaf(count: int) -> str:
    return "{ " + " ".join(["__typename"] * count) + " }"


def repeated_variants(count: int) -> str:
    """Fields with one response name whose sub-selections all differ: nothing to
    deduplicate, every one must be merged with the others."""
    leaves = ["name", "id", "slug", "plan", "createdAt"]
    parts = []
    for index in range(count):
        picked = " ".join(leaves[(index + step) % len(leaves)] for step in range(1 + index % 3))
        parts.append(f"viewer {{ organization {{ {picked} }} }}")
    return "{ " + " ".join(parts) + " }"


def doubling_fragments(levels: int) -> str:
    """Each fragment spreads the previous one twice, one level deeper each time: the
    expanded document doubles with every fragment (the old cost walker re-walked every
    spread: exponential time)."""
    fragments = ["fragment F0 on Viewer { name }"]
    for level in range(1, levels + 1):
        fragments.append(
            f"fragment F{level} on Viewer {{ ...F{level - 1} organization {{ name }}"
            f" a{level}: organization {{ id }} ...F{level - 1} }}"
        )
    return f"{{ viewer {{ ...F{levels} }} }} " + " ".join(fragments)


def fragment_chain(length: int) -> str:
    """A long chain of fragments, each spreading the next: recursion depth, not size."""
    fragments = [
        f"fragment C{index} on Viewer {{ name ...C{index + 1} }}" for index in range(length)
    ]
    fragments.append(f"fragment C{length} on Viewer {{ name }}")
    return "{ viewer { ...C0 } } " + " ".join(fragments)


def fragment_fan(width: int) -> str:
    """Many fragments spread side by side into one selection, all of the same field:
    graphql-core compares every pair of fragments."""
    spreads = " ".join(f"...P{index}" for index in range(width))
    fragments = " ".join(
        f"fragment P{index} on Query {{ viewer {{ name }} }}" for index in range(width)
    )
    return f"{{ {spreads} }} {fragments}"


def directive_flood(count: int) -> str:
    return "{ viewer " + " ".join(["@include(if: true)"] * count) + " { name } }"


def variable_flood(count: int) -> str:
    definitions = ", ".join(f"$v{index}: Int" for index in range(count))
    return f"query Q({definitions}) {{ viewer {{ name }} }}"


def many_operations(count: int) -> str:
    return " ".join(f"query Q{index} {{ viewer {{ name }} }}" for index in range(count))


def conflicting_arguments(count: int) -> str:
    """Every pair conflicts: graphql-core reports until its error limit."""
    return (
        "{ " + " ".join(f'publicStatusPage(slug: "s{i}") {{ name }}' for i in range(count)) + " }"
    )


def abstract_parents(count: int) -> str:
    """Fields under an interface and under each of its object types at once: the
    fields of the interface meet those of every object type."""
    types = [
        "Service",
        "Incident",
        "Monitor",
        "StatusPage",
        "MaintenanceWindow",
        "ApiKey",
        "Metric",
        "ServiceGroup",
    ]
    inline = " ".join(f"... on {name} {{ id }}" for name in types)
    return "{ " + " ".join([f'node(id: "x") {{ id {inline} }}'] * count) + " }"


NODE_TYPES = [
    "Service",
    "Monitor",
    "Incident",
    "StatusPage",
    "ApiKey",
    "ServiceGroup",
    "Organization",
    "MaintenanceWindow",
    "Metric",
    "AuditEvent",
    "BeaconKey",
    "HeartbeatPing",
]


def nested_abstract(levels: int, kinds: int = 12) -> str:
    """At every level, a field under an abstract parent next to the same field under
    `kinds` object types: merging groups naively checks the abstract field's subtree
    once per object type per level (kinds^levels), while it selects ~50 fields."""

    def level(depth: int) -> str:
        if depth == 0:
            return "id"
        objects = " ".join(f"... on {name} {{ id }}" for name in NODE_TYPES[:kinds])
        return f"... on Node {{ id {{ {level(depth - 1)} }} }} {objects}"

    return f'{{ node(id: "x") {{ {level(levels)} }} }}'


def wide_and_deep(width: int) -> str:
    """`width` leaves in one selection set, next to repeated parents."""
    leaves = " ".join(["name"] * width)
    return (
        "{ viewer { organization { name } } a: viewer { organization { name } } "
        "viewer { organization { " + leaves + " } } }"
    )


def at_the_alias_limit() -> str:
    return "{ " + " ".join(f"a{index}: viewer {{ name }}" for index in range(15)) + " }"


def deep_introspection(levels: int) -> str:
    """Introspection nested through fragments: not counted for depth, as GraphiQL's own
    query is deep; bounded by the expanded selections instead."""
    fragments = [
        f"fragment T{i} on __Type {{ name ofType {{ ...T{i + 1} }} }}" for i in range(levels)
    ]
    fragments.append(f"fragment T{levels} on __Type {{ name }}")
    return '{ __type(name: "Query") { ...T0 } } ' + " ".join(fragments)


def tokens(query: str) -> int:
    """Lexical tokens as the parser counts them for its limit."""
    lexer = Lexer(Source(query))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def largest(make: Callable[[int], str], limit: int = MAX_TOKENS) -> str:
    """`make(n)` for the largest n whose document still fits in `limit` tokens."""
    low, high = 1, 1
    while tokens(make(high * 2)) <= limit:
        high *= 2
    high *= 2
    while high - low > 1:
        middle = (low + high) // 2
        if tokens(make(middle)) <= limit:
            low = middle
        else:
            high = middle
    return make(low)


# name -> the document. Each fills the token limit unless its name says otherwise.
DOCUMENTS: dict[str, Callable[[], str]] = {
    "one field, repeated": lambda: largest(repeated_field),
    "__typename x1,000": lambda: repeated_leaf(1000),
    "__typename, repeated (past the bound)": lambda: largest(repeated_leaf),
    "one field, different sub-selections": lambda: largest(repeated_variants),
    "doubling fragments x6 (past the aliases)": lambda: doubling_fragments(6),
    "doubling fragments x40 (2^40 expanded)": lambda: doubling_fragments(40),
    "fragment chain": lambda: largest(fragment_chain),
    "fragment fan": lambda: largest(fragment_fan),
    "directives": lambda: largest(directive_flood),
    "variables": lambda: largest(variable_flood),
    "operations": lambda: largest(many_operations),
    "conflicting arguments": lambda: largest(conflicting_arguments),
    "interface + 8 object types": lambda: largest(abstract_parents),
    "interface + 12 object types, nested": lambda: largest(nested_abstract),
    "leaves under one field (past the bound)": lambda: largest(wide_and_deep),
    "15 aliases": at_the_alias_limit,
    "introspection through fragments": lambda: largest(deep_introspection),
}
