"""The synthetic book generator: determinism, batch order and bounds, SPEC §4 validity, behaviours."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from datetime import date
from typing import Any

import pytest

from loanmetrics.synthetic import ENTITIES, BookShape, generate_batches, team_members

BUSINESS = date(2026, 9, 18)

FIELDS: dict[str, list[str]] = {
    "officers": [
        "officer_id", "officer_name", "officer_phone", "officer_email", "region", "branch",
        "employment_status", "hire_date", "termination_date", "primary_channel", "had_float_gap",
    ],
    "customers": [
        "customer_id", "customer_name", "customer_phone", "customer_email", "date_of_birth", "gender",
        "state", "lga", "address", "kyc_status", "kyc_verified_date",
    ],
    "loans": [
        "loan_id", "customer_id", "customer_name", "customer_phone", "officer_id", "officer_name",
        "officer_phone", "region", "branch", "state", "loan_amount", "disbursement_date",
        "maturity_date", "loan_term_days", "interest_rate", "fee_amount", "channel",
        "channel_partner", "status", "closed_date",
    ],
    "loan_schedules": [
        "loan_id", "installment_number", "due_date", "principal_due", "interest_due", "fee_due",
        "total_due",
    ],
    "repayments": [
        "repayment_id", "loan_id", "payment_date", "payment_amount", "principal_paid", "interest_paid",
        "fees_paid", "penalty_paid", "payment_method", "payment_reference", "payment_channel",
        "dpd_at_payment", "is_backdated", "is_reversed", "reversal_date", "reversal_reason",
        "waiver_amount", "waiver_type", "waiver_approved_by",
    ],
}
REQUIRED: dict[str, list[str]] = {
    "officers": ["officer_id", "officer_name", "region", "branch"],
    "customers": ["customer_id", "customer_name"],
    "loans": [
        "loan_id", "customer_id", "customer_name", "officer_id", "officer_name", "region", "branch",
        "loan_amount", "disbursement_date", "maturity_date", "loan_term_days", "channel", "status",
    ],
    "loan_schedules": [
        "loan_id", "installment_number", "due_date", "principal_due", "interest_due", "fee_due",
        "total_due",
    ],
    "repayments": [
        "repayment_id", "loan_id", "payment_date", "payment_amount", "principal_paid", "interest_paid",
        "fees_paid", "payment_method", "is_reversed",
    ],
}
MONEY = {
    "loans": ["loan_amount", "fee_amount"],
    "loan_schedules": ["principal_due", "interest_due", "fee_due", "total_due"],
    "repayments": [
        "payment_amount", "principal_paid", "interest_paid", "fees_paid", "penalty_paid", "waiver_amount",
    ],
}
DATES = {
    "officers": ["hire_date", "termination_date"],
    "customers": ["date_of_birth", "kyc_verified_date"],
    "loans": ["disbursement_date", "maturity_date", "closed_date"],
    "loan_schedules": ["due_date"],
    "repayments": ["payment_date", "reversal_date"],
}
ID_PATTERN = {
    "officers": ("officer_id", r"OFF\d{4}"),
    "customers": ("customer_id", r"CUS\d{7}"),
    "loans": ("loan_id", r"LN\d{7}"),
    "repayments": ("repayment_id", r"RP\d{8}"),
}
MONEY_RE = re.compile(r"\d+\.\d\d")
DATE_RE = re.compile(r"\d{4}-\d\d-\d\d")
PHASE = {"officers": 0, "customers": 0, "loans": 1, "loan_schedules": 1, "repayments": 2}


def cents(value: str) -> int:
    whole, frac = value.split(".")
    return int(whole) * 100 + int(frac)


def key_of(entity: str, rec: dict[str, Any]) -> str:
    if entity == "loan_schedules":
        return f"{rec['loan_id']}#{rec['installment_number']}"
    return str(rec[ID_PATTERN[entity][0]])


def validate(batches: list[dict[str, Any]], business: date) -> list[str]:
    """Every SPEC §4 rule, batch by batch, each batch standing on the earlier ones."""
    errors: list[str] = []
    b = business.isoformat()
    officers: set[str] = set()
    customers: set[str] = set()
    disbursed: dict[str, str] = {}
    for n, batch in enumerate(batches):
        where = f"batch {n}"
        if set(batch) != {"sync_timestamp", "sync_type", "data", "metadata"}:
            errors.append(f"{where}: keys {sorted(batch)}")
        if batch["sync_type"] not in ("incremental", "full") or set(batch["data"]) - set(ENTITIES):
            errors.append(f"{where}: shape")
        data = batch["data"]
        for entity in ENTITIES:
            seen: dict[str, str] = {}
            for rec in data.get(entity, []):
                rid = key_of(entity, rec)
                tag = f"{where} {entity} {rid}"
                body = json.dumps(rec, sort_keys=True)
                if rid in seen and seen[rid] != body:
                    errors.append(f"{tag}: same key with different content in one batch")
                seen[rid] = body
                if list(rec) != FIELDS[entity]:
                    errors.append(f"{tag}: fields {list(rec)}")
                for f in REQUIRED[entity]:
                    if rec.get(f) is None:
                        errors.append(f"{tag}: {f} missing")
                if entity in ID_PATTERN and not re.fullmatch(ID_PATTERN[entity][1], rid):
                    errors.append(f"{tag}: id format")
                for f in MONEY.get(entity, []):
                    v = rec.get(f)
                    if v is not None and not (isinstance(v, str) and MONEY_RE.fullmatch(v)):
                        errors.append(f"{tag}: money {f}={v!r}")
                for f in DATES.get(entity, []):
                    v = rec.get(f)
                    if v is not None and not (isinstance(v, str) and DATE_RE.fullmatch(v)):
                        errors.append(f"{tag}: date {f}={v!r}")
        for rec in data["officers"]:
            officers.add(rec["officer_id"])
        for rec in data["customers"]:
            customers.add(rec["customer_id"])
        batch_loans: dict[str, dict[str, Any]] = {}
        for rec in data["loans"]:
            tag = f"{where} loan {rec['loan_id']}"
            batch_loans[rec["loan_id"]] = rec
            if rec["officer_id"] not in officers or rec["customer_id"] not in customers:
                errors.append(f"{tag}: unknown officer or customer")
            if cents(rec["loan_amount"]) <= 0:
                errors.append(f"{tag}: loan_amount not > 0")
            d, m, c = rec["disbursement_date"], rec["maturity_date"], rec["closed_date"]
            if d > b:
                errors.append(f"{tag}: disbursed after the business date")
            if m < d:
                errors.append(f"{tag}: maturity before disbursement")
            if (date.fromisoformat(m) - date.fromisoformat(d)).days != rec["loan_term_days"]:
                errors.append(f"{tag}: loan_term_days")
            if rec["status"] not in ("Active", "Closed", "Written Off"):
                errors.append(f"{tag}: status")
            elif (rec["status"] == "Active") != (c is None):
                errors.append(f"{tag}: closed_date does not match status")
            if c is not None and not d <= c <= b:
                errors.append(f"{tag}: closed_date outside [disbursement, business date]")
            rate = float(rec["interest_rate"])
            if not 0.24 <= rate <= 0.48:
                errors.append(f"{tag}: interest_rate {rate}")
            amount = cents(rec["loan_amount"])
            if amount % 100_000 or not 2_000_000 <= amount <= 50_000_000:
                errors.append(f"{tag}: amount not round thousands in 20k..500k")
        installments: dict[str, list[int]] = defaultdict(list)
        for rec in data["loan_schedules"]:
            tag = f"{where} schedule {key_of('loan_schedules', rec)}"
            loan = batch_loans.get(rec["loan_id"])
            if loan is None:
                errors.append(f"{tag}: schedule row without its loan in the batch")
                continue
            installments[rec["loan_id"]].append(rec["installment_number"])
            parts = cents(rec["principal_due"]) + cents(rec["interest_due"]) + cents(rec["fee_due"])
            if parts != cents(rec["total_due"]):
                errors.append(f"{tag}: total_due != parts")
            if rec["due_date"] < loan["disbursement_date"]:
                errors.append(f"{tag}: due before disbursement")
        for loan_id, numbers in installments.items():
            if sorted(numbers) != list(range(1, len(numbers) + 1)):
                errors.append(f"{where} loan {loan_id}: installments {numbers}")
        for rec in data["loans"]:
            disbursed[rec["loan_id"]] = rec["disbursement_date"]
        for rec in data["repayments"]:
            tag = f"{where} repayment {rec['repayment_id']}"
            if rec["loan_id"] not in disbursed:
                errors.append(f"{tag}: unknown loan")
                continue
            p = rec["payment_date"]
            if p > b:
                errors.append(f"{tag}: paid after the business date")
            if p < disbursed[rec["loan_id"]]:
                errors.append(f"{tag}: paid before disbursement")
            parts = sum(cents(rec[f]) for f in ("principal_paid", "interest_paid", "fees_paid", "penalty_paid"))
            if parts != cents(rec["payment_amount"]):
                errors.append(f"{tag}: payment_amount != components")
            if rec["is_reversed"]:
                r = rec["reversal_date"]
                if r is None or r < p or r > b or not rec["reversal_reason"]:
                    errors.append(f"{tag}: reversal fields")
            elif rec["reversal_date"] is not None or rec["reversal_reason"] is not None:
                errors.append(f"{tag}: reversal fields on a good payment")
            if (rec["waiver_type"] is None) != (cents(rec["waiver_amount"]) == 0):
                errors.append(f"{tag}: waiver fields")
    return errors


def shape(
    loans: int = 2_000, seed: int = 7, officers: int = 20, days: int = 120, profile: str = "standard"
) -> BookShape:
    return BookShape(officers=officers, loans=loans, days=days, seed=seed, business_date=BUSINESS, profile=profile)


@pytest.fixture(scope="module")
def book() -> list[dict[str, Any]]:
    return list(generate_batches(shape(), batch_records=1_000))


@pytest.fixture(scope="module")
def final_state(book: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The book as an upserting consumer would hold it after every batch (later copies win)."""
    state: dict[str, dict[str, dict[str, Any]]] = {entity: {} for entity in ENTITIES}
    for batch in book:
        for entity in ENTITIES:
            for rec in batch["data"][entity]:
                state[entity][key_of(entity, rec)] = rec
    return state


