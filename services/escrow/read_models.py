"""escrow's read models as event-store projections, kept in the append's transaction.

- ``ContractsProjection``: ``escrow_contracts`` (the ``get_contract`` view and the
  ``list_contracts`` summary of every contract).
- ``WalletsProjection``: ``escrow_wallets`` (the ``wallet`` view of each user and currency).
- ``LedgerProjection``: ``ledger_entries`` (every posting), ``ledger_balances`` (running
  balance per account) and ``escrow_totals`` (funded / released / refunded per milestone
  and hourly week). Besides the live ``apply`` it has the two replay hooks of
  ``Projection``: ``apply_batch`` (a page of events, COPY) and ``rebuild`` (set-based SQL
  over the log, from ``POSTING_RULES`` and ``ESCROW_RULES``, the rules of ``ledger.py`` as
  data); ``tests/escrow/test_ledger_replay.py`` checks all three give the same rows.

The contract and wallet rows are the pure shaping of ``projections.py`` applied to the
aggregate as it stood after the event: folded from its stream up to the event's version on a
replay, and on the live path the aggregate the command has just saved (no second read and
fold of the stream), so replaying the log from position 0 writes exactly the rows the live
projection wrote (``tests/escrow/test_rebuild.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from shared.domain import Aggregate
from shared.eventstore import Projection
from shared.eventstore.records import RecordedEvent

from .domain import Contract
from .ledger import CLEARING_PREFIX, PLATFORM_FEES, Ledger
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


class _AggregateRowProjection(Projection):
    """A row per aggregate of one type, shaped from the aggregate as it stands after the
    event. ``apply`` (replay) folds the stream up to the event; the live path takes the
    aggregate the command just saved, and writes once per stream and append: for the last
    of the append's events on it, the state that ``apply`` of that event would fold."""

    aggregate: type[Aggregate]

    def handles(self, event_type: str) -> bool:
        return True

    def _ours(self, event: RecordedEvent) -> bool:
        return event.stream.startswith(self.aggregate.stream_prefix + "-")

    def apply(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        if self._ours(event):
            self.write(cur, _fold(cur, self.aggregate, event))

    def apply_live(
        self, cur: psycopg.Cursor, event: RecordedEvent, saved: Mapping[str, Aggregate]
    ) -> None:
        if not self._ours(event):
            return
        aggregate = saved.get(event.stream)
        if aggregate is None:
            self.apply(cur, event)  # appended without its aggregate: fold it
        elif aggregate.version == event.version:
            self.write(cur, aggregate)
        # else a later event of this append on the stream writes the row

    def write(self, cur: psycopg.Cursor, aggregate: Any) -> None:
        raise NotImplementedError


class ContractsProjection(_AggregateRowProjection):
    name = "escrow_contracts"
    tables = ("escrow_contracts",)
    aggregate = Contract

    def write(self, cur: psycopg.Cursor, contract: Contract) -> None:
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


class WalletsProjection(_AggregateRowProjection):
    name = "escrow_wallets"
    tables = ("escrow_wallets",)
    aggregate = Wallet

    def write(self, cur: psycopg.Cursor, wallet: Wallet) -> None:
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


# -- the ledger ------------------------------------------------------------------------
#
# The posting rules of ``ledger.postings_for`` as data, for the set-based rebuild. Per event
# type: where its currency is, and its legs in order. A leg's account is a constant prefix
# followed by up to two values of the event's data joined by a separator; its amount is a
# signed sum of up to two amounts of the data. Legs of zero amount are dropped and the
# remaining legs numbered from 0, as ``LedgerProjection.apply`` does.
# A test checks these rules against ``postings_for`` on every money event type.

_Account = tuple[str, str | None, str, str | None]  # prefix, key, separator, key
_Amount = tuple[tuple[int, str], ...]  # (sign, key) terms


def _acct(prefix: str, key: str | None = None, sep: str = "", key2: str | None = None) -> _Account:
    return (prefix, key, sep, key2)


_CHARGE: tuple[tuple[_Account, _Amount], ...] = (
    (_acct("client_wallet:", "client_id"), ((-1, "amount.amount"), (-1, "client_fee.amount"))),
    (_acct("contract_escrow:", "contract_id"), ((1, "amount.amount"),)),
    (_acct(PLATFORM_FEES), ((1, "client_fee.amount"),)),
)
_RELEASE: tuple[tuple[_Account, _Amount], ...] = (
    (_acct("contract_escrow:", "contract_id"), ((-1, "gross.amount"),)),
    (_acct("freelancer_pending:", "freelancer_id"), ((1, "net.amount"),)),
    (_acct(PLATFORM_FEES), ((1, "fee.amount"),)),
)
_SOURCE = _acct("", "source", ":", "user_id")

POSTING_RULES: dict[str, tuple[str, tuple[tuple[_Account, _Amount], ...]]] = {
    "DepositConfirmed": (
        "amount.currency",
        (
            (_acct(CLEARING_PREFIX, "amount.currency"), ((-1, "amount.amount"),)),
            (_acct("client_wallet:", "user_id"), ((1, "amount.amount"),)),
        ),
    ),
    "WithdrawalRequested": (
        "amount.currency",
        (
            (_SOURCE, ((-1, "amount.amount"),)),
            (_acct("withdrawals_in_flight:", "user_id"), ((1, "amount.amount"),)),
        ),
    ),
    "WithdrawalConfirmed": (
        "amount.currency",
        (
            (_acct("withdrawals_in_flight:", "user_id"), ((-1, "amount.amount"),)),
            (_acct(CLEARING_PREFIX, "amount.currency"), ((1, "amount.amount"),)),
        ),
    ),
    "WithdrawalFailed": (
        "amount.currency",
        (
            (_acct("withdrawals_in_flight:", "user_id"), ((-1, "amount.amount"),)),
            (_SOURCE, ((1, "amount.amount"),)),
        ),
    ),
    "EarningsAvailable": (
        "amount.currency",
        (
            (_acct("freelancer_pending:", "user_id"), ((-1, "amount.amount"),)),
            (_acct("freelancer_available:", "user_id"), ((1, "amount.amount"),)),
        ),
    ),
    "MilestoneFunded": ("amount.currency", _CHARGE),
    "HourlyInvoicePaid": ("amount.currency", _CHARGE),
    "MilestoneReleased": ("gross.currency", _RELEASE),
    "HourlyWeekReleased": ("gross.currency", _RELEASE),
    "EscrowRefunded": (
        "amount.currency",
        (
            (_acct("contract_escrow:", "contract_id"), ((-1, "amount.amount"),)),
            (_acct("client_wallet:", "client_id"), ((1, "amount.amount"),)),
        ),
    ),
    "DisputeResolved": (
        "refund.currency",
        (
            (
                _acct("contract_escrow:", "contract_id"),
                ((-1, "refund.amount"), (-1, "release.amount")),
            ),
            (_acct("client_wallet:", "client_id"), ((1, "refund.amount"),)),
            (_acct("freelancer_pending:", "freelancer_id"), ((1, "net.amount"),)),
            (_acct(PLATFORM_FEES), ((1, "fee.amount"),)),
        ),
    ),
    "BonusPaid": (
        "amount.currency",
        (
            (
                _acct("client_wallet:", "client_id"),
                ((-1, "amount.amount"), (-1, "client_fee.amount")),
            ),
            (_acct("freelancer_pending:", "freelancer_id"), ((1, "net.amount"),)),
            (_acct(PLATFORM_FEES), ((1, "fee.amount"), (1, "client_fee.amount"))),
        ),
    ),
}
MAX_LEGS = max(len(legs) for _, legs in POSTING_RULES.values())

# What each event adds to the escrow totals of its milestone or week (``Ledger._track_escrow``):
# the kind (None: a milestone when ``milestone_id`` is set, else a week), the currency, and
# the keys of the amounts funded, released and refunded.
ESCROW_RULES: dict[str, tuple[str | None, str, str | None, tuple[str, ...], str | None]] = {
    "MilestoneFunded": ("milestone", "amount.currency", "amount.amount", (), None),
    "HourlyInvoicePaid": ("week", "amount.currency", "amount.amount", (), None),
    "MilestoneReleased": ("milestone", "gross.currency", None, ("gross.amount",), None),
    "HourlyWeekReleased": ("week", "gross.currency", None, ("gross.amount",), None),
    "EscrowRefunded": ("milestone", "amount.currency", None, (), "amount.amount"),
    "DisputeResolved": (None, "refund.currency", None, ("release.amount",), "refund.amount"),
}


def _path(key: str | None) -> str:
    """A jsonb path literal (``'{a,b}'::text[]``), or a typed NULL."""
    if key is None:
        return "NULL::text[]"
    return "'{" + ",".join(key.split(".")) + "}'::text[]"


def _text(value: str | None) -> str:
    return "NULL::text" if value is None else "'" + value.replace("'", "''") + "'"


def _posting_rules_sql() -> str:
    """``VALUES`` of the posting rules, one row per event type, legs in numbered columns."""
    rows = []
    for event_type, (currency, legs) in POSTING_RULES.items():
        cells = [_text(event_type), _path(currency)]
        for slot in range(MAX_LEGS):
            if slot < len(legs):
                (prefix, key, sep, key2), terms = legs[slot]
            else:
                (prefix, key, sep, key2), terms = (None, None, "", None), ()
            terms = tuple(terms) + ((0, None),) * (2 - len(terms))
            cells += [_text(prefix), _path(key), _text(sep), _path(key2)]
            for sign, term in terms:
                cells += [f"{sign}::bigint", _path(term)]
        rows.append("(" + ", ".join(cells) + ")")
    columns = ["type", "cur"]
    for n in range(1, MAX_LEGS + 1):
        columns += [f"p{n}", f"k{n}", f"s{n}", f"q{n}", f"x{n}", f"a{n}", f"y{n}", f"b{n}"]
    return f"(VALUES {', '.join(rows)}) AS r({', '.join(columns)})"


def _entries_sql() -> str:
    """One INSERT of every ledger entry, in one scan of the log.

    Each money event meets its rule row (a hash join on the type). The inner query works
    out the amounts of its legs once (``NULL`` past its last leg; ``OFFSET 0`` keeps the
    planner from inlining them into every use), the outer one the accounts, and ``unnest``
    turns the legs into rows, each numbered by how many non-zero legs come before it.
    """
    legs = range(1, MAX_LEGS + 1)
    amounts = ", ".join(
        f"r.x{n} * (e.data #>> r.a{n})::bigint"
        f" + coalesce(r.y{n} * (e.data #>> r.b{n})::bigint, 0) AS m{n}"
        for n in legs
    )
    rules = ", ".join(f"r.p{n}, r.k{n}, r.s{n}, r.q{n}" for n in legs)
    accounts = ", ".join(f"concat(p{n}, data #>> k{n}, s{n}, data #>> q{n})" for n in legs)
    numbers = ", ".join(" + ".join(f"(m{i} <> 0)::int" for i in range(1, n)) or "0" for n in legs)
    return (
        "INSERT INTO ledger_entries (position, leg, event_type, account, currency, amount,"
        " recorded_at)"
        " SELECT position, leg, type, account, currency, amount, recorded_at"
        " FROM (SELECT position, type, recorded_at, currency,"
        f" unnest(ARRAY[{', '.join(f'm{n}' for n in legs)}]) AS amount,"
        f" unnest(ARRAY[{accounts}]) AS account,"
        f" unnest(ARRAY[{numbers}]) AS leg"
        " FROM (SELECT e.position, e.type, e.recorded_at, e.data, e.data #>> r.cur AS currency,"
        f" {rules}, {amounts}"
        f" FROM public.events e JOIN {_posting_rules_sql()} ON r.type = e.type"
        " WHERE %(until)s::timestamptz IS NULL OR e.recorded_at <= %(until)s"
        " OFFSET 0) AS m) AS l"
        " WHERE amount <> 0"
    )


def _totals_sql() -> str:
    """One INSERT of the escrow totals: the money events that move a milestone's or a
    week's escrow, summed per target, in the currency of the first of them. (``OFFSET 0``
    has the narrow rows worked out before they are sorted, not the events' data.)"""
    rows = []
    for event_type, (kind, currency, funded, released, refunded) in ESCROW_RULES.items():
        released = tuple(released) + (None,) * (2 - len(released))
        rows.append(
            "("
            + ", ".join(
                [
                    _text(event_type),
                    _text(kind),
                    _path(currency),
                    _path(funded),
                    _path(released[0]),
                    _path(released[1]),
                    _path(refunded),
                ]
            )
            + ")"
        )
    rules = f"(VALUES {', '.join(rows)}) AS r(type, kind, cur, f, g, h, d)"
    kind = (
        "coalesce(r.kind, CASE WHEN e.data ->> 'milestone_id' IS NOT NULL"
        " THEN 'milestone' ELSE 'week' END)"
    )
    return (
        "INSERT INTO escrow_totals (contract_id, kind, target_id, currency, funded, released,"
        " refunded)"
        " SELECT contract_id, kind, target_id, (array_agg(currency ORDER BY position))[1],"
        " sum(funded), sum(released), sum(refunded)"
        " FROM (SELECT e.position, e.data ->> 'contract_id' AS contract_id,"
        f" {kind} AS kind,"
        f" CASE WHEN {kind} = 'milestone' THEN e.data ->> 'milestone_id'"
        " ELSE e.data ->> 'week_start' END AS target_id,"
        " e.data #>> r.cur AS currency,"
        " coalesce((e.data #>> r.f)::bigint, 0) AS funded,"
        " coalesce((e.data #>> r.g)::bigint, 0) + coalesce((e.data #>> r.h)::bigint, 0)"
        " AS released,"
        " coalesce((e.data #>> r.d)::bigint, 0) AS refunded"
        f" FROM public.events e JOIN {rules} ON r.type = e.type"
        " WHERE %(until)s::timestamptz IS NULL OR e.recorded_at <= %(until)s"
        " OFFSET 0) AS t"
        " GROUP BY contract_id, kind, target_id"
    )


ENTRIES_SQL = _entries_sql()
TOTALS_SQL = _totals_sql()
BALANCES_SQL = (
    "INSERT INTO ledger_balances (account, currency, balance)"
    " SELECT account, currency, sum(amount) FROM ledger_entries GROUP BY account, currency"
)


class LedgerProjection(Projection):
    """Entries, balances and escrow totals of the double-entry ledger.

    ``apply`` is the live path, run in each append's transaction. For a replay from
    position 0 there are two faster paths with the same result: ``apply_batch`` (a page of
    events folded in Python, entries written with one COPY, balances and totals summed per
    page and upserted once) and ``rebuild`` (the posting rules above as SQL over the log:
    three INSERT ... SELECT statements, no event leaves the database). escrow registers no
    upcasters, which ``rebuild`` relies on (it reads the stored data as it is).
    """

    name = "escrow_ledger"
    tables = ("ledger_entries", "ledger_balances", "escrow_totals")

    def handles(self, event_type: str) -> bool:
        return True

    def apply(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        # A ledger of one event gives its entries and its escrow deltas with the same
        # rules the pure ledger folds by.
        one = Ledger()
        entries = one.post(event.type, event.data, event.position, event.recorded_at)
        if entries:
            # one statement for the event's legs and one for the balances they move (each
            # account once, in a fixed order so that concurrent appends lock the balance
            # rows they share in the same order), not two per leg
            cur.execute(
                "INSERT INTO ledger_entries (position, leg, event_type, account, currency,"
                " amount, recorded_at) SELECT %s, t.n - 1, %s, t.account, t.currency, t.amount,"
                " %s FROM unnest(%s::text[], %s::text[], %s::bigint[]) WITH ORDINALITY"
                " AS t(account, currency, amount, n)",
                (
                    event.position,
                    event.type,
                    event.recorded_at,
                    [e.account for e in entries],
                    [e.currency for e in entries],
                    [e.amount for e in entries],
                ),
            )
            moved = sorted(one.balances.items())
            cur.execute(
                "INSERT INTO ledger_balances (account, currency, balance)"
                " SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[])"
                " ON CONFLICT (account, currency) DO UPDATE"
                " SET balance = ledger_balances.balance + excluded.balance",
                (
                    [account for (account, _), _ in moved],
                    [currency for (_, currency), _ in moved],
                    [amount for _, amount in moved],
                ),
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

    def apply_batch(self, cur: psycopg.Cursor, events: Sequence[RecordedEvent]) -> None:
        """The effect of ``apply`` on each of ``events`` in turn, in three statements.

        One ``Ledger`` folds the page: its entries (legs numbered per event from 0) go in
        with one COPY; its balances and escrow totals are the page's sums per account and
        per target, added to the stored rows by one upsert each. A target keeps the currency
        it was first seen with, as the row-by-row upsert does.
        """
        page = Ledger()
        rows = []
        for event in events:
            if event.type not in POSTING_RULES:
                continue
            entries = page.post(event.type, event.data, event.position, event.recorded_at)
            rows += [
                (e.position, leg, e.event_type, e.account, e.currency, e.amount, e.recorded_at)
                for leg, e in enumerate(entries)
            ]
        if rows:
            with cur.copy(
                "COPY ledger_entries (position, leg, event_type, account, currency, amount,"
                " recorded_at) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
        if page.balances:
            accounts, currencies = zip(*page.balances, strict=True)
            cur.execute(
                "INSERT INTO ledger_balances (account, currency, balance)"
                " SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[])"
                " ON CONFLICT (account, currency) DO UPDATE"
                " SET balance = ledger_balances.balance + excluded.balance",
                (list(accounts), list(currencies), list(page.balances.values())),
            )
        if page.escrow:
            keys, totals = list(page.escrow), list(page.escrow.values())
            cur.execute(
                "INSERT INTO escrow_totals (contract_id, kind, target_id, currency, funded,"
                " released, refunded)"
                " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],"
                " %s::bigint[], %s::bigint[], %s::bigint[])"
                " ON CONFLICT (contract_id, kind, target_id) DO UPDATE SET"
                " funded = escrow_totals.funded + excluded.funded,"
                " released = escrow_totals.released + excluded.released,"
                " refunded = escrow_totals.refunded + excluded.refunded",
                (
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                    [k[2] for k in keys],
                    [t.currency for t in totals],
                    [t.funded for t in totals],
                    [t.released for t in totals],
                    [t.refunded for t in totals],
                ),
            )

    def rebuild(self, cur: psycopg.Cursor, until: datetime | None = None) -> None:
        """Fill the (empty) tables from ``public.events`` recorded up to ``until``: the same
        rows as ``apply`` on every event in log order."""
        cur.execute(ENTRIES_SQL, {"until": until})
        cur.execute(BALANCES_SQL)
        cur.execute(TOTALS_SQL, {"until": until})


PROJECTIONS = (ContractsProjection(), WalletsProjection(), LedgerProjection())
