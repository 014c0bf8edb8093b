"""Deterministic synthetic loan book, emitted as SPEC §4 ETL batches for ``loanmetrics seed`` and demos.

The book is generated loan by loan from a per-loan random stream (``seed`` and the loan's index),
so memory stays bounded and the output is byte-identical for the same ``BookShape``. Loans and
their schedules are emitted in a first pass; a second pass regenerates each loan (cheaply, without
building its loan and schedule records) to emit its repayments after every loan was sent, as the
dependency order of SPEC §4 asks of clients that split large loads.

Money is computed in integer cents and written as decimal strings with two decimals; dates are
ISO strings. Every record passes SPEC §4 validation for ``shape.business_date``.
"""

from __future__ import annotations

import bisect
import math
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

__all__ = ["ENTITIES", "BookShape", "generate_batches", "team_members"]

Record = dict[str, Any]

ENTITIES: tuple[str, ...] = ("officers", "customers", "loans", "loan_schedules", "repayments")
"""The payload's data lists, in dependency order (SPEC §4)."""

# --------------------------------------------------------------------------------------------
# Vocabulary

_REGIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Lagos", ("Ikeja", "Surulere", "Yaba", "Lekki", "Ikorodu", "Apapa", "Oshodi", "Victoria Island")),
    ("Abuja", ("Wuse", "Garki", "Kubwa", "Maitama", "Gwarinpa", "Nyanya", "Lugbe", "Asokoro")),
    ("Kano", ("Sabon Gari", "Fagge", "Nassarawa", "Tarauni", "Gwale", "Dala", "Kumbotso", "Ungogo")),
    ("Rivers", ("Port Harcourt", "Obio-Akpor", "Eleme", "Bonny", "Oyigbo", "Okrika", "Ikwerre", "Etche")),
    ("Oyo", ("Ibadan North", "Ibadan South", "Ogbomoso", "Oyo Town", "Iseyin", "Saki", "Eruwa", "Igboho")),
    ("Kaduna", ("Kaduna North", "Kaduna South", "Zaria", "Kafanchan", "Kagoro", "Zonkwa", "Saminaka", "Makarfi")),
    ("Enugu", ("Enugu East", "Nsukka", "Udi", "Oji River", "Agbani", "Awgu", "Nkanu", "Ezeagu")),
    ("Ogun", ("Abeokuta", "Ijebu Ode", "Sagamu", "Ota", "Ilaro", "Ifo", "Ijebu Igbo", "Ayetoro")),
)

_MALE = (
    "Adebayo", "Chinedu", "Musa", "Tunde", "Emeka", "Ibrahim", "Segun", "Yusuf", "Olu", "Jide",
    "Gbenga", "Uche", "Victor", "Dayo", "Kunle", "Obinna", "Abdullahi", "Femi", "Nnamdi", "Sani",
    "Babatunde", "Ikenna", "Aliyu", "Kelechi", "Tobi",
)
_FEMALE = (
    "Ngozi", "Funke", "Amina", "Bola", "Chioma", "Aisha", "Yetunde", "Lola", "Rashida", "Pelumi",
    "Ifeoma", "Zainab", "Bisi", "Adaeze", "Hauwa", "Titi", "Nkechi", "Fatima", "Kemi", "Uju",
    "Halima", "Folake", "Chiamaka", "Sade", "Maryam",
)
_FIRST = _MALE + _FEMALE
_LAST = (
    "Adeyemi", "Okafor", "Ibrahim", "Bello", "Okonkwo", "Mohammed", "Adewale", "Eze", "Yusuf",
    "Olawale", "Nwosu", "Abubakar", "Chukwu", "Danjuma", "Garba", "Tijani", "Lawal", "Salami",
    "Fashola", "Peters", "Johnson", "Wilson", "Obi", "Balogun", "Usman", "Akande", "Onyeka",
    "Ogunleye", "Babangida", "Nwachukwu", "Adeleke", "Okoro", "Aminu", "Oladipo", "Ekwueme",
)
_STREETS = ("Street", "Road", "Close", "Avenue", "Crescent")
_STATES = ("Lagos", "FCT", "Kano", "Rivers", "Oyo", "Kaduna", "Enugu", "Ogun", "Anambra", "Delta")
_LGAS = ("North", "South", "East", "West", "Central")
_PHONE_PREFIXES = (
    803, 806, 813, 816, 810, 814, 703, 706, 903, 906, 802, 808, 812, 701, 902, 907, 805, 807, 905,
)
_CHANNELS = ("Branch", "Agent", "Mobile", "Online")
_CHANNEL_CUM = (0.30, 0.60, 0.85, 1.0)  # Branch 30%, Agent 30%, Mobile 25%, Online 15%
_PARTNERS = ("Moniepoint", "OPay Agents", "Paystack POS", "Kuda Partners")
_METHODS = ("Cash", "Bank Transfer", "Card", "Direct Debit", "USSD")
_REVERSAL_REASONS = ("Duplicate posting", "Insufficient funds", "Customer dispute", "Posting error")
_WAIVER_TYPES = ("Penalty", "Fee", "Interest")
_RATES = (24, 30, 36, 42, 48)  # annual percent; written as the fraction "0.24" ...
_FEE_BP = (100, 150, 200, 250, 300)  # fee in basis points of the amount (1% to 3%)
_BULLET_TERMS = (30, 60, 90, 120, 180)
_TEAM_ROLES = ("Audit Lead", "Senior Auditor", "Auditor", "Auditor", "Risk Analyst")
_TEAM_DEPARTMENTS = ("Internal Audit", "Internal Audit", "Internal Audit", "Internal Audit", "Risk")

