"""Per-record validation of a batch, with error codes and field paths (SPEC §4).

Phase one needs only the batch (types, in-record rules, conflicting duplicates); phase two needs
the disbursement dates of the loans the batch references, which the caller reads from the
database inside the batch's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError

from loanmetrics.db.ingestion import rules
from loanmetrics.db.ingestion.payload import ENTITIES, Payload
from loanmetrics.db.ingestion.records import (
    MONEY_FIELDS,
    CustomerRecord,
    LoanRecord,
    OfficerRecord,
    Record,
    RepaymentRecord,
    ScheduleRecord,
    printable,
    storable_text,
)
from loanmetrics.db.ingestion.rules import Violation


@dataclass(frozen=True)
class Entity:
    """How one entity list is keyed, validated and named in errors."""

    name: str
    entity_type: str
    model: type[Record]
    key_fields: tuple[str, ...]
    rule: Callable[[Any, date], list[rules.Violation]]

    def raw_key(self, raw: Any) -> Hashable | None:
        """The record's key as sent, or None when it has no usable one (its type error says why)."""
        if not isinstance(raw, dict):
            return None
        values = tuple(raw.get(name) for name in self.key_fields)
        return values if all(isinstance(value, str | int) for value in values) else None

    def entity_id(self, raw: Any) -> str | None:
        key = self.raw_key(raw)
        return None if key is None else printable("#".join(str(part) for part in cast(tuple[Any, ...], key)))


ENTITY_SPECS: dict[str, Entity] = {
    "officers": Entity("officers", "officer", OfficerRecord, ("officer_id",), rules.no_rules),
    "customers": Entity("customers", "customer", CustomerRecord, ("customer_id",), rules.no_rules),
    "loans": Entity("loans", "loan", LoanRecord, ("loan_id",), rules.loan_rules),
    "loan_schedules": Entity(
        "loan_schedules", "loan_schedule", ScheduleRecord, ("loan_id", "installment_number"),
        rules.schedule_rules,
    ),
    "repayments": Entity("repayments", "repayment", RepaymentRecord, ("repayment_id",), rules.repayment_rules),
}

_ADAPTERS = {name: TypeAdapter(list[spec.model]) for name, spec in ENTITY_SPECS.items()}  # type: ignore[name-defined]

_MONEY_CODES = {
    "greater_than_equal": "NEGATIVE_AMOUNT",
    "less_than_equal": "AMOUNT_TOO_LARGE",
    "decimal_max_places": "NOT_WHOLE_CENTS",
    "decimal_parsing": "INVALID_AMOUNT",
    "decimal_type": "INVALID_AMOUNT",
    "finite_number": "INVALID_AMOUNT",
    "decimal_max_digits": "AMOUNT_TOO_LARGE",
    "decimal_whole_digits": "AMOUNT_TOO_LARGE",
}
_PYDANTIC_CODES = {
    "missing": "MISSING_FIELD",
    "string_type": "INVALID_TYPE",
    "bool_type": "INVALID_TYPE",
    "int_type": "INVALID_TYPE",
    "int_parsing": "INVALID_TYPE",
    "int_from_float": "INVALID_TYPE",
    "model_type": "INVALID_RECORD",
    "model_attributes_type": "INVALID_RECORD",
    "dict_type": "INVALID_RECORD",
    "greater_than_equal": "OUT_OF_RANGE",
    "less_than_equal": "OUT_OF_RANGE",
    "string_too_short": "EMPTY_VALUE",
    "string_too_long": "TOO_LONG",
    "string_pattern_mismatch": "INVALID_TEXT",
    "string_unicode": "INVALID_TEXT",
}
_MESSAGES = {"INVALID_TEXT": "must be valid UTF-8 text without NUL characters"}


# Where an error sits in the response, whatever order the chunks were checked in: phase one
# entity by entity (types, then rules, then duplicates), then phase two (later disbursements,
# schedule references, repayment references, incomplete schedules); by position within each.
TYPES, RULES, DUPLICATES = 0, 1, 2
LATER, SCHEDULE_REFERENCES, PAYMENT_REFERENCES, INCOMPLETE = 0, 1, 2, 3
Stage = tuple[int, int, int]


