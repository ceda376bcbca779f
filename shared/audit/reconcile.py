"""``reconcile``: escrow's provider clearing account against the payment provider's books.

Two independent accounts of the same money, compared per day (UTC) and currency:

- the provider's side is its statement (``PaymentProvider.statement``: for the sandbox, its
  own ``sandbox_provider_payments`` records, which our ledger never writes): the deposits
  it confirmed and the withdrawals it paid out, on the day it settled them;
- the ledger's side is the postings to ``provider_clearing:<CUR>``, worked out from the
  log itself (``ledger.postings_for`` on each event, upcast), on the day each event was
  recorded. ``replay`` separately proves the stored ``ledger_entries`` equal the log.

Operations are matched by kind and id (deposit id, withdrawal id). A day matches when
both sides hold the same operations with the same amounts and references; otherwise every
difference is reported: missing on one side, amounts or references that disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import psycopg

from services.escrow.ledger import CLEARING_PREFIX, postings_for
from services.escrow.payments import ProviderRecord, SandboxProvider
from shared.eventstore import Upcasters
from shared.eventstore.upcasting import NO_UPCASTERS

# The events that post to a clearing account: which operation they settle and its id field.
CLEARING_EVENTS = {
    "DepositConfirmed": ("deposit", "deposit_id"),
    "WithdrawalConfirmed": ("withdrawal", "withdrawal_id"),
}


@dataclass(frozen=True)
class Movement:
    """One operation as one side recorded it: ``amount`` is always positive."""

    operation: str  # "deposit" | "withdrawal"
    operation_id: str
    provider_reference: str | None
    amount: int
    currency: str
    at: datetime
    position: int | None = None  # the ledger side's event position

    @property
    def day(self) -> date:
        return self.at.astimezone(UTC).date()


@dataclass(frozen=True)
class Difference:
    day: date
    currency: str
    operation: str
    operation_id: str
    problem: str
    provider: Movement | None = None
    ledger: Movement | None = None

    def describe(self) -> str:
        where = f" (log position {self.ledger.position})" if self.ledger else ""
        return f"{self.day} {self.currency} {self.operation} {self.operation_id}{where}: {self.problem}"


@dataclass
class DayReconciliation:
    day: date
    currency: str
    provider_deposits: int = 0
    provider_withdrawals: int = 0
    ledger_deposits: int = 0
    ledger_withdrawals: int = 0
    operations: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.differences


@dataclass
class ReconcileReport:
    days: list[DayReconciliation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(d.matches for d in self.days)

    @property
    def differences(self) -> list[Difference]:
        return [diff for d in self.days for diff in d.differences]


def _bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    since = datetime.combine(start, time(0), tzinfo=UTC) if start else None
    until = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC) if end else None
    return since, until


def ledger_movements(
    conn: psycopg.Connection,
    since: datetime | None = None,
    until: datetime | None = None,
    upcasters: Upcasters = NO_UPCASTERS,
) -> list[Movement]:
    """Every posting to a clearing account in ``[since, until)``, from the log."""
    rows = conn.execute(
        "SELECT position, type, schema_version, data, recorded_at FROM events"
        " WHERE type = ANY(%(types)s)"
        " AND (%(since)s::timestamptz IS NULL OR recorded_at >= %(since)s)"
        " AND (%(until)s::timestamptz IS NULL OR recorded_at < %(until)s)"
        " ORDER BY position",
        {"types": list(CLEARING_EVENTS), "since": since, "until": until},
    ).fetchall()
    found = []
    for position, type_, schema_version, data, recorded_at in rows:
        _, data = upcasters.upcast(type_, schema_version, data)
        operation, id_field = CLEARING_EVENTS[type_]
        for posting in postings_for(type_, data):
            if posting.account.startswith(CLEARING_PREFIX):
                found.append(
                    Movement(
                        operation,
                        data[id_field],
                        data.get("provider_reference"),
                        # money in makes the clearing account negative, a payout positive
                        -posting.amount if operation == "deposit" else posting.amount,
                        posting.currency,
                        recorded_at,
                        position,
                    )
                )
    return found


def provider_movements(records: Iterable[ProviderRecord]) -> tuple[list[Movement], dict]:
    """The money the provider moved (confirmed operations), and every record by operation."""
    every = {}
    moved = []
    for r in records:
        every[(r.operation, r.operation_id)] = r
        if r.status == "confirmed":
            moved.append(
                Movement(
                    r.operation,
                    r.operation_id,
                    r.provider_reference,
                    r.amount.amount,
                    r.amount.currency,
                    r.settled_at,
                )
            )
    return moved, every


def _problems(
    theirs: list[Movement], ours: list[Movement], record: ProviderRecord | None
) -> list[str]:
    """What is wrong with one operation of one day: nothing when both sides agree."""
    if not ours:
        return [f"the provider settled {theirs[0].amount} that day; the ledger posted nothing"]
    if not theirs:
        if record is None:
            seen = "the provider has no record of it"
        elif record.status != "confirmed":
            seen = f"the provider's record says {record.status}"
        else:
            seen = f"the provider settled it on {record.settled_at.astimezone(UTC).date()}"
        return [f"the ledger posted {ours[0].amount} that day; {seen}"]
    found = []
    if len(ours) > 1:
        found.append(f"the ledger posted it {len(ours)} times")
    their_sum, our_sum = sum(m.amount for m in theirs), sum(m.amount for m in ours)
    if their_sum != our_sum:
        found.append(f"amount differs: provider {their_sum}, ledger {our_sum}")
    if theirs[0].provider_reference != ours[0].provider_reference:
        found.append(
            f"reference differs: provider {theirs[0].provider_reference},"
            f" ledger {ours[0].provider_reference}"
        )
    return found


def compare(
    provider: Iterable[Movement],
    ledger: Iterable[Movement],
    provider_records: dict | None = None,
) -> ReconcileReport:
    """Match the two sides per day and currency, operation by operation."""
    provider_records = provider_records or {}
    days: dict[tuple[date, str], DayReconciliation] = {}
    sides: dict[tuple[date, str], tuple[dict, dict]] = defaultdict(lambda: ({}, {}))

    def day_of(m: Movement) -> DayReconciliation:
        key = (m.day, m.currency)
        if key not in days:
            days[key] = DayReconciliation(m.day, m.currency)
        return days[key]

    for m in provider:
        d = day_of(m)
        if m.operation == "deposit":
            d.provider_deposits += m.amount
        else:
            d.provider_withdrawals += m.amount
        sides[(m.day, m.currency)][0].setdefault((m.operation, m.operation_id), []).append(m)
    for m in ledger:
        d = day_of(m)
        if m.operation == "deposit":
            d.ledger_deposits += m.amount
        else:
            d.ledger_withdrawals += m.amount
        sides[(m.day, m.currency)][1].setdefault((m.operation, m.operation_id), []).append(m)

    for key, (theirs, ours) in sides.items():
        d = days[key]
        for op in sorted(set(theirs) | set(ours)):
            d.operations += 1
            p, o = theirs.get(op, []), ours.get(op, [])
            first_p, first_o = (p[0] if p else None), (o[0] if o else None)
            d.differences += [
                Difference(d.day, d.currency, op[0], op[1], problem, first_p, first_o)
                for problem in _problems(p, o, provider_records.get(op))
            ]
    return ReconcileReport(sorted(days.values(), key=lambda d: (d.day, d.currency)))


def reconcile(
    dsn: str,
    start: date | None = None,
    end: date | None = None,
    *,
    upcasters: Upcasters = NO_UPCASTERS,
    statement: Callable[[psycopg.Connection, datetime | None, datetime | None], list] | None = None,
) -> ReconcileReport:
    """Reconcile escrow's clearing accounts at ``dsn`` with the provider, days ``start`` to
    ``end`` inclusive (either open). ``statement(conn, since, until)`` gives the provider's
    records; by default the sandbox provider's own, in the same snapshot as the log."""
    since, until = _bounds(start, end)
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        if statement is None:
            records = SandboxProvider().statement(conn.execute, since, until)
        else:
            records = statement(conn, since, until)
        ours = ledger_movements(conn, since, until, upcasters)
        conn.rollback()
    theirs, every = provider_movements(records)
    return compare(theirs, ours, every)