def dump(batches: list[dict[str, Any]]) -> str:
    return json.dumps(batches)


def test_same_seed_same_bytes_different_seed_different() -> None:
    first = dump(list(generate_batches(shape(loans=600), batch_records=700)))
    again = dump(list(generate_batches(shape(loans=600), batch_records=700)))
    other = dump(list(generate_batches(shape(loans=600, seed=8), batch_records=700)))
    assert first == again
    assert first != other


def test_content_does_not_depend_on_batch_size() -> None:
    def records(batch_records: int) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {entity: [] for entity in ENTITIES}
        for batch in generate_batches(shape(loans=300), batch_records=batch_records):
            for entity in ENTITIES:
                out[entity] += batch["data"][entity]
        return out

    small, large = records(37), records(100_000)
    for entity in ENTITIES:
        assert sorted(map(json.dumps, small[entity])) == sorted(map(json.dumps, large[entity]))


def test_book_passes_spec_validation(book: list[dict[str, Any]]) -> None:
    errors = validate(book, BUSINESS)
    assert errors == [], errors[:20]


def test_book_passes_spec_validation_in_one_large_batch_per_phase() -> None:
    batches = list(generate_batches(shape(seed=11), batch_records=50_000))
    # officers and customers, loans and schedules, repayments, then the re-sent reversals
    assert len(batches) == 4
    assert all(rep["is_reversed"] for rep in batches[3]["data"]["repayments"])
    errors = validate(batches, BUSINESS)
    assert errors == [], errors[:20]