def phase_one_stage(entity: Entity, step: int) -> Stage:
    return (0, ENTITIES.index(entity.name), step)


def phase_two_stage(step: int) -> Stage:
    return (1, step, 0)


@dataclass(frozen=True)
class RecordError:
    """One rejected record: what, which, where and why (the SPEC §4 error shape)."""

    entity_type: str
    entity_id: str | None
    field: str
    error_code: str
    error_message: str
    order: tuple[int, int, int, int] = (0, 0, 0, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "field": self.field,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


@dataclass
class ValidatedBatch:
    """Accepted records per entity (duplicates merged), the rejected positions and their errors."""

    raw: dict[str, list[Any]] = field(default_factory=dict)
    accepted: dict[str, list[tuple[int, Any]]] = field(default_factory=lambda: {name: [] for name in ENTITIES})
    rejected: dict[str, set[int]] = field(default_factory=lambda: {name: set() for name in ENTITIES})
    errors: list[RecordError] = field(default_factory=list)

    @classmethod
    def of(cls, payload: Payload) -> ValidatedBatch:
        """A batch with its raw record lists and nothing checked yet."""
        return cls(raw={name: payload.records.get(name, []) for name in ENTITIES})

    def valid(self, entity: str) -> list[Any]:
        return [record for _, record in self.accepted.get(entity, [])]

    def failed(self, entity: str) -> int:
        return len(self.rejected[entity])

    def reject(
        self, entity: Entity, index: int, field_name: str, code: str, message: str, *, stage: Stage,
        position: int | None = None,
    ) -> None:
        raw = self.raw[entity.name][index]
        path = f"data.{entity.name}[{index}]" + (f".{field_name}" if field_name else "")
        order = (*stage, index if position is None else position)
        self.errors.append(RecordError(entity.entity_type, entity.entity_id(raw), path, code, message, order))
        self.rejected[entity.name].add(index)

    def ordered_errors(self) -> list[RecordError]:
        """The errors in response order (a stable sort keeps a record's own errors in field order)."""
        return sorted(self.errors, key=lambda error: error.order)

    def named_loan_ids(self) -> list[str]:
        """Every loan id the batch's records name, as sent: the loans whose stored disbursement
        dates phase two may need (a superset is harmless). These are looked up before the records
        are validated, so only text PostgreSQL can hold is sent."""
        named: set[str] = set()
        for name in ("loans", "loan_schedules", "repayments"):
            for raw in self.raw[name]:
                if isinstance(raw, dict):
                    loan_id = raw.get("loan_id")
                    if isinstance(loan_id, str) and storable_text(loan_id):  # the others fail as INVALID_TEXT
                        named.add(loan_id)
        return sorted(named)


def chunks(batch: ValidatedBatch, name: str, size: int) -> list[list[int]] | None:
    """The entity's record positions in chunks of about ``size`` that can be checked and written
    one after another, or None when a key repeats (duplicates are judged across the whole list).

    The first chunk is a quarter of the others: nothing hides its check, every later one is
    checked while the chunk before it is written. Schedule rows are chunked by loan, so a loan's
    schedule is replaced (or rejected) whole."""
    entity = ENTITY_SPECS[name]
    raws = batch.raw[name]
    keys = [key for key in map(entity.raw_key, raws) if key is not None]
    if len(set(keys)) != len(keys):
        return None
    groups: Iterable[list[int]]
    if name == "loan_schedules":
        by_loan: dict[Any, list[int]] = defaultdict(list)
        for index, raw in enumerate(raws):
            loan_id = raw.get("loan_id") if isinstance(raw, dict) else None
            by_loan[loan_id if isinstance(loan_id, str) else None].append(index)
        groups = by_loan.values()
    else:
        groups = ([index] for index in range(len(raws)))
    first = max(1, size // 4)
    planned: list[list[int]] = [[]]
    for indexes in groups:
        if len(planned[-1]) >= (first if len(planned) == 1 else size):
            planned.append([])
        planned[-1].extend(indexes)
    return planned


def check_records(
    batch: ValidatedBatch, name: str, business_date: date, indexes: list[int] | None = None
) -> list[tuple[int, Any]]:
    """Phase one (types, in-record rules and, for the whole list, duplicate keys) for the records
    at ``indexes`` (all when None); adds the accepted ones to the batch and returns them."""
    entity = ENTITY_SPECS[name]
    raws = batch.raw[name]
    positions = list(range(len(raws))) if indexes is None else indexes
    records = cast(dict[int, dict[str, Any]], _typed(batch, entity, raws, positions))
    rules_stage = phase_one_stage(entity, RULES)
    for index, record in records.items():
        for field_name, code, message in entity.rule(record, business_date):
            batch.reject(entity, index, field_name, code, message, stage=rules_stage)
    rejected = batch.rejected[name]
    if indexes is None:
        accepted = _merge_duplicates(batch, entity, raws, records)
    else:
        accepted = [(i, records[i]) for i in positions if i in records and i not in rejected]
    batch.accepted[name].extend(accepted)
    return accepted


def _merge_duplicates(
    batch: ValidatedBatch, entity: Entity, raws: list[Any], records: dict[int, dict[str, Any]]
) -> list[tuple[int, Any]]:
    """The same key twice: identical copies merge into the first, differing copies are all rejected.
    Copies are compared as validated (so "100" and 100.00 are the same amount); a copy that
    failed its types is compared as sent."""
    fields = entity.key_fields
    keys = [
        tuple(records[i][name] for name in fields) if i in records else entity.raw_key(raw)
        for i, raw in enumerate(raws)
    ]
    rejected = batch.rejected[entity.name]
    present = [key for key in keys if key is not None]
    if len(set(present)) == len(present):  # no key repeats: the usual batch
        return [(i, records[i]) for i in range(len(raws)) if i in records and i not in rejected]
    by_key: dict[Hashable, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        if key is not None:
            by_key[key].append(index)

    def content(i: int) -> Any:
        return ("typed", records[i]) if i in records else ("raw", raws[i])

    stage = phase_one_stage(entity, DUPLICATES)
    accepted: list[tuple[int, Any]] = []
    for indexes in by_key.values():
        first = content(indexes[0])
        if any(content(i) != first for i in indexes[1:]):
            for index in indexes:
                batch.reject(
                    entity, index, "", "DUPLICATE_CONFLICT",
                    f"{entity.entity_type} {entity.entity_id(raws[indexes[0]])} appears more than once "
                    "with different content",
                    stage=stage, position=len(batch.errors),
                )
        elif indexes[0] in records and indexes[0] not in rejected:
            accepted.append((indexes[0], records[indexes[0]]))
    accepted.sort(key=lambda item: item[0])
    return accepted


def _typed(batch: ValidatedBatch, entity: Entity, raws: list[Any], positions: list[int]) -> dict[int, Record]:
    """Validate the records in one pydantic call; on failure, re-validate the clean remainder."""
    adapter = _ADAPTERS[entity.name]
    chosen = raws if len(positions) == len(raws) else [raws[i] for i in positions]
    try:
        return dict(zip(positions, adapter.validate_python(chosen), strict=True))
    except ValidationError as exc:
        stage = phase_one_stage(entity, TYPES)
        bad: set[int] = set()
        for item in exc.errors(include_url=False):
            loc = item["loc"]
            index = positions[int(loc[0]) if loc else 0]
            money = len(loc) > 1 and loc[1] in MONEY_FIELDS
            code = (_MONEY_CODES if money else _PYDANTIC_CODES).get(item["type"], item["type"].upper())
            message = f"each {entity.entity_type} must be a JSON object" if code == "INVALID_RECORD" else item["msg"]
            message = _MESSAGES.get(code, message)
            batch.reject(entity, index, ".".join(str(part) for part in loc[1:]), code, message, stage=stage)
            bad.add(index)
    clean = [i for i in positions if i not in bad]
    return dict(zip(clean, adapter.validate_python([raws[i] for i in clean]), strict=True))


def reject_loans(batch: ValidatedBatch, problems: dict[str, str]) -> None:
    """Reject accepted loans whose new disbursement_date contradicts their stored records."""
    if problems:
        batch.accepted["loans"] = _filter(
            batch, ENTITY_SPECS["loans"], batch.accepted["loans"], phase_two_stage(LATER),
            lambda loan: ("disbursement_date", "DISBURSEMENT_AFTER_RECORDS", problems[loan["loan_id"]])
            if loan["loan_id"] in problems else None,
        )


def check_references(
    batch: ValidatedBatch, name: str, items: list[tuple[int, Any]], disbursed: dict[str, date],
    indexes: list[int] | None = None,
) -> list[tuple[int, Any]]:
    """Phase two for checked schedule rows or repayments (``items``, from the records at
    ``indexes``, all when None): a known loan and dates on/after its disbursement.

    ``disbursed`` holds the loans stored in the database overlaid with the loans accepted in this
    batch (a rejected loan's rows are checked against its stored date). A loan whose schedule lost
    any row is rejected whole, so a schedule is never half-replaced. Returns the records kept,
    which replace ``items`` in the batch's accepted list."""
    entity = ENTITY_SPECS[name]
    before = {index for index, _ in items}
    if name == "repayments":
        kept = _filter(batch, entity, items, phase_two_stage(PAYMENT_REFERENCES),
                       lambda payment: _payment_problem(payment, disbursed))
    else:
        kept = _filter(batch, entity, items, phase_two_stage(SCHEDULE_REFERENCES),
                       lambda row: _schedule_problem(row, disbursed))
        raws = batch.raw[name]
        positions = range(len(raws)) if indexes is None else indexes
        rejected = batch.rejected[name]
        broken = {
            loan_id for i in positions if i in rejected and isinstance(raws[i], dict)
            and isinstance(loan_id := raws[i].get("loan_id"), str)
        }
        if broken:
            kept = _filter(batch, entity, kept, phase_two_stage(INCOMPLETE), lambda row: _incomplete(row, broken))
    if len(kept) != len(items):
        dropped = before - {index for index, _ in kept}
        batch.accepted[name] = [item for item in batch.accepted[name] if item[0] not in dropped]
    return kept


def _filter(
    batch: ValidatedBatch, entity: Entity, items: list[tuple[int, Any]], stage: Stage,
    problem: Callable[[Any], Violation | None],
) -> list[tuple[int, Any]]:
    kept: list[tuple[int, Any]] = []
    for index, record in items:
        found = problem(record)
        if found is None:
            kept.append((index, record))
        else:
            batch.reject(entity, index, *found, stage=stage)
    return kept


def _schedule_problem(row: ScheduleRecord, disbursed: dict[str, date]) -> Violation | None:
    if row["loan_id"] not in disbursed:
        return ("loan_id", "UNKNOWN_LOAN", f"loan {row['loan_id']} is neither stored nor accepted in this batch")
    if row["due_date"] < disbursed[row["loan_id"]]:
        return ("due_date", "DUE_BEFORE_DISBURSEMENT", "due_date is before the loan's disbursement_date")
    return None


def _incomplete(row: ScheduleRecord, broken: set[Any]) -> Violation | None:
    if row["loan_id"] in broken:
        return (
            "", "SCHEDULE_INCOMPLETE",
            f"another schedule row of loan {row['loan_id']} was rejected, so its schedule is not replaced",
        )
    return None


def _payment_problem(payment: RepaymentRecord, disbursed: dict[str, date]) -> Violation | None:
    if payment["loan_id"] not in disbursed:
        return ("loan_id", "UNKNOWN_LOAN", f"loan {payment['loan_id']} is neither stored nor accepted in this batch")
    if payment["payment_date"] < disbursed[payment["loan_id"]]:
        return ("payment_date", "PAYMENT_BEFORE_DISBURSEMENT", "payment_date is before the loan's disbursement_date")
    return None
