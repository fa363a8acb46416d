"""Request JSON, decoded in one place for `/graphql` and the REST routes (DESIGN §5).

orjson already refuses what Python's json module lets through and the layers below
cannot take: a lone surrogate (`"\\ud800"`: neither asyncpg nor SQLite's UTF-8 codec can
encode it, nor can the JSON response that would echo it), invalid UTF-8, NaN and
Infinity; it stops at 1,024 levels of nesting. On top of that, two rules of our own:

- at most MAX_DEPTH levels of nesting: far above any input of ours, far below the
  recursion limit that graphql-core's coercion and the json encoder of a JSON column
  would otherwise hit (a RecursionError, a 500);
- no NUL character (U+0000) in any string or key: PostgreSQL's text and jsonb cannot
  hold it, so it would be a 500 there and stored on SQLite, the same input answered
  two ways.

Problems inside a value are reported with the value's path (`events[0].name`), so the
message names the field.
"""

import json
import re
from typing import Any

import orjson

MAX_DEPTH = 64

NOT_JSON = "is not valid JSON"
NOT_UTF8 = "is not valid UTF-8"
TOO_DEEP = f"nests deeper than {MAX_DEPTH} levels"
SURROGATE = "must not contain lone surrogates"
NUL = "must not contain NUL characters"

# What no string may hold: NUL, and (for the fallback decoder) lone surrogates.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

Path = tuple[str | int, ...]


class JSONInputError(ValueError):
    """`problem` (a predicate: "is not valid JSON") of the value at `path`, () being
    the whole document."""

    def __init__(self, problem: str, path: Path = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = path

    def message(self, subject: str) -> str:
        """The sentence for a client: `subject` stands for the whole document."""
        return f"{format_path(self.path) or subject} {self.problem}"


def format_path(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def loads(raw: bytes | str) -> Any:
    """The decoded document, or JSONInputError saying what is wrong and where."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        reason = str(error)
        if "depth limit" in reason:
            raise JSONInputError(TOO_DEEP) from None
        if "surrogate" in reason:  # orjson's word for invalid UTF-8, too
            raise _locate_surrogate(raw) from None
        raise JSONInputError(NOT_JSON) from None
    # Cheap guards first: nearly every body (every ping) has few brackets and no NUL
    # escape, and skips the walk. A NUL can only arrive escaped: a raw one is not JSON.
    nul = "\\u0000" in raw if isinstance(raw, str) else b"\\u0000" in raw
    if nul or _brackets(raw) > MAX_DEPTH:
        _check(data, (), nul=nul)
    return data


def _brackets(raw: bytes | str) -> int:
    if isinstance(raw, str):
        return raw.count("{") + raw.count("[")
    return raw.count(b"{") + raw.count(b"[")


def _check(value: Any, path: Path, *, nul: bool) -> None:
    """Raises for the first container deeper than MAX_DEPTH or, when `nul`, the first
    string or key holding U+0000 (or a lone surrogate, for _locate_surrogate)."""
    if isinstance(value, dict | list):
        if len(path) >= MAX_DEPTH:
            raise JSONInputError(TOO_DEEP)
        items: Any = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if nul and isinstance(key, str) and UNSTORABLE.search(key):
                raise JSONInputError(_problem(key), path)
            _check(item, (*path, key), nul=nul)
    elif nul and isinstance(value, str) and UNSTORABLE.search(value):
        raise JSONInputError(_problem(value), path)


def _problem(text: str) -> str:
    return NUL if "\x00" in text else SURROGATE


def _locate_surrogate(raw: bytes | str) -> JSONInputError:
    """orjson says only that some string is not valid Unicode. Python's decoder takes
    lone surrogates, so it finds which (a rare path: its cost does not matter)."""
    try:
        _check(json.loads(raw), (), nul=True)
    except JSONInputError as error:
        return error
    except (ValueError, RecursionError):  # invalid UTF-8 bytes, or too deep to say
        pass
    return JSONInputError(NOT_UTF8)