def test_payload_shape(book: list[dict[str, Any]]) -> None:
    for batch in book:
        assert batch["sync_type"] == "incremental"
        assert batch["sync_timestamp"] == "2026-09-18T18:00:00Z"
        assert list(batch["data"]) == list(ENTITIES)
        assert batch["metadata"]["etl_version"] == "1.0.0"
    json.dumps(book)  # JSON-serialisable as is


def test_dependency_order_and_batch_bounds() -> None:
    limit = 40
    batches = list(generate_batches(shape(loans=400), batch_records=limit))
    phases = []
    for batch in batches:
        present = {PHASE[e] for e in ENTITIES if batch["data"][e]}
        assert len(present) == 1, "a batch mixes dependency phases"
        phases.append(present.pop())
        size = sum(len(batch["data"][e]) for e in ENTITIES)
        if size > limit:  # only a single loan whose schedule alone exceeds the limit
            assert len(batch["data"]["loans"]) == 1
            assert size == 1 + len(batch["data"]["loan_schedules"])
    assert phases == sorted(phases)
    assert set(phases) == {0, 1, 2}
    # officers before customers
    kinds = [e for batch in batches for e in ("officers", "customers") if batch["data"][e]]
    assert kinds == sorted(kinds, key=lambda e: e != "officers")


