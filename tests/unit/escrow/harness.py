"""A tiny in-memory event log for escrow unit tests.

It plays the unit of work: aggregates are rehydrated from the stored events (so every step
also exercises replay), a command's pending events are appended with an optimistic version
check, every appended event is posted to a ``Ledger`` and its deadlines are kept, and after
each commit every ledger invariant is checked along with the agreement of each touched
contract and wallet with the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.escrow.deadlines import Deadline, deadlines_for, fire_deadline, wallets_needed
from services.escrow.domain import Contract, contract_id_for_offer
from services.escrow.ledger import (
    Ledger,
    check_all,
    check_contract_matches_ledger,
    check_wallet_matches_ledger,
)
from services.escrow.settings import DEFAULT_SETTINGS, EscrowSettings, FeeSchedule
from services.escrow.wallet import Wallet, wallet_id
from shared.domain import Aggregate, NewEvent
from shared.errors import ConcurrencyError
from shared.money import Money

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
CLIENT = "client-1"
FREELANCER = "freelancer-1"
STRANGER = "stranger-1"
OPERATOR = "operator-1"
SECOND = timedelta(seconds=1)


def usd(amount: int) -> Money:
    return Money(amount, "USD")


def fixed_offer(offer_id: str = "offer-1", amounts=(50_000, 30_000)) -> dict:
    return {
        "offer_id": offer_id,
        "proposal_id": "proposal-1",
        "job_id": "job-1",
        "client_id": CLIENT,
        "freelancer_id": FREELANCER,
        "kind": "fixed",
        "currency": "USD",
        "terms": {
            "milestones": [
                {"title": f"Part {i + 1}", "amount": usd(a), "due_date": None}
                for i, a in enumerate(amounts)
            ],
            "start_date": None,
        },
    }


def hourly_offer(offer_id: str = "offer-h", manual: bool = True, limit: int = 10) -> dict:
    return {
        "offer_id": offer_id,
        "proposal_id": None,
        "job_id": "job-2",
        "client_id": CLIENT,
        "freelancer_id": FREELANCER,
        "kind": "hourly",
        "currency": "USD",
        "terms": {
            "hourly_rate": usd(6_000),
            "weekly_limit_hours": limit,
            "manual_time_allowed": manual,
            "start_date": None,
        },
    }


@dataclass(frozen=True)
class Stored:
    type: str
    data: dict
    version: int
    stream: str
    position: int
    recorded_at: datetime


class Harness:
    """The log, the ledger and the deadlines of one test."""

    def __init__(
        self,
        now: datetime = T0,
        settings: EscrowSettings = DEFAULT_SETTINGS,
        fees: FeeSchedule | None = None,
    ):
        self.now = now
        self.settings = settings
        self.fees = fees or FeeSchedule(freelancer_fee_bps=1000, client_fee_bps=0)
        self.streams: dict[str, list[Stored]] = defaultdict(list)
        self.log: list[Stored] = []
        self.ledger = Ledger()
        self.deadlines: dict[str, Deadline] = {}

    # -- time -----------------------------------------------------------------------------

    def advance(self, delta: timedelta = timedelta(0), **kwargs) -> datetime:
        self.now += delta + timedelta(**kwargs)
        return self.now

    def at(self, when: datetime) -> datetime:
        self.now = when
        return when

    # -- loading and committing -----------------------------------------------------------

    def contract(self, contract_id: str) -> Contract:
        return Contract.rehydrate(contract_id, self.streams[Contract.stream_for(contract_id)])

    def wallet(self, user_id: str, currency: str = "USD") -> Wallet:
        wid = wallet_id(user_id, currency)
        return Wallet.rehydrate(wid, self.streams[Wallet.stream_for(wid)])

    def commit(self, *aggregates: Aggregate) -> list[NewEvent]:
        """Append what the aggregates recorded, atomically, then check every invariant."""
        for agg in aggregates:
            if len(self.streams[agg.stream]) != agg.loaded_version:
                raise ConcurrencyError(f"{agg.stream} moved on")
        appended = []
        for agg in aggregates:
            for event in agg.take_pending():
                assert_plain_json(event.data)
                stream = self.streams[event.stream]
                stored = Stored(
                    event.type, event.data, len(stream) + 1, event.stream, len(self.log), self.now
                )
                stream.append(stored)
                self.log.append(stored)
                self.ledger.post(event.type, event.data, stored.position, self.now)
                for deadline in deadlines_for(event):
                    self.deadlines[deadline.key] = deadline
                appended.append(event)
        self.check(*aggregates)
        return appended

    def check(self, *aggregates: Aggregate) -> None:
        check_all(self.ledger)
        for agg in aggregates:
            fresh = type(agg).rehydrate(agg.id, self.streams[agg.stream])
            if isinstance(fresh, Contract):
                check_contract_matches_ledger(fresh, self.ledger)
            else:
                check_wallet_matches_ledger(fresh, self.ledger)

    # -- common steps ---------------------------------------------------------------------

    def open(self, offer: dict) -> str:
        contract_id = contract_id_for_offer(offer["offer_id"])
        contract = self.contract(contract_id)
        contract.open(offer, self.fees, self.now)
        self.commit(contract)
        return contract_id

    def deposit(self, user_id: str, amount: int, deposit_id: str | None = None) -> None:
        wallet = self.wallet(user_id)
        deposit_id = deposit_id or f"dep-{len(wallet.deposits) + 1}"
        wallet.request_deposit(deposit_id, usd(amount), user_id, self.now)
        wallet.confirm_deposit(deposit_id, f"ref-{deposit_id}", usd(amount), self.now)
        self.commit(wallet)

    def due(self, kind: str, **target) -> Deadline:
        matches = [
            d
            for d in self.deadlines.values()
            if d.kind == kind and all(d.target.get(k) == v for k, v in target.items())
        ]
        assert len(matches) == 1, f"expected one {kind} deadline, found {matches}"
        return matches[0]

    def fire(self, deadline: Deadline) -> list[NewEvent]:
        """Fire a deadline at the harness's current time, and commit what it recorded."""
        contract = None
        prefix = Contract.stream_prefix + "-"
        if deadline.stream.startswith(prefix):
            contract = self.contract(deadline.stream.removeprefix(prefix))
        wallets = {}
        for wid in wallets_needed(deadline, contract):
            wallets[wid] = Wallet.rehydrate(wid, self.streams[Wallet.stream_for(wid)])
        fire_deadline(deadline, self.now, contract, wallets, self.settings)
        touched = [a for a in (contract, *wallets.values()) if a is not None]
        return self.commit(*touched)


def assert_plain_json(value) -> None:
    """Event data is dicts, lists, str, int, bool and None only: no floats, no objects."""
    if isinstance(value, dict):
        assert all(isinstance(k, str) for k in value), value
        for item in value.values():
            assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain_json(item)
    else:
        assert value is None or type(value) in (str, int, bool), repr(value)


def types(events: list[NewEvent]) -> list[str]:
    return [e.type for e in events]
