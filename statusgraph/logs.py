"""Logging for every process role (serve and its workers, worker, the command line): one
configuration, text or JSON lines (STATUSGRAPH_LOG_FORMAT) on stderr, and the request id
on every line logged while a request is being answered.

The request id travels in a context variable: the HTTP edge sets it for the duration of
a request (http.middleware), and anything below, whatever its layer, logs inside that
context without knowing about HTTP. A record may also carry its own `request_id` (the
access line is written outside that context, once the response is complete).

Only the standard library is imported here: the command line loads this module before
it knows which command it runs.
"""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

current_request_id: ContextVar[str | None] = ContextVar("statusgraph_request_id", default=None)


class TextFormatter(logging.Formatter):
    """`2026-11-28 03:31:29,123 INFO statusgraph.http: message request_id=…`"""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        # A record that brings its own request id (the access line) prints it in its
        # message already; the others get the one of the request they were logged in.
        if getattr(record, "request_id", None) is None:
            request_id = current_request_id.get()
            if request_id is not None:
                return f"{line} request_id={request_id}"
        return line


class JSONFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message, and
    request_id, exc_info and stack_info when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        request_id = getattr(record, "request_id", None) or current_request_id.get()
        if request_id is not None:
            entry["request_id"] = str(request_id)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        # ASCII escapes: a message's newlines or odd characters never break the line, and
        # the line survives a stderr that is not UTF-8.
        return json.dumps(entry)


def _message(record: logging.LogRecord) -> str:
    """The record's message; its template alone, marked, when its arguments don't fit it.
    Left to the handler, a bad `%` in a log call printed logging's multi-line "--- Logging
    error ---" report to stderr, and stderr stopped being one JSON object per line."""
    try:
        return record.getMessage()
    except (TypeError, ValueError, KeyError) as error:
        return f"{record.msg} (log arguments did not fit the message: {error})"


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when a record arrives, not to the one there was
    at configuration time (a test's captured stream may be closed by then)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(log_format: str, level: str) -> None:
    """Sends every logger's records (ours, uvicorn's, the libraries') through one stderr
    handler in `log_format`, at `level` and above. Calling it again replaces what the
    previous call installed, nothing else: `serve` calls it, then the app factory in
    each uvicorn worker process."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    handler = StderrHandler()
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for previous in [each for each in root.handlers if isinstance(each, StderrHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic announces each of its plugins at INFO, seven lines at every start; what
    # matters of it (`Running upgrade …`) comes from alembic.runtime.migration.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