def test_schedule_never_split_and_every_record_once(book: list[dict[str, Any]]) -> None:
    schedule_batch: dict[str, int] = {}
    loan_batch: dict[str, int] = {}
    counts: Counter[str] = Counter()
    for n, batch in enumerate(book):
        for loan in batch["data"]["loans"]:
            assert loan["loan_id"] not in loan_batch
            loan_batch[loan["loan_id"]] = n
        for row in batch["data"]["loan_schedules"]:
            assert schedule_batch.setdefault(row["loan_id"], n) == n
            assert loan_batch[row["loan_id"]] == n
        for entity in ("officers", "customers", "loans"):
            counts[entity] += len(batch["data"][entity])
    assert counts == {"officers": 20, "customers": 1_700, "loans": 2_000}


def test_schedules_sum_to_the_loan(final_state: dict[str, dict[str, dict[str, Any]]]) -> None:
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in final_state["loan_schedules"].values():
        rows[row["loan_id"]].append(row)
    for loan_id, loan_rows in rows.items():
        loan = final_state["loans"][loan_id]
        loan_rows.sort(key=lambda r: r["installment_number"])
        assert sum(cents(r["principal_due"]) for r in loan_rows) == cents(loan["loan_amount"])
        assert sum(cents(r["fee_due"]) for r in loan_rows) == cents(loan["fee_amount"])
        assert loan_rows[-1]["due_date"] == loan["maturity_date"]
        dues = [r["due_date"] for r in loan_rows]
        assert dues == sorted(dues)
    average = len(final_state["loan_schedules"]) / len(final_state["loans"])
    assert 10 <= average <= 14


def test_closed_loans_are_paid_up_and_closed_on_the_last_payment(
    final_state: dict[str, dict[str, dict[str, Any]]],
) -> None:
    due: Counter[str] = Counter()
    for row in final_state["loan_schedules"].values():
        due[row["loan_id"]] += cents(row["total_due"])
    paid: Counter[str] = Counter()
    last: dict[str, str] = {}
    for rep in final_state["repayments"].values():
        if not rep["is_reversed"]:
            lid = rep["loan_id"]
            paid[lid] += cents(rep["payment_amount"]) - cents(rep["penalty_paid"])
            last[lid] = max(last.get(lid, ""), rep["payment_date"])
    for lid, loan in final_state["loans"].items():
        if lid not in due:  # bullet: the implied installment of SPEC §5.1
            amount = cents(loan["loan_amount"])
            rate = round(float(loan["interest_rate"]) * 100)
            due[lid] = amount + (2 * amount * rate * loan["loan_term_days"] + 36_500) // 73_000
            due[lid] += cents(loan["fee_amount"])
        assert paid[lid] <= due[lid]
        if loan["status"] == "Closed":
            assert paid[lid] == due[lid]
            assert loan["closed_date"] == last[lid]
        else:
            assert paid[lid] < due[lid]


def test_behaviours_all_occur(
    book: list[dict[str, Any]], final_state: dict[str, dict[str, dict[str, Any]]]
) -> None:
    loans = final_state["loans"]
    reps = final_state["repayments"].values()
    statuses = Counter(loan["status"] for loan in loans.values())
    assert statuses["Closed"] > 0
    assert 0 < statuses["Written Off"] < statuses["Closed"]
    assert statuses["Active"] > len(loans) / 2

    with_schedule = {row["loan_id"] for row in final_state["loan_schedules"].values()}
    bullets = set(loans) - with_schedule
    assert 0.05 * len(loans) < len(bullets) < 0.15 * len(loans)

    # reversals: re-sent in a later batch, and sent reversed straight away
    copies: dict[str, list[bool]] = defaultdict(list)
    for batch in book:
        for rep in batch["data"]["repayments"]:
            copies[rep["repayment_id"]].append(rep["is_reversed"])
    assert any(seen == [False, True] for seen in copies.values())
    assert any(seen == [True] for seen in copies.values())
    assert all(seen in ([False], [True], [False, True]) for seen in copies.values())
    assert sum(rep["is_reversed"] for rep in reps) > 0
    assert sum(rep["is_backdated"] for rep in reps) > 0
    waived = [rep for rep in reps if rep["waiver_type"]]
    assert waived
    assert {rep["waiver_approved_by"] for rep in waived} <= {"TM001", "TM002", "TM003", "TM004", "TM005"}
    assert {rep["waiver_type"] for rep in waived} == {"Penalty", "Fee", "Interest"}
    assert any(cents(rep["penalty_paid"]) > 0 for rep in reps)
    assert any(rep["dpd_at_payment"] > 0 for rep in reps)  # late payers

    first_due: dict[str, str] = {}
    for row in final_state["loan_schedules"].values():
        if row["installment_number"] == 1:
            first_due[row["loan_id"]] = row["due_date"]
    paying = {rep["loan_id"] for rep in reps if not rep["is_reversed"]}
    never_paid = [lid for lid, d in first_due.items() if d < "2026-09-01" and lid not in paying]
    assert never_paid
    prepaid = [
        loan for loan in loans.values()
        if loan["status"] == "Closed" and loan["closed_date"] < loan["maturity_date"]
        and loan["loan_id"] in with_schedule
    ]
    assert prepaid
    # partial payers: a payment for every installment due, yet less paid than due
    rows_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in final_state["loan_schedules"].values():
        rows_of[row["loan_id"]].append(row)
    good: dict[str, list[int]] = defaultdict(list)
    for rep in reps:
        if not rep["is_reversed"]:
            good[rep["loan_id"]].append(cents(rep["payment_amount"]) - cents(rep["penalty_paid"]))
    partial = 0
    for lid, rows in rows_of.items():
        past = [cents(r["total_due"]) for r in rows if r["due_date"] < "2026-09-10"]
        if len(past) >= 2 and len(good[lid]) >= len(past) and sum(good[lid]) < sum(past):
            partial += 1
    assert partial > 0


