"""Read models: contract, wallet and ledger rows, rebuilt from the log byte for byte."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.escrow.domain import Contract
from services.escrow.ledger import Ledger
from services.escrow.projections import (
    authorize_ledger_read,
    canonical,
    contract_summary,
    contract_view,
    ledger_statement,
    wallet_view,
)
from services.escrow.wallet import Wallet
from shared.errors import Forbidden

from .harness import CLIENT, FREELANCER, STRANGER, Harness, usd
from .test_fixed_price import submitted


def busy(h: Harness) -> str:
    cid, m1 = submitted(h)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    c.approve_milestone(m1, CLIENT, h.now, fw, usd(20_000))
    h.commit(c, fw)
    h.advance(days=6)
    h.fire(h.due("earnings.available"))
    c = h.contract(cid)
    c.request_refund("r-1", m1, CLIENT, h.now)
    h.commit(c)
    return cid


def rebuild(h: Harness) -> tuple[dict, dict, Ledger]:
    """Fold the whole log from position 0 into fresh aggregates and a fresh ledger."""
    by_stream: dict[str, list] = {}
    ledger = Ledger()
    for stored in h.log:
        by_stream.setdefault(stored.stream, []).append(stored)
        ledger.post(stored.type, stored.data, stored.position, stored.recorded_at)
    contracts, wallets = {}, {}
    for stream, events in by_stream.items():
        kind, _, ident = stream.partition("-")
        if kind == "contract":
            contracts[ident] = Contract.rehydrate(ident, events)
        else:
            wallets[ident] = Wallet.rehydrate(ident, events)
    return contracts, wallets, ledger


def test_rebuilding_from_the_log_gives_the_same_rows_byte_for_byte():
    h = Harness()
    cid = busy(h)
    live_contract = canonical(contract_view(h.contract(cid)))
    live_wallets = [canonical(wallet_view(h.wallet(u))) for u in (CLIENT, FREELANCER)]
    live_ledger = canonical(ledger_statement(h.ledger.entries, f"contract_escrow:{cid}", "USD"))
    contracts, wallets, ledger = rebuild(h)
    assert canonical(contract_view(contracts[cid])) == live_contract
    assert [
        canonical(wallet_view(wallets[f"{u}:USD"])) for u in (CLIENT, FREELANCER)
    ] == live_wallets
    assert (
        canonical(ledger_statement(ledger.entries, f"contract_escrow:{cid}", "USD")) == live_ledger
    )
    assert dict(ledger.balances) == dict(h.ledger.balances)


def test_contract_view_and_summary_show_the_money():
    h = Harness()
    cid = busy(h)
    view = contract_view(h.contract(cid))
    milestone = view["milestones"][0]
    assert milestone["status"] == "refund_requested"
    assert milestone["held"] == {"amount": 30_000, "currency": "USD"}
    assert view["refunds"][0]["status"] == "requested"
    assert contract_summary(h.contract(cid))["in_escrow"]["amount"] == 30_000
    wallet = wallet_view(h.wallet(FREELANCER))
    assert wallet["available"] == {"amount": 18_000, "currency": "USD"}


def test_ledger_statement_with_running_balance_as_of_and_paging():
    h = Harness()
    h.deposit(CLIENT, 1_000)
    first = h.now
    h.advance(days=1)
    h.deposit(CLIENT, 500)
    account = f"client_wallet:{CLIENT}"
    full = ledger_statement(h.ledger.entries, account, "USD")
    assert [r["balance_after"] for r in full["entries"]] == [1_000, 1_500]
    assert full["balance"] == 1_500
    past = ledger_statement(h.ledger.entries, account, "USD", as_of=first)
    assert past["balance"] == 1_000 and len(past["entries"]) == 1
    assert (
        ledger_statement(h.ledger.entries, account, "USD", as_of=first - timedelta(seconds=1))[
            "balance"
        ]
        == 0
    )
    page = ledger_statement(
        h.ledger.entries, account, "USD", after_position=full["entries"][0]["position"]
    )
    assert [r["amount"] for r in page["entries"]] == [500] and page["balance"] == 1_500


@pytest.mark.parametrize(
    "account, viewer, roles, parties, allowed",
    [
        (f"client_wallet:{CLIENT}", CLIENT, (), None, True),
        (f"client_wallet:{CLIENT}", STRANGER, (), None, False),
        (f"freelancer_available:{FREELANCER}", FREELANCER, (), None, True),
        ("contract_escrow:c-1", FREELANCER, (), (CLIENT, FREELANCER), True),
        ("contract_escrow:c-1", STRANGER, (), (CLIENT, FREELANCER), False),
        ("platform_fees", CLIENT, ("client",), None, False),
        ("provider_clearing:USD", STRANGER, (), None, False),
        ("platform_fees", "a-1", ("auditor",), None, True),
        (f"client_wallet:{CLIENT}", "o-1", ("operator",), None, True),
    ],
)
def test_who_reads_which_ledger_account(account, viewer, roles, parties, allowed):
    if allowed:
        authorize_ledger_read(account, viewer, roles, parties)
    else:
        with pytest.raises(Forbidden):
            authorize_ledger_read(account, viewer, roles, parties)


def test_stored_deadlines_are_plain_json_and_keyed_by_due_time():
    import json

    h = Harness()
    busy(h)
    for deadline in h.deadlines.values():
        assert json.loads(json.dumps(deadline.to_dict())) == deadline.to_dict()
        assert deadline.key.endswith(deadline.due_at.isoformat())
    kinds = sorted({d.kind for d in h.deadlines.values()})
    assert kinds == ["earnings.available", "milestone.auto_approve", "refund.response_due"]