# Borrower behaviours (drawn once per loan).
_ON_TIME, _LATE, _PARTIAL, _NEVER, _STOPPED, _PREPAID = range(6)
# Cumulative behaviour weights by officer quality: good, average, poor.
_BEHAVIOUR_CUM: tuple[tuple[float, ...], ...] = (
    (0.64, 0.74, 0.78, 0.80, 0.83, 1.0),
    (0.50, 0.65, 0.73, 0.78, 0.85, 1.0),
    (0.34, 0.54, 0.66, 0.76, 0.88, 1.0),
)
_QUALITY_CUM = (0.35, 0.80, 1.0)

_TWO53 = float(1 << 53)
PROFILES = ("standard", "full")
_SYNC_TIME = "T18:00:00Z"


@dataclass(frozen=True)
class BookShape:
    """Size and randomness of a synthetic book; the same shape always yields the same batches."""

    officers: int = 50
    loans: int = 10_000
    # history: about 75% of loans are disbursed over the `days` days up to the business date, the
    # rest up to a year earlier, so schedules, maturities and closures vary
    days: int = 120
    seed: int = 1
    # pass the configured business date (LOANMETRICS_TODAY); nothing is dated after it
    business_date: date = field(default_factory=date.today)
    branches_per_region: int = 4
    regions: int = 3
    # "standard": about 12 installments and 6 repayments per loan (mixed weekly, biweekly, monthly
    # and bullet loans over the history); "full": SPEC §12's full shape, about 25 installments and
    # 20 repayments per loan (weekly schedules of 20 to 31 installments, few bullets), for the L book
    profile: str = "standard"

    def __post_init__(self) -> None:
        if self.officers < 1:
            raise ValueError("officers must be at least 1")
        if self.loans < 0:
            raise ValueError("loans must not be negative")
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if self.regions < 1 or self.branches_per_region < 1:
            raise ValueError("regions and branches_per_region must be at least 1")
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}")

    @property
    def customers(self) -> int:
        """About 15% of loans go to repeat borrowers, so there are fewer customers than loans."""
        return max(1, math.ceil(self.loans * 0.85))


def _money(cents: int) -> str:
    whole, frac = divmod(cents, 100)
    return f"{whole}.{frac:02d}"


def _name_email(first: str, last: str, n: int, domain: str) -> str:
    return f"{first.lower()}.{last.lower().replace(' ', '')}{n}@{domain}"


def _phone(rng: random.Random) -> int:
    return _PHONE_PREFIXES[rng.randrange(len(_PHONE_PREFIXES))] * 10_000_000 + rng.randrange(10_000_000)


