"""JSON log lines carrying the request id, so a client-visible id finds the full server-side detail.

The lines come from python-json-logger's orjson formatter: time, level, logger, message, the
request id of the request being served, then any ``extra`` fields. uvicorn's ``color_message``
extra (its start-up lines with terminal colour codes) is kept out.
"""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

UNLOGGED_EXTRAS = ("color_message",)
"""Extras other libraries attach that a JSON line should not carry."""


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being served (when there is one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per line: time, level, logger, message, request_id and any extras."""
    return OrjsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        reserved_attrs=[*RESERVED_ATTRS, *UNLOGGED_EXTRAS],
    )


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Route the root logger to stderr in the configured format (called once per process)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if json_lines:
        handler.setFormatter(json_formatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # No line prints thread or process names: skip looking them up for every record (the access
    # line is written for every request)
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
