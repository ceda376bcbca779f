"""escrow's read models as event-store projections, kept in the append's transaction.

- ``ContractsProjection``: ``escrow_contracts`` (the ``get_contract`` view and the
  ``list_contracts`` summary of every contract).
- ``WalletsProjection``: ``escrow_wallets`` (the ``wallet`` view of each user and currency).
- ``LedgerProjection``: ``ledger_entries`` (every posting), ``ledger_balances`` (running
  balance per account) and ``escrow_totals`` (funded / released / refunded per milestone
  and hourly week).

The contract and wallet rows are the pure shaping of ``projections.py`` applied to the
aggregate folded from its stream up to the event's version, so replaying the log from
position 0 writes exactly the rows the live projection wrote.
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from shared.domain import Aggregate
from shared.eventstore import Projection
from shared.eventstore.records import RecordedEvent

from .domain import Contract
from .ledger import Ledger
from .projections import contract_summary, contract_view, wallet_view
from .wallet import Wallet


class _Event:
    __slots__ = ("type", "data", "version")

    def __init__(self, type: str, data: dict, version: int):
        self.type, self.data, self.version = type, data, version


def _fold(cur: psycopg.Cursor, cls: type[Aggregate], event: RecordedEvent) -> Aggregate:
    """The aggregate of ``event``'s stream as it stood right after ``event``."""
    rows = cur.execute(
        "SELECT type, data, version FROM events WHERE stream = %s AND version <= %s"
        " ORDER BY version",
        (event.stream, event.version),
    ).fetchall()
    aggregate_id = event.stream.removeprefix(cls.stream_prefix + "-")
    return cls.rehydrate(aggregate_id, [_Event(*row) for row in rows])


class ContractsProjection(Projection):
    name = "escrow_contracts"
    tables = ("escrow_contracts",)

    def handles(self, event_type: str) -> bool:
        return True

    def apply(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        if not event.stream.startswith(Contract.stream_prefix + "-"):
            return
        contract = _fold(cur, Contract, event)
        cur.execute(
            "INSERT INTO escrow_contracts (contract_id, client_id, freelancer_id, status,"
            " opened_at, version, summary, view) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (contract_id) DO UPDATE SET status = excluded.status,"
            " version = excluded.version, summary = excluded.summary, view = excluded.view",
            (
                contract.id,
                contract.client_id,
                contract.freelancer_id,
                contract.status,
                contract.opened_at,
                contract.version,
                Jsonb(contract_summary(contract)),
                Jsonb(contract_view(contract)),
            ),
        )


class WalletsProjection(Projection):
    name = "escrow_wallets"
    tables = ("escrow_wallets",)

    def handles(self, event_type: str) -> bool:
        return True

    def apply(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        if not event.stream.startswith(Wallet.stream_prefix + "-"):
            return
        wallet = _fold(cur, Wallet, event)
        cur.execute(
            "INSERT INTO escrow_wallets (wallet_id, user_id, currency, version, view)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (wallet_id) DO UPDATE SET"
            " version = excluded.version, view = excluded.view",
            (
                wallet.id,
                wallet.user_id,
                wallet.currency,
                wallet.version,
                Jsonb(wallet_view(wallet)),
            ),
        )


class LedgerProjection(Projection):
    name = "escrow_ledger"
    tables = ("ledger_entries", "ledger_balances", "escrow_totals")

    def handles(self, event_type: str) -> bool:
        return True

    def apply(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        # A ledger of one event gives its entries and its escrow deltas with the same
        # rules the pure ledger folds by.
        one = Ledger()
        entries = one.post(event.type, event.data, event.position, event.recorded_at)
        for leg, entry in enumerate(entries):
            cur.execute(
                "INSERT INTO ledger_entries (position, leg, event_type, account, currency,"
                " amount, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    entry.position,
                    leg,
                    entry.event_type,
                    entry.account,
                    entry.currency,
                    entry.amount,
                    entry.recorded_at,
                ),
            )
            cur.execute(
                "INSERT INTO ledger_balances (account, currency, balance) VALUES (%s, %s, %s)"
                " ON CONFLICT (account, currency) DO UPDATE"
                " SET balance = ledger_balances.balance + excluded.balance",
                (entry.account, entry.currency, entry.amount),
            )
        for (contract_id, kind, target_id), totals in one.escrow.items():
            cur.execute(
                "INSERT INTO escrow_totals (contract_id, kind, target_id, currency, funded,"
                " released, refunded) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (contract_id, kind, target_id) DO UPDATE SET"
                " funded = escrow_totals.funded + excluded.funded,"
                " released = escrow_totals.released + excluded.released,"
                " refunded = escrow_totals.refunded + excluded.refunded",
                (
                    contract_id,
                    kind,
                    target_id,
                    totals.currency,
                    totals.funded,
                    totals.released,
                    totals.refunded,
                ),
            )


PROJECTIONS = (ContractsProjection(), WalletsProjection(), LedgerProjection())