def _add_months(d: date, months: int) -> int:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    last_day = 31 if month == 12 else (date(year, month + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(d.day, last_day)).toordinal()


def _branches(shape: BookShape) -> list[tuple[str, str]]:
    """(region, branch) pairs, branch names unique across regions."""
    pairs: list[tuple[str, str]] = []
    for r in range(shape.regions):
        if r < len(_REGIONS):
            region, names = _REGIONS[r]
        else:
            region, names = f"Region {r + 1}", ()
        for b in range(shape.branches_per_region):
            pairs.append((region, names[b] if b < len(names) else f"{region} Branch {b + 1}"))
    return pairs


def team_members(seed: int) -> list[dict[str, Any]]:
    """Five dashboard team members (audit assignees and waiver approvers TM001..TM005), by seed."""
    rng = random.Random(f"team-{seed}")
    members: list[dict[str, Any]] = []
    for k in range(5):
        first = _FIRST[rng.randrange(len(_FIRST))]
        last = _LAST[rng.randrange(len(_LAST))]
        members.append(
            {
                "member_id": f"TM{k + 1:03d}",
                "member_name": f"{first} {last}",
                "member_email": _name_email(first, last, k + 1, "lender.example"),
                "member_phone": f"+234{_phone(rng)}",
                "role": _TEAM_ROLES[k],
                "department": _TEAM_DEPARTMENTS[k],
                "is_active": k != 4 or rng.random() < 0.5,
            }
        )
    return members


@dataclass
class _Officer:
    record: Record
    name: str
    phone: str
    region: str
    branch: str
    primary_channel: str | None
    behaviour_cum: tuple[float, ...]
    reversal_pm: int  # per mille of repayments
    backdated_pm: int
    waiver_pm: int


class _Book:
    """The generator state: officers, compact customers and the per-loan generator."""

    def __init__(self, shape: BookShape) -> None:
        self.shape = shape
        self.rng = random.Random(shape.seed)
        self.business = shape.business_date.toordinal()
        self.loan_key = (abs(shape.seed) * 2 + (shape.seed < 0)) << 40
        lo = self.business - shape.days - 400
        self.iso_base = lo
        self.iso = [date.fromordinal(o).isoformat() for o in range(lo, self.business + 400)]
        self.officers = self._make_officers()
        self.off_cum: list[float] = []
        total = 0.0
        for _ in self.officers:
            total += 0.5 + self.rng.random()
            self.off_cum.append(total)
        self.off_total = total
        n = shape.customers
        self.c_first = array("H", bytes(2 * n))
        self.c_last = array("H", bytes(2 * n))
        self.c_state = array("H", bytes(2 * n))
        self.c_phone = array("Q", bytes(8 * n))
        self.next_repayment = 1

    # ---- officers and customers (main stream) ----------------------------------------------

    def _make_officers(self) -> list[_Officer]:
        rng = self.rng
        pairs = _branches(self.shape)
        out: list[_Officer] = []
        for j in range(self.shape.officers):
            region, branch = pairs[j % len(pairs)]
            male = rng.random() < 0.5
            first = (_MALE if male else _FEMALE)[rng.randrange(25)]
            last = _LAST[rng.randrange(len(_LAST))]
            name = f"{first} {last}"
            phone = f"+234{_phone(rng)}"
            hire = self.business - self.shape.days - 400 - rng.randrange(3000)
            pc: str | None = None
            if rng.random() < 0.6:
                pc = _CHANNELS[bisect.bisect_right(_CHANNEL_CUM, rng.random())]
            float_gap = rng.random() < 0.15
            quality = bisect.bisect_right(_QUALITY_CUM, rng.random())
            status = "On Leave" if rng.random() < 0.04 else "Active"
            oid = f"OFF{j + 1:04d}"
            record: Record = {
                "officer_id": oid,
                "officer_name": name,
                "officer_phone": phone,
                "officer_email": _name_email(first, last, j + 1, "lender.example"),
                "region": region,
                "branch": branch,
                "employment_status": status,
                "hire_date": date.fromordinal(hire).isoformat(),
                "termination_date": None,
                "primary_channel": pc,
                "had_float_gap": float_gap,
            }
            out.append(
                _Officer(
                    record=record,
                    name=name,
                    phone=phone,
                    region=region,
                    branch=branch,
                    primary_channel=pc,
                    behaviour_cum=_BEHAVIOUR_CUM[min(2, quality + (1 if float_gap else 0))],
                    reversal_pm=50 if float_gap else 12 + 6 * quality,
                    backdated_pm=80 if float_gap else 15 + 10 * quality,
                    waiver_pm=15 + 20 * quality,
                )
            )
        return out

    def customers(self) -> Iterator[Record]:
        """Customer records in id order; remembers what loans copy (name, phone, state)."""
        rng = self.rng
        r = rng.random
        n_first, n_last, n_states = len(_FIRST), len(_LAST), len(_STATES)
        b = self.business
        for c in range(self.shape.customers):
            fi = int(r() * n_first)
            la = int(r() * n_last)
            st = int(r() * n_states)
            phone = _phone(rng)
            self.c_first[c], self.c_last[c], self.c_state[c], self.c_phone[c] = fi, la, st, phone
            first, last = _FIRST[fi], _LAST[la]
            dob = date.fromordinal(b - 365 * 20 - int(r() * 365 * 42))
            verified = r() < 0.78
            kyc_date = b - self.shape.days - int(r() * 900) if verified else 0
            yield {
                "customer_id": f"CUS{c + 1:07d}",
                "customer_name": f"{first} {last}",
                "customer_phone": f"+234{phone}",
                "customer_email": _name_email(first, last, c + 1, "mail.example") if r() < 0.7 else None,
                "date_of_birth": dob.isoformat(),
                "gender": "M" if fi < len(_MALE) else "F",
                "state": _STATES[st],
                "lga": _LGAS[int(r() * len(_LGAS))],
                "address": f"{1 + int(r() * 200)} {_LAST[int(r() * n_last)]} {_STREETS[int(r() * 5)]}",
                "kyc_status": "Verified" if verified else "Pending",
                "kyc_verified_date": date.fromordinal(kyc_date).isoformat() if verified else None,
            }

    # ---- one loan (per-loan stream) ---------------------------------------------------------

    def loan(self, i: int, rng: random.Random, want_loan: bool) -> tuple[list[Record], list[Record], list[Record]]:
        """Generate loan ``i``: (loan and schedule records) when ``want_loan``, else (repayments).

        Both modes draw exactly the same random numbers, so they describe the same loan. The
        third list holds re-sent reversed copies of repayments of the first (empty for loans).
        """
        rng.seed(self.loan_key + i)
        r = rng.random
        shape = self.shape
        B = self.business
        iso = self.iso
        ib = self.iso_base

        off = self.officers[bisect.bisect_right(self.off_cum, r() * self.off_total)]
        n_cust = shape.customers
        cust = i if i < n_cust else int(r() * n_cust)
        # most loans disbursed within the history window, some earlier (up to a year before it)
        disb = B - int(r() * shape.days) if r() < 0.75 else B - shape.days - int(r() * 365)
        amount = int(20 * 25 ** r()) * 100_000
        rate = _RATES[int(r() * 5)]
        fee = amount * _FEE_BP[int(r() * 5)] // 10_000

        u = r()
        full = shape.profile == "full"
        bullet = u < (0.04 if full else 0.10)
        dues: list[int]
        if bullet:
            dues = [disb + _BULLET_TERMS[int(r() * 5)]]
        elif full:  # weekly, 20 to 31 installments
            n = 20 + int(r() * 12)
            dues = [disb + 7 * k for k in range(1, n + 1)]
        elif u < 0.55:  # weekly
            n = round((1 + int(r() * 6)) * 52 / 12)
            dues = [disb + 7 * k for k in range(1, n + 1)]
        elif u < 0.82:  # biweekly
            n = round((1 + int(r() * 12)) * 26 / 12)
            dues = [disb + 14 * k for k in range(1, n + 1)]
        else:  # monthly
            n = 1 + int(r() * 12)
            d0 = date.fromordinal(disb)
            dues = [_add_months(d0, k) for k in range(1, n + 1)]
        n = len(dues)
        maturity = dues[-1]
        term = maturity - disb
        interest = (amount * rate * term * 2 + 36_500) // 73_000  # round half up, cents

        # channel
        pc = off.primary_channel
        channel = pc if pc is not None and r() < 0.85 else _CHANNELS[bisect.bisect_right(_CHANNEL_CUM, r())]
        partner = _PARTNERS[int(r() * 4)] if channel == "Agent" and r() < 0.6 else None

        # schedule, flat interest and fees spread evenly, the last installment takes the rounding
        p_each, i_each, f_each = amount // n, interest // n, fee // n
        rp = [p_each] * n
        ri = [i_each] * n
        rf = [f_each] * n
        rp[-1] = amount - p_each * (n - 1)
        ri[-1] = interest - i_each * (n - 1)
        rf[-1] = fee - f_each * (n - 1)
        tot = [rp[k] + ri[k] + rf[k] for k in range(n)]
        remaining = amount + interest + fee

        loan_id = f"LN{i + 1:07d}"
        behaviour = bisect.bisect_right(off.behaviour_cum, r())
        lateness = 1 + int(r() * 25)
        stop_after = int(r() * n)  # STOPPED: installments paid before stopping (0 .. n-1)
        close_at = int(r() * n) if r() < 0.5 else -1  # PREPAID: early closure at this installment

        out: list[Record] = []
        resend: list[Record] = []
        build = not want_loan
        ptr = 0
        last_t = disb
        last_paid = 0  # date of the last non-reversed payment
        rev_pm, bd_pm, wv_pm = off.reversal_pm, off.backdated_pm, off.waiver_pm

        def post(t: int, cov: int, penalty: int, allow_reverse: bool) -> int:
            """Record one payment of ``cov`` coverage on day t; returns the coverage applied."""
            nonlocal ptr, remaining, last_t, last_paid
            dpd = t - dues[ptr] if ptr < n and dues[ptr] < t else 0
            reversed_ = allow_reverse and r() * 1000 < rev_pm
            h = int(r() * _TWO53)
            rev_date = 0
            rev_reason = 0
            resent = False
            replace = False
            if reversed_:
                rev_date = min(B, t + int(r() * 6))
                rev_reason = int(r() * len(_REVERSAL_REASONS))
                resent = r() < 0.5
                replace = r() < 0.75
            # allocate oldest first; within an installment fees, then interest, then principal
            pp = ip = fp = 0
            left = cov
            k = ptr
            while left > 0 and k < n:
                x = rf[k]
                if x:
                    x = x if x < left else left
                    fp += x
                    left -= x
                    if not reversed_:
                        rf[k] -= x
                x = ri[k]
                if x and left:
                    x = x if x < left else left
                    ip += x
                    left -= x
                    if not reversed_:
                        ri[k] -= x
                x = rp[k]
                if x and left:
                    x = x if x < left else left
                    pp += x
                    left -= x
                    if not reversed_:
                        rp[k] -= x
                if left or not reversed_:
                    k += 1
                else:
                    break
            applied = cov - left
            if not reversed_:
                while ptr < n and rp[ptr] == 0 and ri[ptr] == 0 and rf[ptr] == 0:
                    ptr += 1
                remaining -= applied
                last_paid = t
            last_t = t
            if build:
                rid = f"RP{self.next_repayment:08d}"
                self.next_repayment += 1
                h, method = divmod(h, 5)
                h, ch = divmod(h, 20)
                h, bd = divmod(h, 1000)
                h, wv = divmod(h, 1000)
                waiver = "0.00"
                waiver_type: str | None = None
                approver: str | None = None
                if wv < wv_pm:
                    h, wt = divmod(h, 3)
                    h, who = divmod(h, 5)
                    h, size = divmod(h, 40)
                    waiver_type = _WAIVER_TYPES[wt]
                    approver = f"TM{who + 1:03d}"
                    waiver = _money((size + 2) * 5_000)  # 100.00 .. 2,050.00
                rec: Record = {
                    "repayment_id": rid,
                    "loan_id": loan_id,
                    "payment_date": iso[t - ib],
                    "payment_amount": _money(applied + penalty),
                    "principal_paid": _money(pp),
                    "interest_paid": _money(ip),
                    "fees_paid": _money(fp),
                    "penalty_paid": _money(penalty),
                    "payment_method": _METHODS[method],
                    "payment_reference": f"REF-{shape.seed}-{rid}",
                    "payment_channel": channel if ch < 16 else _CHANNELS[ch % 4],
                    "dpd_at_payment": dpd,
                    "is_backdated": bd < bd_pm,
                    "is_reversed": False,
                    "reversal_date": None,
                    "reversal_reason": None,
                    "waiver_amount": waiver,
                    "waiver_type": waiver_type,
                    "waiver_approved_by": approver,
                }
                if reversed_:
                    done = dict(rec)
                    done["is_reversed"] = True
                    done["reversal_date"] = iso[rev_date - ib]
                    done["reversal_reason"] = _REVERSAL_REASONS[rev_reason]
                    if resent:  # first sent as a good payment, the reversal arrives in a later batch
                        resend.append(done)
                    else:
                        rec = done
                out.append(rec)
            if reversed_ and replace:  # the borrower pays again after the reversal
                return post(min(B, rev_date + int(r() * 4)), cov, penalty, False)
            return 0 if reversed_ else applied

        def pay(t: int, cov: int, due: int) -> bool:
            """One intended payment; False once the business date is passed."""
            t = max(t, last_t)
            if t > B:
                return False
            cov = min(cov, remaining)
            if cov <= 0:
                return True
            penalty = 0
            if t > due and r() < 0.4:
                penalty = cov * (1 + int(r() * 3)) // 100
            post(t, cov, penalty, True)
            return True

        for k in range(n):
            if remaining <= 0 or behaviour == _NEVER or (behaviour == _STOPPED and k >= stop_after):
                break
            due = dues[k]
            if behaviour in (_ON_TIME, _STOPPED):
                t = due - int(r() * 3) if r() < 0.25 else due
                if r() < 0.15:  # paid in two parts, the first a few days ahead
                    part = tot[k] * (30 + int(r() * 40)) // 100
                    ok = pay(max(disb, t - 1 - int(r() * 5)), part, due) and pay(t, tot[k] - part, due)
                else:
                    ok = pay(t, tot[k], due)
            elif behaviour == _LATE:
                ok = pay(due + lateness + int(r() * 4), tot[k], due)
            elif behaviour == _PARTIAL:
                part = tot[k] if r() < 0.2 else tot[k] * (30 + int(r() * 60)) // 100
                t = due + int(r() * 3)
                ok = pay(t, part, due)
                if ok and part < tot[k] and r() < 0.35:  # a catch-up of the shortfall, days later
                    ok = pay(t + 3 + int(r() * 12), tot[k] - part, due)
            else:  # prepaid: ahead of the due date, sometimes closing the loan early
                early = (3 + int(r() * 8)) if not bullet else 1 + int(r() * max(1, term - 1))
                t = max(disb, due - early)
                ok = pay(t, remaining if k == close_at else tot[k], due)
            if not ok:
                break

        status = "Active"
        closed = 0
        if remaining <= 0:
            status, closed = "Closed", last_paid
        elif behaviour in (_NEVER, _STOPPED) and ptr < n and B - dues[ptr] > 90 and r() < 0.6:
            status = "Written Off"
            closed = min(B, dues[ptr] + 91 + int(r() * 60))
            if r() < 0.25:  # a recovery after the write-off
                t = closed + 1 + int(r() * 45)
                if t <= B:
                    post(t, max(1, remaining * (10 + int(r() * 40)) // 100), 0, False)

        if not want_loan:
            return out, [], resend
        cf, cl = _FIRST[self.c_first[cust]], _LAST[self.c_last[cust]]
        loan: Record = {
            "loan_id": loan_id,
            "customer_id": f"CUS{cust + 1:07d}",
            "customer_name": f"{cf} {cl}",
            "customer_phone": f"+234{self.c_phone[cust]}",
            "officer_id": off.record["officer_id"],
            "officer_name": off.name,
            "officer_phone": off.phone,
            "region": off.region,
            "branch": off.branch,
            "state": _STATES[self.c_state[cust]],
            "loan_amount": _money(amount),
            "disbursement_date": iso[disb - ib],
            "maturity_date": iso[maturity - ib],
            "loan_term_days": term,
            "interest_rate": f"0.{rate}",
            "fee_amount": _money(fee),
            "channel": channel,
            "channel_partner": partner,
            "status": status,
            "closed_date": iso[closed - ib] if closed else None,
        }
        schedule: list[Record] = []
        if not bullet:
            m = _money
            pe, ie, fe = m(p_each), m(i_each), m(f_each)
            te = m(p_each + i_each + f_each)
            for k in range(n - 1):
                schedule.append(
                    {
                        "loan_id": loan_id,
                        "installment_number": k + 1,
                        "due_date": iso[dues[k] - ib],
                        "principal_due": pe,
                        "interest_due": ie,
                        "fee_due": fe,
                        "total_due": te,
                    }
                )
            lp, li, lf = amount - p_each * (n - 1), interest - i_each * (n - 1), fee - f_each * (n - 1)
            schedule.append(
                {
                    "loan_id": loan_id,
                    "installment_number": n,
                    "due_date": iso[maturity - ib],
                    "principal_due": m(lp),
                    "interest_due": m(li),
                    "fee_due": m(lf),
                    "total_due": m(lp + li + lf),
                }
            )
        return [loan], schedule, []


def generate_batches(shape: BookShape, *, batch_records: int = 10_000) -> Iterator[dict[str, Any]]:
    """Yield the book as SPEC §4 incremental payloads in dependency order, at most ``batch_records``
    records each, so ``loanmetrics seed`` can push it through the ingestion path batch by batch."""
    # Order: officers and customers, then loans each with its whole schedule (a batch exceeds the
    # limit only when one loan's schedule alone does), then repayments; a reversal re-sent as the
    # same repayment_id with is_reversed true goes to the batch after the one with the original.
    if batch_records < 1:
        raise ValueError("batch_records must be at least 1")
    book = _Book(shape)
    stamp = shape.business_date.isoformat() + _SYNC_TIME

    def payload(**data: list[Record]) -> dict[str, Any]:
        return {
            "sync_timestamp": stamp,
            "sync_type": "incremental",
            "data": {name: data.get(name, []) for name in ENTITIES},
            "metadata": {"source_system": "loanmetrics-synthetic", "etl_version": "1.0.0"},
        }

    # officers and customers
    officers: list[Record] = []
    customers: list[Record] = []
    for officer in book.officers:
        if len(officers) >= batch_records:
            yield payload(officers=officers)
            officers = []
        officers.append(officer.record)
    for cust in book.customers():
        if len(officers) + len(customers) >= batch_records:
            yield payload(officers=officers, customers=customers)
            officers, customers = [], []
        customers.append(cust)
    if officers or customers:
        yield payload(officers=officers, customers=customers)

    # loans, each with its whole schedule
    rng = random.Random()
    loans: list[Record] = []
    schedules: list[Record] = []
    count = 0
    for i in range(shape.loans):
        loan, schedule, _ = book.loan(i, rng, True)
        size = 1 + len(schedule)
        if count and count + size > batch_records:
            yield payload(loans=loans, loan_schedules=schedules)
            loans, schedules, count = [], [], 0
        loans += loan
        schedules += schedule
        count += size
    if count:
        yield payload(loans=loans, loan_schedules=schedules)

    # repayments; re-sent reversals go to the next batch
    batch: list[Record] = []
    carry: list[Record] = []
    for i in range(shape.loans):
        records, _, resend = book.loan(i, rng, False)
        for rec in records:
            if len(batch) >= batch_records:
                yield payload(repayments=batch)
                batch, carry = carry, []
            batch.append(rec)
        carry += resend
    while batch or carry:
        if batch:
            yield payload(repayments=batch)
        batch, carry = carry, []
