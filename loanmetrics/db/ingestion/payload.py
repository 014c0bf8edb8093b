"""Parse an ETL request body into raw record lists, keeping every decimal exact.

Decimals are parsed by jiter straight to ``Decimal`` (never through a float). Shape errors are
the caller's fault as a whole (400); record errors are reported per record later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import jiter

ENTITIES = ("officers", "customers", "loans", "loan_schedules", "repayments")
SYNC_TYPES = ("incremental", "full")


class PayloadError(Exception):
    """The body as a whole is unusable: 400 VALIDATION_ERROR, or 413 when too large."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


@dataclass
class Payload:
    """One batch: its raw records per entity, in the SPEC §4 envelope."""

    sync_type: str = "incremental"
    sync_timestamp: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    records: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def record_count(self) -> int:
        return sum(len(items) for items in self.records.values())


def parse_body(body: bytes, *, max_records: int) -> Payload:
    """Bytes -> Payload, or PayloadError naming what is wrong."""
    return payload_from_document(decode_json(body), max_records=max_records)


def decode_json(body: bytes) -> Any:
    """One JSON document, decimals exact; PayloadError when malformed."""
    try:
        return jiter.from_json(body, float_mode="decimal")
    except ValueError as exc:
        return _with_unencodable_text(body, exc)


# jiter's complaints about text it cannot decode: bytes that are not UTF-8, escapes of lone surrogates
_TEXT_FAULTS = ("unicode", "surrogate", "hex escape")


def _with_unencodable_text(body: bytes, error: ValueError) -> Any:
    """A body whose only fault is text that is not valid Unicode (bytes that are not UTF-8, an
    escaped lone surrogate such as ``\\ud800``) is read by the standard parser instead, the
    undecodable bytes kept as lone surrogates: the record holding such a string is rejected on its
    own (INVALID_TEXT) and the rest of the batch commits. Anything else is a malformed body (400)."""
    if not any(fault in str(error) for fault in _TEXT_FAULTS):
        raise PayloadError(f"body is not valid JSON: {error}") from None
    try:
        return json.loads(body.decode("utf-8", "surrogateescape"), parse_float=Decimal,
                          parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise PayloadError(f"body is not valid JSON: {error}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def payload_from_document(document: Any, *, max_records: int, whole: str = "body") -> Payload:
    """Check the envelope's shape (already-parsed JSON) and collect the record lists. ``whole``
    names the document in the first message: the HTTP body, a file, a line of a file."""
    if not isinstance(document, dict):
        raise PayloadError(
            f"{whole} must be a JSON object (an ETL payload: {{\"sync_type\": ..., \"data\": {{\"loans\": [...]}}}})"
        )
    sync_type = document.get("sync_type", "incremental")
    if sync_type not in SYNC_TYPES:
        raise PayloadError("sync_type must be 'incremental' or 'full'", field="sync_type")
    timestamp = document.get("sync_timestamp")
    if timestamp is not None and not isinstance(timestamp, str):
        raise PayloadError("sync_timestamp must be a string", field="sync_timestamp")
    metadata = document.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise PayloadError("metadata must be an object", field="metadata")
    data = document.get("data")
    if not isinstance(data, dict):
        raise PayloadError("data must be an object holding the record lists", field="data")
    unknown = sorted(set(data) - set(ENTITIES))
    if unknown:
        raise PayloadError(f"unknown entity list {unknown[0]!r}", field=f"data.{unknown[0]}")
    records: dict[str, list[Any]] = {}
    for entity in ENTITIES:
        items = data.get(entity)
        if items is None:
            continue
        if not isinstance(items, list):
            raise PayloadError(f"data.{entity} must be a list", field=f"data.{entity}")
        records[entity] = items
    payload = Payload(sync_type=sync_type, sync_timestamp=timestamp, metadata=metadata, records=records)
    if payload.record_count > max_records:
        raise PayloadError(
            f"batch holds {payload.record_count} records; the limit is {max_records}: split it",
            status=413,
        )
    return payload
