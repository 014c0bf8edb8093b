"""Stream ETL payload files into bounded batches for ``loanmetrics ingest``.

A JSON file holding one (possibly huge) payload is read once per entity list with ijson, in
dependency order, so memory stays bounded whatever the file size; newline-delimited JSON holds
one payload per line. Either way the batches keep a loan's schedule rows together.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from loanmetrics.db.ingestion.payload import ENTITIES, Payload, PayloadError, decode_json, payload_from_document


@dataclass
class Chunk:
    """One batch to ingest, and how far through its file the reader is (for the progress bar)."""

    payload: Payload
    position: int


def batches(
    entity_records: Iterable[tuple[str, Any]], *, batch_records: int, sync_type: str = "incremental"
) -> Iterator[Payload]:
    """Group ``(entity, record)`` pairs, already in dependency order, into payloads.

    A batch closes at ``batch_records`` records, except that schedule rows of one loan are never
    split (SPEC §4: a loan's rows in a batch replace its whole schedule).
    """
    current: dict[str, list[Any]] = {}
    count = 0
    last_schedule_loan: Any = None
    batch_schedule_loans: set[Any] = set()
    flushed_schedule_loans: set[Any] = set()  # loan ids only: memory grows with loans, not rows
    for entity, record in entity_records:
        loan_id = record.get("loan_id") if entity == "loan_schedules" and isinstance(record, dict) else None
        at_loan_boundary = entity != "loan_schedules" or loan_id != last_schedule_loan
        if count >= batch_records and at_loan_boundary:
            yield Payload(sync_type="incremental", records=current)
            flushed_schedule_loans |= batch_schedule_loans
            current, count, batch_schedule_loans = {}, 0, set()
        if entity == "loan_schedules":
            batch_schedule_loans.add(loan_id)
            if loan_id in flushed_schedule_loans:
                raise PayloadError(
                    f"schedule rows of loan {loan_id} are not contiguous in the file; "
                    "group each loan's rows together so its schedule is replaced whole"
                )
            last_schedule_loan = loan_id
        current.setdefault(entity, []).append(record)
        count += 1
    yield Payload(sync_type=sync_type, records=current)


def read_json_file(path: Path, *, batch_records: int) -> Iterator[Chunk]:
    """One payload per file, streamed entity by entity (five passes, constant memory), after a
    first pass that checks the whole file: malformed JSON or a document that is not a payload is
    refused before any batch is written."""
    size = max(path.stat().st_size, 1)
    with path.open("rb") as handle:
        sync_type = check_json_file(handle).sync_type
        passes = len(ENTITIES)

        def records() -> Iterator[tuple[str, Any]]:
            for entity in ENTITIES:
                handle.seek(0)
                try:
                    for record in ijson.items(handle, f"data.{entity}.item", use_float=False):
                        yield entity, record
                except ijson.JSONError as exc:  # malformed, or bytes that are not UTF-8
                    raise PayloadError(f"not valid JSON: {_yajl_reason(exc)}") from None

        for payload in batches(records(), batch_records=batch_records, sync_type=sync_type):
            index = ENTITIES.index(_last_entity(payload)) if payload.records else passes - 1
            yield Chunk(payload, round((index + handle.tell() / size) / passes * size))


_RECORD_PREFIXES = tuple(f"data.{entity}.item" for entity in ENTITIES)


def check_json_file(handle: BinaryIO) -> Payload:
    """Read the whole file once: its envelope (everything but the records) checked by the same
    rules as an HTTP body, so ``[]`` or ``{"hello": 1}`` is refused as the route refuses it (400).
    Returns the envelope with empty record lists; the handle is left at the start."""
    builder = ijson.ObjectBuilder()
    try:
        for prefix, event, value in ijson.parse(handle, use_float=False):
            if not prefix.startswith(_RECORD_PREFIXES):
                builder.event(event, value)
    except ijson.JSONError as exc:
        raise PayloadError(f"not valid JSON: {_yajl_reason(exc)}") from None
    finally:
        handle.seek(0)
    return payload_from_document(builder.value, max_records=sys.maxsize, whole="the file")


def _yajl_reason(exc: Exception) -> str:
    """yajl's multi-line message as one line: the reason and the text around the error."""
    text = exc.args[0] if exc.args else exc
    if isinstance(text, bytes):  # yajl's C backend reports bytes
        text = text.decode("utf-8", "replace")
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    reason = lines[0] if lines else "malformed"
    if len(lines) > 1 and "(right here)" not in lines[1]:
        reason += f", near: {lines[1][:60]}"
    if "trailing garbage" in reason:
        reason += " (a .json file holds one payload; name a file of one payload per line .ndjson)"
    return reason


def read_ndjson_file(path: Path, *, batch_records: int, max_records: int) -> Iterator[Chunk]:
    """One payload per line; a line larger than a batch is split the same dependency-safe way.
    Every line is checked before the first batch is written."""
    with path.open("rb") as handle:
        for _number, _document in _ndjson_payloads(handle, max_records):
            pass
        handle.seek(0)
        for _number, payload in _ndjson_payloads(handle, max_records):
            pairs = ((entity, record) for entity in ENTITIES for record in payload.records.get(entity, []))
            for part in batches(pairs, batch_records=batch_records, sync_type=payload.sync_type):
                yield Chunk(part, handle.tell())


def _ndjson_payloads(handle: BinaryIO, max_records: int) -> Iterator[tuple[int, Payload]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            document = decode_json(line.strip())  # text that is not Unicode: rejected per record
        except PayloadError as exc:
            reason = exc.message.removeprefix("body is not valid JSON: ").replace(" at line 1 column ", " at column ")
            raise PayloadError(f"line {number} is not valid JSON: {reason}") from None
        try:
            payload = payload_from_document(document, max_records=max_records, whole="the line")
        except PayloadError as exc:
            raise PayloadError(f"line {number}: {exc.message}", field=exc.field, status=exc.status) from None
        yield number, payload


def read_file(path: Path, *, batch_records: int, max_records: int) -> Iterator[Chunk]:
    if path.suffix in {".ndjson", ".jsonl"}:
        return read_ndjson_file(path, batch_records=batch_records, max_records=max_records)
    return read_json_file(path, batch_records=batch_records)


def _last_entity(payload: Payload) -> str:
    return [entity for entity in ENTITIES if entity in payload.records][-1]
