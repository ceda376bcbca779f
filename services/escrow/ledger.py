"""The double-entry ledger of escrow, as pure code.

Every money event maps to a list of postings (``postings_for``); the postings of one event
sum to zero per currency. A posting's amount is signed from the account's point of view:
positive means the account now holds more. Accounts (balances are per account *and*
currency):

- ``provider_clearing:<currency>``: the payment provider's side. Money entering the
  platform makes it negative, money paid out brings it back. The only account that may be
  negative.
- ``client_wallet:<user>``: a client's spendable deposits and refunds.
- ``contract_escrow:<contract>``: money held for a contract's milestones and hourly weeks.
- ``freelancer_pending:<user>``: net earnings inside their security period.
- ``freelancer_available:<user>``: net earnings that may be withdrawn.
- ``withdrawals_in_flight:<user>``: withdrawals the provider has not yet paid out.
- ``platform_fees``: freelancer service fees and client marketplace fees.

The wallet's mirror events (``ClientFundsDebited``, ``ClientFundsCredited``,
``EarningsPending``) and non-money events post nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shared.clock import parse_time

CLEARING_PREFIX = "provider_clearing:"
PLATFORM_FEES = "platform_fees"


@dataclass(frozen=True)
class Posting:
    account: str
    amount: int  # signed minor units
    currency: str


@dataclass(frozen=True)
class LedgerEntry:
    """One posting as stored, with where it came from."""

    position: int
    event_type: str
    account: str
    amount: int
    currency: str
    recorded_at: datetime


def _m(data: dict, key: str) -> tuple[int, str]:
    money = data[key]
    return money["amount"], money["currency"]


def _postings(currency: str, *pairs: tuple[str, int]) -> list[Posting]:
    # Zero legs are dropped: they explain nothing and would clutter statements.
    return [Posting(account, amount, currency) for account, amount in pairs if amount != 0]


def _release(data: dict, gross_key: str) -> list[Posting]:
    gross, cur = _m(data, gross_key)
    return _postings(
        cur,
        (f"contract_escrow:{data['contract_id']}", -gross),
        (f"freelancer_pending:{data['freelancer_id']}", _m(data, "net")[0]),
        (PLATFORM_FEES, _m(data, "fee")[0]),
    )


def _charge(data: dict) -> list[Posting]:
    amount, cur = _m(data, "amount")
    client_fee = _m(data, "client_fee")[0]
    return _postings(
        cur,
        (f"client_wallet:{data['client_id']}", -(amount + client_fee)),
        (f"contract_escrow:{data['contract_id']}", amount),
        (PLATFORM_FEES, client_fee),
    )


def _source_account(data: dict) -> str:
    return f"{data['source']}:{data['user_id']}"


def postings_for(event_type: str, data: dict) -> list[Posting]:
    """The balanced postings of one event (an empty list when it moves no money)."""
    if event_type == "DepositConfirmed":
        amount, cur = _m(data, "amount")
        return _postings(
            cur, (CLEARING_PREFIX + cur, -amount), (f"client_wallet:{data['user_id']}", amount)
        )
    if event_type == "WithdrawalRequested":
        amount, cur = _m(data, "amount")
        return _postings(
            cur,
            (_source_account(data), -amount),
            (f"withdrawals_in_flight:{data['user_id']}", amount),
        )
    if event_type == "WithdrawalConfirmed":
        amount, cur = _m(data, "amount")
        return _postings(
            cur,
            (f"withdrawals_in_flight:{data['user_id']}", -amount),
            (CLEARING_PREFIX + cur, amount),
        )
    if event_type == "WithdrawalFailed":
        amount, cur = _m(data, "amount")
        return _postings(
            cur,
            (f"withdrawals_in_flight:{data['user_id']}", -amount),
            (_source_account(data), amount),
        )
    if event_type == "EarningsAvailable":
        amount, cur = _m(data, "amount")
        return _postings(
            cur,
            (f"freelancer_pending:{data['user_id']}", -amount),
            (f"freelancer_available:{data['user_id']}", amount),
        )
    if event_type in ("MilestoneFunded", "HourlyInvoicePaid"):
        return _charge(data)
    if event_type == "MilestoneReleased":
        return _release(data, "gross")
    if event_type == "HourlyWeekReleased":
        return _release(data, "gross")
    if event_type == "EscrowRefunded":
        amount, cur = _m(data, "amount")
        return _postings(
            cur,
            (f"contract_escrow:{data['contract_id']}", -amount),
            (f"client_wallet:{data['client_id']}", amount),
        )
    if event_type == "DisputeResolved":
        refund, cur = _m(data, "refund")
        release = _m(data, "release")[0]
        return _postings(
            cur,
            (f"contract_escrow:{data['contract_id']}", -(refund + release)),
            (f"client_wallet:{data['client_id']}", refund),
            (f"freelancer_pending:{data['freelancer_id']}", _m(data, "net")[0]),
            (PLATFORM_FEES, _m(data, "fee")[0]),
        )
    if event_type == "BonusPaid":
        amount, cur = _m(data, "amount")
        client_fee = _m(data, "client_fee")[0]
        return _postings(
            cur,
            (f"client_wallet:{data['client_id']}", -(amount + client_fee)),
            (f"freelancer_pending:{data['freelancer_id']}", _m(data, "net")[0]),
            (PLATFORM_FEES, _m(data, "fee")[0] + client_fee),
        )
    return []


def escrow_target(event_type: str, data: dict) -> tuple[str, str, str] | None:
    """(contract, kind, id) of the milestone or week whose escrow an event moves."""
    if event_type in ("MilestoneFunded", "MilestoneReleased", "EscrowRefunded"):
        return data["contract_id"], "milestone", data["milestone_id"]
    if event_type in ("HourlyInvoicePaid", "HourlyWeekReleased"):
        return data["contract_id"], "week", data["week_start"]
    if event_type == "DisputeResolved":
        if data["milestone_id"] is not None:
            return data["contract_id"], "milestone", data["milestone_id"]
        return data["contract_id"], "week", data["week_start"]
    return None


@dataclass
class EscrowTotals:
    """Funded, released and refunded gross amounts of one milestone or week."""

    currency: str
    funded: int = 0
    released: int = 0
    refunded: int = 0

    @property
    def held(self) -> int:
        return self.funded - self.released - self.refunded


@dataclass
class Ledger:
    """Entries and balances folded from money events, in log order.

    Feed it every escrow event (``post``); it keeps the entries, the running balances and
    the per-milestone / per-week escrow totals the invariants check.
    """

    entries: list[LedgerEntry] = field(default_factory=list)
    balances: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    escrow: dict[tuple[str, str, str], EscrowTotals] = field(default_factory=dict)

    def post(
        self, event_type: str, data: dict, position: int, recorded_at: datetime | str
    ) -> list[LedgerEntry]:
        """Post one event; returns the entries it added."""
        when = parse_time(recorded_at) if isinstance(recorded_at, str) else recorded_at
        added = [
            LedgerEntry(position, event_type, p.account, p.amount, p.currency, when)
            for p in postings_for(event_type, data)
        ]
        for entry in added:
            self.entries.append(entry)
            self.balances[(entry.account, entry.currency)] += entry.amount
        self._track_escrow(event_type, data)
        return added

    def _track_escrow(self, event_type: str, data: dict) -> None:
        target = escrow_target(event_type, data)
        if target is None:
            return
        if event_type == "DisputeResolved":
            refund, cur = _m(data, "refund")
            totals = self.escrow.setdefault(target, EscrowTotals(cur))
            totals.refunded += refund
            totals.released += data["release"]["amount"]
        elif event_type in ("MilestoneFunded", "HourlyInvoicePaid"):
            amount, cur = _m(data, "amount")
            self.escrow.setdefault(target, EscrowTotals(cur)).funded += amount
        elif event_type == "EscrowRefunded":
            amount, cur = _m(data, "amount")
            self.escrow.setdefault(target, EscrowTotals(cur)).refunded += amount
        else:
            gross, cur = _m(data, "gross")
            self.escrow.setdefault(target, EscrowTotals(cur)).released += gross

    def balance(self, account: str, currency: str, as_of: datetime | None = None) -> int:
        """The balance of ``account`` in ``currency``, now or as it stood at ``as_of``."""
        if as_of is None:
            return self.balances.get((account, currency), 0)
        return sum(
            e.amount
            for e in self.entries
            if e.account == account and e.currency == currency and e.recorded_at <= as_of
        )


class LedgerInvariantError(AssertionError):
    """A ledger invariant does not hold; the message names what and where."""


def check_sums_to_zero(entries: Iterable[LedgerEntry]) -> None:
    """Per currency, all entries sum to zero, and so do the entries of each event."""
    totals: dict[str, int] = defaultdict(int)
    per_event: dict[tuple[int, str], int] = defaultdict(int)
    for e in entries:
        totals[e.currency] += e.amount
        per_event[(e.position, e.currency)] += e.amount
    for currency, total in totals.items():
        if total != 0:
            raise LedgerInvariantError(f"{currency} ledger sums to {total}, not zero")
    for (position, currency), total in per_event.items():
        if total != 0:
            raise LedgerInvariantError(f"event at {position} is unbalanced by {total} {currency}")


def check_balances_match_entries(
    entries: Iterable[LedgerEntry], balances: dict[tuple[str, str], int]
) -> None:
    """Every balance equals the sum of its entries (and no entry lacks a balance)."""
    summed: dict[tuple[str, str], int] = defaultdict(int)
    for e in entries:
        summed[(e.account, e.currency)] += e.amount
    for key in set(summed) | {k for k, v in balances.items() if v != 0}:
        if summed.get(key, 0) != balances.get(key, 0):
            raise LedgerInvariantError(
                f"{key[0]} balance {balances.get(key, 0)} {key[1]} "
                f"but its entries sum to {summed.get(key, 0)}"
            )


def check_no_negative_balances(balances: dict[tuple[str, str], int]) -> None:
    """Nothing but a provider clearing account is negative."""
    for (account, currency), amount in balances.items():
        if amount < 0 and not account.startswith(CLEARING_PREFIX):
            raise LedgerInvariantError(f"{account} is negative: {amount} {currency}")


def check_escrow_breakdown(ledger: Ledger) -> None:
    """Per milestone and week, funded == released + refunded + held with held >= 0, and
    each contract's escrow balance is the sum of what its milestones and weeks hold."""
    per_contract: dict[tuple[str, str], int] = defaultdict(int)
    for (contract_id, kind, target_id), totals in ledger.escrow.items():
        if totals.held < 0:
            raise LedgerInvariantError(
                f"{kind} {target_id} of {contract_id} released and refunded "
                f"{totals.released + totals.refunded}, more than the {totals.funded} funded"
            )
        per_contract[(f"contract_escrow:{contract_id}", totals.currency)] += totals.held
    for key, amount in ledger.balances.items():
        if key[0].startswith("contract_escrow:") and per_contract.get(key, 0) != amount:
            raise LedgerInvariantError(
                f"{key[0]} holds {amount} {key[1]} but its milestones and weeks hold "
                f"{per_contract.get(key, 0)}"
            )


