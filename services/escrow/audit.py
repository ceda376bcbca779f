"""The ledger invariants, checked against an escrow database (any test can call them).

``check_database(dsn)`` reads the ledger read models and the log and raises
``LedgerInvariantError`` naming the first broken rule:

- per currency (and per event) the entries sum to zero;
- every stored balance (``ledger_balances``) equals the sum of its entries;
- nothing but a provider clearing account is negative;
- per milestone and hourly week funded == released + refunded + held, held >= 0, and each
  contract's escrow balance is what its milestones and weeks hold;
- the stored read models equal a fold of the log: each wallet's four balances match its
  ledger accounts, each contract's milestones and weeks match the ledger's totals, and the
  ledger folded from the events equals the stored entries.
"""

from __future__ import annotations

from collections import defaultdict

import psycopg

from .domain import Contract
from .ledger import (
    EscrowTotals,
    Ledger,
    LedgerEntry,
    LedgerInvariantError,
    check_all,
    check_contract_matches_ledger,
    check_wallet_matches_ledger,
)
from .wallet import Wallet


def stored_ledger(conn: psycopg.Connection) -> Ledger:
    """The ledger as the read models hold it: entries, balances and escrow totals."""
    ledger = Ledger()
    for position, event_type, account, currency, amount, recorded_at in conn.execute(
        "SELECT position, event_type, account, currency, amount, recorded_at"
        " FROM ledger_entries ORDER BY position, leg"
    ):
        ledger.entries.append(
            LedgerEntry(position, event_type, account, int(amount), currency, recorded_at)
        )
    ledger.balances = defaultdict(int)
    for account, currency, balance in conn.execute(
        "SELECT account, currency, balance FROM ledger_balances"
    ):
        ledger.balances[(account, currency)] = int(balance)
    for contract_id, kind, target_id, currency, funded, released, refunded in conn.execute(
        "SELECT contract_id, kind, target_id, currency, funded, released, refunded"
        " FROM escrow_totals"
    ):
        ledger.escrow[(contract_id, kind, target_id)] = EscrowTotals(
            currency, int(funded), int(released), int(refunded)
        )
    return ledger


def _streams(conn: psycopg.Connection, prefix: str) -> dict[str, list]:
    streams: dict[str, list] = defaultdict(list)
    rows = conn.execute(
        "SELECT stream, type, data, version, position, recorded_at FROM events"
        " WHERE stream LIKE %s ORDER BY position",
        (prefix + "-%",),
    )
    for stream, type_, data, version, position, recorded_at in rows:
        streams[stream].append((type_, data, version, position, recorded_at))
    return streams


class _Row:
    def __init__(self, type_, data, version):
        self.type, self.data, self.version = type_, data, version


def check_database(dsn: str) -> Ledger:
    """Run every invariant against the escrow database at ``dsn``; returns the ledger."""
    with psycopg.connect(dsn, autocommit=False) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        ledger = stored_ledger(conn)
        check_all(ledger)

        folded = Ledger()
        for type_, data, position, recorded_at in conn.execute(
            "SELECT type, data, position, recorded_at FROM events ORDER BY position"
        ):
            folded.post(type_, data, position, recorded_at)
        if folded.entries != ledger.entries:
            raise LedgerInvariantError("the stored ledger entries differ from a fold of the log")
        for key in set(folded.escrow) | set(ledger.escrow):
            if folded.escrow.get(key) != ledger.escrow.get(key):
                raise LedgerInvariantError(f"escrow totals of {key} differ from the log")

        for stream, events in _streams(conn, Wallet.stream_prefix).items():
            wallet = Wallet.rehydrate(
                stream.removeprefix("wallet-"), [_Row(t, d, v) for t, d, v, _, _ in events]
            )
            check_wallet_matches_ledger(wallet, ledger)
        for stream, events in _streams(conn, Contract.stream_prefix).items():
            contract = Contract.rehydrate(
                stream.removeprefix("contract-"), [_Row(t, d, v) for t, d, v, _, _ in events]
            )
            check_contract_matches_ledger(contract, ledger)
        conn.rollback()
    return ledger
