"""A timeline merges the events about one subject from several services' logs."""

from __future__ import annotations

from shared.audit.timeline import money_in, timeline
from shared.clock import ManualClock
from shared.domain import NewEvent
from shared.eventstore import PostgresEventStore


def test_a_contract_story_across_two_services(databases):
    clock = ManualClock()
    bidding_dsn, escrow_dsn = databases.create("core"), databases.create("core")
    bidding = PostgresEventStore.connect(bidding_dsn, clock=clock, max_size=1)
    escrow = PostgresEventStore.connect(escrow_dsn, clock=clock, max_size=1)
    try:
        bidding.append(
            [
                NewEvent(
                    "OfferAccepted", {"offer_id": "o1", "contract_id": "k42"}, stream="offer-o1"
                )
            ],
            metadata={"actor": "freelancer-1", "correlation_id": "corr-1"},
        )
        clock.advance(seconds=1)
        escrow.append(
            [NewEvent("ContractStarted", {"offer_id": "o1"}, stream="contract-k42")],
            metadata={"actor": "system", "correlation_id": "corr-1"},
        )
        escrow.append(
            [NewEvent("WalletOpened", {"user": "freelancer-1"}, stream="wallet-f1")],
            metadata={"actor": "system", "correlation_id": "corr-1"},
        )
        clock.advance(seconds=1)
        escrow.append(
            [
                NewEvent(
                    "MilestoneFunded",
                    {"contract_id": "k42", "amount": {"amount": 5000, "currency": "USD"}},
                    stream="contract-k42",
                )
            ],
            metadata={"actor": "client-1", "correlation_id": "corr-2"},
        )
        escrow.append(
            [NewEvent("ContractStarted", {"offer_id": "o9"}, stream="contract-k7")],
            metadata={"actor": "system", "correlation_id": "corr-9"},
        )
    finally:
        bidding.close()
        escrow.close()

    entries = timeline({"bidding": bidding_dsn, "escrow": escrow_dsn}, "k42")
    assert [(e.service, e.type) for e in entries] == [
        ("bidding", "OfferAccepted"),
        ("escrow", "ContractStarted"),
        ("escrow", "WalletOpened"),  # same command's ripple, by correlation
        ("escrow", "MilestoneFunded"),
    ]
    assert entries[-1].actor == "client-1"
    assert entries[-1].money == (("amount", 5000, "USD"),)
    assert "MilestoneFunded on contract-k42 by client-1 [amount 5000 USD]" in entries[-1].describe()


def test_money_is_found_wherever_it_sits():
    data = {
        "gross": {"amount": 100, "currency": "EUR"},
        "split": [{"amount": 40, "currency": "EUR"}],
    }
    assert list(money_in(data)) == [("gross", 100, "EUR"), ("split[0]", 40, "EUR")]