def check_all(ledger: Ledger) -> None:
    """Run every ledger invariant; raises ``LedgerInvariantError`` on the first broken one."""
    check_sums_to_zero(ledger.entries)
    check_balances_match_entries(ledger.entries, ledger.balances)
    check_no_negative_balances(ledger.balances)
    check_escrow_breakdown(ledger)


def check_contract_matches_ledger(contract, ledger: Ledger) -> None:
    """The contract aggregate's view of each milestone and paid week agrees with the ledger:
    funded, released, refunded and held, and the escrow balance."""
    for milestone in contract.milestones.values():
        totals = ledger.escrow.get((contract.id, "milestone", milestone.id))
        seen = (totals.funded, totals.released, totals.refunded) if totals else (0, 0, 0)
        mine = (milestone.funded.amount, milestone.released.amount, milestone.refunded.amount)
        if seen != mine:
            raise LedgerInvariantError(
                f"milestone {milestone.id}: contract says funded/released/refunded {mine}, "
                f"ledger {seen}"
            )
    held = sum(m.held.amount for m in contract.milestones.values())
    for key, week in contract.weeks.items():
        if week.paid is None:
            continue
        totals = ledger.escrow.get((contract.id, "week", key))
        mine = (week.paid.amount, week.released.amount, week.refunded.amount)
        seen = (totals.funded, totals.released, totals.refunded) if totals else (0, 0, 0)
        if seen != mine:
            raise LedgerInvariantError(f"week {key}: contract says {mine}, ledger {seen}")
        held += week.held.amount
    if contract.currency:
        in_ledger = ledger.balance(f"contract_escrow:{contract.id}", contract.currency)
        if in_ledger != held:
            raise LedgerInvariantError(
                f"contract {contract.id} holds {held} but its escrow account has {in_ledger}"
            )


def check_wallet_matches_ledger(wallet, ledger: Ledger) -> None:
    """A wallet's four balances equal the ledger accounts they mirror."""
    pairs = (
        ("client_wallet", wallet.balance),
        ("freelancer_pending", wallet.earnings_pending),
        ("freelancer_available", wallet.earnings_available),
        ("withdrawals_in_flight", wallet.in_flight),
    )
    for prefix, money in pairs:
        in_ledger = ledger.balance(f"{prefix}:{wallet.user_id}", wallet.currency)
        if in_ledger != money.amount:
            raise LedgerInvariantError(
                f"wallet {wallet.id} says {prefix} {money.amount}, the ledger {in_ledger}"
            )
