"""The ledger projection's three replay paths give the rows the live path wrote.

A log is built through the service (every money event type, with a client fee so charges
have three legs, and a dispute settled all one way so some legs are zero and dropped).
Then the ledger tables are emptied and refilled from the log event by event (``apply``),
a page at a time (``apply_batch``) and by set-based SQL (``rebuild``), each in a
transaction rolled back afterwards, and every path must give the live rows exactly.
``marketplace audit replay escrow`` must take the set-based path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from click.testing import CliRunner

from services.escrow.ledger import postings_for
from services.escrow.read_models import (
    ESCROW_RULES,
    POSTING_RULES,
    PROJECTIONS,
    LedgerProjection,
)
from shared.audit import cli
from shared.audit.replay import read_events
from shared.audit.services import service_models
from tests.escrow.driver import fixed_offer, hourly_offer, usd

CLIENT, FREELANCER, OTHER = "client-1", "free-1", "free-2"
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
TABLES = {
    "ledger_entries": "position, leg",
    "ledger_balances": "account, currency",
    "escrow_totals": "contract_id, kind, target_id",
}
LEDGER = next(p for p in PROJECTIONS if isinstance(p, LedgerProjection))


@pytest.fixture
def escrow_config(escrow_config):
    # a client fee, so fundings, invoices and bonuses post a third leg to platform_fees
    return {**escrow_config, "ESCROW_CLIENT_FEE_BPS": 300}


def rows(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    return {
        table: conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
        for table, key in TABLES.items()
    }


def replayed(dsn: str, fill, until: datetime | None = None) -> dict[str, list[tuple]]:
    """The ledger tables emptied and refilled by ``fill(cur, events)``, then rolled back."""
    with psycopg.connect(dsn) as conn:
        try:
            conn.execute("TRUNCATE " + ", ".join(TABLES))
            events = [e for page in read_events(conn, until=until) for e in page]
            with conn.cursor() as cur:
                fill(cur, events)
            return rows(conn)
        finally:
            conn.rollback()


def one_by_one(cur, events):
    for event in events:
        LEDGER.apply(cur, event)


def in_pages(size: int):
    def fill(cur, events):
        for start in range(0, len(events), size):
            LEDGER.apply_batch(cur, events[start : start + size])

    return fill


def set_based(until: datetime | None = None):
    return lambda cur, events: LEDGER.rebuild(cur, until)


def milestones(escrow, contract_id: str) -> list[str]:
    view = escrow.client(CLIENT, "get_contract", contract_id=contract_id)
    return [m["milestone_id"] for m in view["milestones"]]


def log_two_hours(escrow, contract_id: str, who: str) -> None:
    escrow.freelancer(
        who,
        "log_time",
        contract_id=contract_id,
        start=(MONDAY + timedelta(hours=10)).isoformat(),
        end=(MONDAY + timedelta(hours=12)).isoformat(),
        memo="work",
    )


def every_money_event(escrow) -> datetime:
    """Drive the service through every event type that posts; returns a moment mid-log."""
    fixed = escrow.open_contract(fixed_offer(amounts=(10_000, 20_000, 6_000)))
    quiet = escrow.open_contract(hourly_offer(freelancer=FREELANCER, rate=5_000))
    disputed = escrow.open_contract(hourly_offer(freelancer=OTHER, rate=4_000))
    first, second, third = milestones(escrow, fixed)
    escrow.fund_wallet(CLIENT, 200_000)
    for milestone_id in (first, second, third):
        escrow.client(CLIENT, "fund_milestone", contract_id=fixed, milestone_id=milestone_id)
    escrow.freelancer(FREELANCER, "submit_work", contract_id=fixed, milestone_id=first)
    escrow.client(
        CLIENT, "approve_milestone", contract_id=fixed, milestone_id=first, amount=usd(7_000)
    )
    escrow.client(CLIENT, "pay_bonus", contract_id=fixed, amount=usd(1_500), reason="thanks")
    dispute = escrow.client(
        CLIENT,
        "open_dispute",
        contract_id=fixed,
        target_kind="milestone",
        target_id=second,
        reason="never delivered",
    )["dispute_id"]
    # all of it back to the client: the freelancer's and the fee's legs are zero, dropped
    escrow.operator(
        "resolve_dispute",
        contract_id=fixed,
        dispute_id=dispute,
        refund=usd(20_000),
        release=usd(0),
    )
    midway = escrow.clock.now()

    escrow.move_to(MONDAY + timedelta(days=1))
    log_two_hours(escrow, quiet, FREELANCER)
    log_two_hours(escrow, disputed, OTHER)
    escrow.move_to(MONDAY + timedelta(days=7, hours=12))
    escrow.fire_deadlines()  # both weeks invoiced and paid
    escrow.move_to(MONDAY + timedelta(days=10))
    dispute = escrow.client(
        CLIENT,
        "open_dispute",
        contract_id=disputed,
        target_kind="week",
        target_id=MONDAY.isoformat(),
        reason="fewer hours",
    )["dispute_id"]
    escrow.operator(
        "resolve_dispute",
        contract_id=disputed,
        dispute_id=dispute,
        refund=usd(3_000),
        release=usd(5_000),
    )

    ended = escrow.client(CLIENT, "end_contract", contract_id=fixed, reason="done")
    refund = next(
        r["refund_id"] for r in ended["contract"]["refunds"] if r["milestone_id"] == third
    )
    escrow.freelancer(FREELANCER, "accept_refund", contract_id=fixed, refund_id=refund)

    escrow.advance(days=30)
    escrow.fire_deadlines()  # weeks released, earnings available
    paid = escrow.freelancer(FREELANCER, "withdraw", amount=usd(1_000))
    escrow.operator(
        "confirm_provider_payment", operation="withdrawal", operation_id=paid["withdrawal_id"]
    )
    failed = escrow.client(CLIENT, "withdraw", amount=usd(2_000), source="client_wallet")
    escrow.operator(
        "confirm_provider_payment",
        operation="withdrawal",
        operation_id=failed["withdrawal_id"],
        status="failed",
        reason="account closed",
    )
    escrow.check()
    return midway


def test_every_replay_path_gives_the_live_ledger_row_for_row(escrow):
    midway = every_money_event(escrow)
    logged = {t for (t,) in escrow.rows("SELECT DISTINCT type FROM events")}
    assert set(POSTING_RULES) <= logged, set(POSTING_RULES) - logged
    assert escrow.scalar(
        "SELECT count(*) FROM ledger_entries WHERE event_type = 'MilestoneFunded'"
        " AND account = 'platform_fees'"
    ), "a client fee leg"
    assert (
        escrow.scalar("SELECT count(*) FROM ledger_entries WHERE event_type = 'DisputeResolved'")
        == 2 + 4
    ), "the one-sided resolution drops its two zero legs"

    with psycopg.connect(escrow.dsn) as conn:
        live = rows(conn)
    assert all(live.values())
    assert replayed(escrow.dsn, one_by_one) == live
    for size in (1, 7, 5000):
        assert replayed(escrow.dsn, in_pages(size)) == live, size
    assert replayed(escrow.dsn, set_based()) == live

    # up to a moment in the past: the set-based rebuild keeps the same events out
    earlier = replayed(escrow.dsn, one_by_one, until=midway)
    assert earlier != live and earlier["ledger_entries"]
    assert replayed(escrow.dsn, set_based(midway), until=midway) == earlier
    assert replayed(escrow.dsn, in_pages(7), until=midway) == earlier


def test_the_audit_replay_of_escrow_takes_the_set_based_path(escrow, monkeypatch):
    every_money_event(escrow)
    calls = []
    rebuild = LedgerProjection.rebuild

    def spy(self, cur, until=None):
        calls.append(until)
        return rebuild(self, cur, until)

    monkeypatch.setattr(LedgerProjection, "rebuild", spy)
    result = CliRunner().invoke(
        cli.audit, ["replay", "escrow", "--dsn", escrow.dsn], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert calls == [None]
    entries = escrow.scalar("SELECT count(*) FROM ledger_entries")
    assert f"ledger_entries ({entries} rows)" in result.output
    assert "identical" in result.output


def test_the_set_based_rebuild_reads_events_no_upcaster_changes():
    # ``rebuild`` reads the stored data as it is: an upcaster for a money event would make
    # it diverge from ``apply`` (which sees upcast data), so it must not be added silently
    upcasters = service_models("escrow").upcasters
    for event_type in set(POSTING_RULES) | set(ESCROW_RULES):
        assert upcasters.latest_version(event_type) == 1, event_type


def _by_rule(event_type: str, data: dict) -> list[tuple[str, int, str]]:
    """The postings of one event as ``POSTING_RULES`` describe them (what the SQL does)."""

    def at(key):
        value = data
        for part in key.split("."):
            value = value[part]
        return value

    currency_key, legs = POSTING_RULES[event_type]
    out = []
    for (prefix, key, sep, key2), terms in legs:
        account = prefix + (at(key) if key else "") + (sep + at(key2) if key2 else "")
        amount = sum(sign * at(term) for sign, term in terms)
        if amount:
            out.append((account, amount, at(currency_key)))
    return out


@pytest.mark.parametrize("event_type", sorted(POSTING_RULES))
def test_the_posting_rules_as_data_are_the_rules_of_the_ledger(event_type):
    for amounts in ((700, 90, 0, 5), (0, 0, 0, 0), (12_345, 0, 1, 0), (3, 4, 5, 6)):
        money = iter(amounts * 3)
        data = {
            key: {"amount": next(money), "currency": "EUR"}
            for key in ("amount", "client_fee", "gross", "net", "fee", "refund", "release")
        }
        data |= {
            "user_id": "u-1",
            "client_id": "c-1",
            "freelancer_id": "f-1",
            "contract_id": "k-1",
            "source": "client_wallet",
        }
        expected = [(p.account, p.amount, p.currency) for p in postings_for(event_type, data)]
        assert _by_rule(event_type, data) == expected, amounts