def test_officers_spread_and_channels(final_state: dict[str, dict[str, dict[str, Any]]]) -> None:
    officers = final_state["officers"].values()
    assert len({o["region"] for o in officers}) == 3
    assert len({o["branch"] for o in officers}) == 12
    assert any(o["had_float_gap"] for o in officers)
    assert any(o["primary_channel"] for o in officers)
    assert any(o["primary_channel"] is None for o in officers)
    channels = {o["officer_id"]: o["primary_channel"] for o in officers}
    loans = final_state["loans"].values()
    assert {loan["channel"] for loan in loans} == {"Branch", "Agent", "Mobile", "Online"}
    with_pc = [loan for loan in loans if channels[loan["officer_id"]]]
    pure = sum(loan["channel"] == channels[loan["officer_id"]] for loan in with_pc)
    assert 0.75 < pure / len(with_pc) < 1
    for loan in loans:
        officer = final_state["officers"][loan["officer_id"]]
        assert (loan["region"], loan["branch"]) == (officer["region"], officer["branch"])
        customer = final_state["customers"][loan["customer_id"]]
        assert loan["customer_name"] == customer["customer_name"]


def test_team_members() -> None:
    members = team_members(3)
    assert members == team_members(3)
    assert [m["member_id"] for m in members] == ["TM001", "TM002", "TM003", "TM004", "TM005"]
    assert {m["role"] for m in members} == {"Auditor", "Senior Auditor", "Risk Analyst", "Audit Lead"}
    for m in members:
        assert set(m) == {
            "member_id", "member_name", "member_email", "member_phone", "role", "department", "is_active",
        }


def test_shape_is_validated() -> None:
    with pytest.raises(ValueError):
        BookShape(officers=0, business_date=BUSINESS)
    with pytest.raises(ValueError):
        list(generate_batches(shape(loans=1), batch_records=0))


def test_empty_book_has_officers_and_customers_only() -> None:
    batches = list(generate_batches(shape(loans=0)))
    assert len(batches) == 1
    assert len(batches[0]["data"]["officers"]) == 20


def test_ten_thousand_loans_generate_quickly() -> None:
    started = time.perf_counter()
    records = 0
    for batch in generate_batches(shape(loans=10_000, officers=50)):
        records += sum(len(batch["data"][e]) for e in ENTITIES)
    assert time.perf_counter() - started < 10
    assert records > 10_000 * 15


def test_full_profile_has_spec_shape_and_passes_validation() -> None:
    """SPEC §12's L book: about 25 installments and 20 repayments per loan (``--profile full --days 365``)."""
    batches = list(generate_batches(shape(loans=2_000, days=365, profile="full"), batch_records=50_000))
    counts = Counter({e: sum(len(b["data"][e]) for b in batches) for e in ENTITIES})
    assert 23 <= counts["loan_schedules"] / counts["loans"] <= 27
    assert 18 <= counts["repayments"] / counts["loans"] <= 22
    assert validate(batches, BUSINESS) == []
    standard = Counter({e: sum(len(b["data"][e]) for b in generate_batches(shape(loans=2_000, days=365)))
                        for e in ENTITIES})
    assert standard["loan_schedules"] / standard["loans"] < 15  # the default profile is unchanged
    with pytest.raises(ValueError, match="profile"):
        BookShape(profile="huge", business_date=BUSINESS)
