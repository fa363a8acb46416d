"""Automatic persisted queries: Apollo's APQ protocol (docs/graphql.md, "Persisted queries").

A client sends `extensions.persistedQuery = {version: 1, sha256Hash}` and no `query`;
the server answers from the document it remembers under that hash, or with
`PersistedQueryNotFound`, and the client then sends the hash with the document, which
the server checks, runs and remembers. Documents are short and hashes stable, so a GET
with a hash makes a URL that HTTP caches (and ETags, http/conditional.py) can use.

The documents live in each process's memory, least recently used first out: a process
that has not seen a hash answers `PersistedQueryNotFound` and the client sends the
document once more, which the protocol expects. A document is remembered only once it
parsed and validated, so the store holds nothing that could not run.
"""

import hashlib
import hmac
import re
from collections import OrderedDict
from typing import Any

VERSION = 1
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
NOT_FOUND = "PersistedQueryNotFound"
NOT_SUPPORTED = "PersistedQueryNotSupported"
# A longer document still runs but is not remembered (its client sends it each time):
# 1,000 entries stay under ~16 MB whoever fills them. Real documents are a few kB.
MAX_REMEMBERED_CHARS = 16 * 1024


class PersistedQueryError(Exception):
    def __init__(self, message: str, code: str, request_error: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        # A request error (the document is unknown here) rather than a malformed request.
        self.request_error = request_error


class PersistedQueries:
    """sha256 (hex) -> document, at most `max_entries` of them."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._documents: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    def lookup(self, sha256: str) -> str | None:
        document = self._documents.get(sha256)
        if document is not None:
            self._documents.move_to_end(sha256)
        return document

    def remember(self, sha256: str, document: str) -> None:
        if len(document) > MAX_REMEMBERED_CHARS:
            return
        self._documents[sha256] = document
        self._documents.move_to_end(sha256)
        while len(self._documents) > self.max_entries:
            self._documents.popitem(last=False)


def _is_version(value: Any) -> bool:
    return type(value) is int and value == VERSION  # True == 1 in Python: not a version


def requested_hash(extensions: Any) -> str | None:
    """The hash a request's `extensions` names; None when it names none."""
    if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict) or not _is_version(persisted.get("version")):
        raise PersistedQueryError("Unsupported persisted query version", "BAD_REQUEST")
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
        raise PersistedQueryError(
            "persistedQuery.sha256Hash must be 64 lowercase hexadecimal characters",
            "BAD_REQUEST",
        )
    return sha256


# What resolve() made of a request: (document, hash to remember) or the error to answer.
Resolution = tuple[str | None, str | None] | PersistedQueryError


def resolution(store: PersistedQueries | None, query: Any, extensions: Any) -> Resolution:
    """resolve(), its error as a value; a `query` that is not a string counts as none
    (the endpoint refuses such a request before it uses this)."""
    try:
        return resolve(store, query if isinstance(query, str) else None, extensions)
    except PersistedQueryError as error:
        return error


def resolve(
    store: PersistedQueries | None, query: str | None, extensions: Any
) -> tuple[str | None, str | None]:
    """(the document to run, the hash to remember it under once it validated).

    Without a persisted query the request's own `query` (None if it sent none) and no
    hash. Raises PersistedQueryError for a hash this process does not know, one that
    does not match the document sent with it, or a malformed extension."""
    sha256 = requested_hash(extensions)
    if sha256 is None:
        return query, None
    if store is None:
        raise PersistedQueryError(NOT_SUPPORTED, "PERSISTED_QUERY_NOT_SUPPORTED", True)
    if query is None:
        document = store.lookup(sha256)
        if document is None:
            raise PersistedQueryError(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND", True)
        return document, None
    actual = hashlib.sha256(query.encode()).hexdigest()
    if not hmac.compare_digest(actual, sha256):
        raise PersistedQueryError("provided sha does not match query", "BAD_REQUEST")
    return query, sha256
