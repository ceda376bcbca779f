"""``reconcile``'s matching rules on hand-made movements: per day and currency, operation by
operation (the service-level tests in tests/escrow/test_audit.py use real records)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.escrow.ledger import CLEARING_PREFIX
from services.escrow.payments import ProviderRecord
from services.escrow.read_models import POSTING_RULES
from shared.audit.reconcile import CLEARING_EVENTS, Movement, compare, provider_movements
from shared.money import Money


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def move(op: str, op_id: str, amount: int, when: datetime, currency="USD", ref=None, pos=None):
    return Movement(op, op_id, ref or f"sbx_{op_id}", amount, currency, when, pos)


def test_days_and_currencies_are_reconciled_apart():
    provider = [
        move("deposit", "d1", 100, at(2)),
        move("deposit", "d2", 70, at(2), currency="EUR"),
        move("withdrawal", "w1", 30, at(3, 23)),
    ]
    ledger = [
        move("deposit", "d1", 100, at(2), pos=4),
        move("deposit", "d2", 70, at(2), currency="EUR", pos=9),
        move("withdrawal", "w1", 30, at(3, 23), pos=12),
    ]
    report = compare(provider, ledger)
    assert report.ok
    assert [(d.day, d.currency, d.operations) for d in report.days] == [
        (date(2026, 3, 2), "EUR", 1),
        (date(2026, 3, 2), "USD", 1),
        (date(2026, 3, 3), "USD", 1),
    ]
    assert report.days[2].provider_withdrawals == report.days[2].ledger_withdrawals == 30


def test_each_kind_of_difference_is_named():
    provider = [
        move("deposit", "d1", 100, at(2)),
        move("deposit", "d2", 50, at(2)),
        move("withdrawal", "w1", 30, at(2), ref="sbx_other"),
    ]
    ledger = [
        move("deposit", "d1", 100, at(2), pos=3),
        move("deposit", "d1", 100, at(2), pos=5),  # posted twice
        move("withdrawal", "w1", 30, at(2), pos=7),
        move("deposit", "d3", 10, at(2), pos=8),  # the provider never saw it
    ]
    (day,) = compare(provider, ledger).days
    assert not day.matches
    assert [(d.operation_id, d.problem) for d in day.differences] == [
        ("d1", "the ledger posted it 2 times"),
        ("d1", "amount differs: provider 100, ledger 200"),
        ("d2", "the provider settled 50 that day; the ledger posted nothing"),
        ("d3", "the ledger posted 10 that day; the provider has no record of it"),
        ("w1", "reference differs: provider sbx_other, ledger sbx_w1"),
    ]
    assert (day.provider_deposits, day.ledger_deposits) == (150, 210)
    assert day.differences[2].describe() == (
        "2026-03-02 USD deposit d2: the provider settled 50 that day; the ledger posted nothing"
    )
    assert day.differences[3].describe().startswith("2026-03-02 USD deposit d3 (log position 8)")


def test_only_confirmed_provider_records_moved_money():
    records = [
        ProviderRecord("sbx_a", "deposit", "a", "u1", Money(100, "USD"), "confirmed", at(2)),
        ProviderRecord("sbx_b", "deposit", "b", "u1", Money(40, "USD"), "failed", at(2)),
    ]
    moved, every = provider_movements(records)
    assert [m.operation_id for m in moved] == ["a"]
    report = compare(moved, [move("deposit", "b", 40, at(2), ref="sbx_b", pos=6)], every)
    assert [d.problem for d in report.differences] == [
        "the provider settled 100 that day; the ledger posted nothing",
        "the ledger posted 40 that day; the provider's record says failed",
    ]


def test_reconcile_reads_every_event_type_that_posts_to_a_clearing_account():
    # the ledger's rules as data (checked against ``postings_for`` by the escrow tests)
    touching = {
        event_type
        for event_type, (_, legs) in POSTING_RULES.items()
        if any(account[0] == CLEARING_PREFIX for account, _ in legs)
    }
    assert touching == set(CLEARING_EVENTS)
