"""The audit toolkit on a large escrow log: verify the chain, rebuild escrow's ledger.

Cases:
  verify          ``shared.audit.verify.verify_service`` over the whole log (chain, stream
                  versions, guards, relays, checkpoints); target <= 5 s for 1,000,000 events
  rebuild_ledger  ``shared.audit.replay.replay_service`` of escrow's own ledger projection
                  (``services.escrow.read_models.LedgerProjection``: entries, balances and
                  escrow totals) into a scratch schema; replay takes the projection's
                  set-based ``rebuild``. The rebuild alone is timed (indexes included); the
                  row-by-row compare with the live tables is reported beside it as
                  compare_s; target <= 10 s
  rebuild_ledger_copy
                  the same projection through its ``apply_batch`` (every event read and
                  decoded in Python, entries written with COPY per page of 5000 events)

The log is what escrow records. Escrow's domain (contracts, wallets, deadlines, the fee
schedule) runs a few contracts in memory the way the service's commands and timer do: a
fixed-price contract with an auto-approval, a bonus and payouts; one with a dispute split
and a refund; an hourly contract invoiced, disputed for a week and released; a failed
withdrawal. That template is then copied with fresh ids (every UUID in stream names, data
and metadata replaced) until the log holds the wanted number of events, and appended
through ``PostgresEventStore.append`` 1000 events per call. The live ledger is filled by
the projection's batch path while the log is written, so the compare has real rows.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench.common import Context, throwaway_database
from services.escrow.deadlines import deadlines_for, fire_deadline, wallets_needed
from services.escrow.domain import Contract, contract_id_for_offer, offer_milestone_id
from services.escrow.ledger import Ledger, check_all
from services.escrow.read_models import POSTING_RULES
from services.escrow.read_models import LedgerProjection as EscrowLedgerProjection
from services.escrow.settings import DEFAULT_SETTINGS, FeeSchedule
from services.escrow.wallet import Wallet, wallet_id
from shared.audit.replay import replay_service
from shared.audit.verify import verify_service
from shared.clock import ManualClock
from shared.domain import Aggregate, NewEvent
from shared.errors import Conflict, NotFound
from shared.eventstore import PostgresEventStore, Projection, RecordedEvent
from shared.money import Money

NAME = "audit"
APPEND_BATCH = 1000
TARGETS = {"verify": 5.0, "rebuild_ledger": 10.0}
FEES = FeeSchedule(freelancer_fee_bps=1000, client_fee_bps=300)
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _usd(amount: int) -> Money:
    return Money(amount, "USD")


def _id() -> str:
    return str(uuid.uuid4())


class _Book:
    """Escrow's domain in memory: each command's aggregates and what they record, with the
    metadata the service gives it (correlation, causation, actor) and the deadlines the
    recorded events schedule, fired by ``run_until`` as the timer would."""

    def __init__(self) -> None:
        self.now = START
        self.contracts: dict[str, Contract] = {}
        self.wallets: dict[str, Wallet] = {}
        self.deadlines: dict[str, Any] = {}
        self.fired: set[str] = set()
        self.log: list[NewEvent] = []
        self.ledger = Ledger()

    def contract(self, contract_id: str) -> Contract:
        return self.contracts.setdefault(contract_id, Contract(contract_id))

    def wallet(self, user_id: str) -> Wallet:
        wid = wallet_id(user_id, "USD")
        return self.wallets.setdefault(wid, Wallet(wid))

    def commit(self, *aggregates: Aggregate, actor: str | None) -> None:
        metadata = {"correlation_id": _id(), "causation_id": _id()}
        if actor is not None:
            metadata["actor"] = actor
        for aggregate in aggregates:
            for event in aggregate.take_pending():
                self.log.append(NewEvent(event.type, event.data, event.stream, 1, metadata))
                self.ledger.post(event.type, event.data, len(self.log), self.now)
                for deadline in deadlines_for(event):
                    self.deadlines[deadline.key] = deadline

    def run_until(self, when: datetime) -> None:
        """Fire every deadline due by ``when``, in due order, each at its due time."""
        while True:
            due = sorted(
                (d for k, d in self.deadlines.items() if k not in self.fired and d.due_at <= when),
                key=lambda d: d.due_at,
            )
            if not due:
                break
            deadline = due[0]
            self.fired.add(deadline.key)
            self.now = max(self.now, deadline.due_at)
            prefix = Contract.stream_prefix + "-"
            contract = None
            if deadline.stream.startswith(prefix):
                contract = self.contracts[deadline.stream.removeprefix(prefix)]
            wallets = {w: self.wallets[w] for w in wallets_needed(deadline, contract)}
            try:
                fire_deadline(deadline, self.now, contract, wallets, DEFAULT_SETTINGS)
            except (Conflict, NotFound):  # moot: the state moved on
                for aggregate in (contract, *wallets.values()):
                    if aggregate is not None:
                        aggregate.take_pending()
                continue
            self.commit(*(a for a in (contract, *wallets.values()) if a is not None), actor=None)
        self.now = max(self.now, when)

    # -- the service's commands ---------------------------------------------------------

    def open(self, kind: str, client: str, freelancer: str, **terms) -> str:
        offer_id = _id()
        contract_id = contract_id_for_offer(offer_id)
        offer = {
            "offer_id": offer_id,
            "proposal_id": _id(),
            "job_id": _id(),
            "client_id": client,
            "freelancer_id": freelancer,
            "kind": kind,
            "currency": "USD",
            "terms": {"start_date": None, **terms},
        }
        contract = self.contract(contract_id)
        contract.open(offer, FEES, self.now)
        self.commit(contract, actor=None)
        return contract_id

    def deposit(self, client: str, amount: int) -> None:
        wallet, deposit_id = self.wallet(client), _id()
        wallet.request_deposit(deposit_id, _usd(amount), client, self.now, f"dep_{deposit_id}")
        self.commit(wallet, actor=client)
        self.now += timedelta(minutes=3)
        wallet.confirm_deposit(deposit_id, f"dep_{deposit_id}", _usd(amount), self.now)
        self.commit(wallet, actor=None)

    def on_contract(self, contract_id: str, actor: str, act, *wallet_users: str) -> None:
        contract = self.contracts[contract_id]
        wallets = [self.wallet(u) for u in wallet_users]
        act(contract, *wallets)
        self.commit(contract, *wallets, actor=actor)
        self.now += timedelta(minutes=7)

    def withdraw(self, user: str, amount: int, source: str, fails: bool = False) -> None:
        wallet, withdrawal_id = self.wallet(user), _id()
        wallet.request_withdrawal(withdrawal_id, _usd(amount), user, self.now, source=source)
        self.commit(wallet, actor=user)
        self.now += timedelta(hours=20)
        if fails:
            wallet.fail_withdrawal(withdrawal_id, f"po_{withdrawal_id}", "account closed", self.now)
        else:
            wallet.confirm_withdrawal(withdrawal_id, f"po_{withdrawal_id}", self.now)
        self.commit(wallet, actor=None)


def _milestones(*amounts: int) -> list[dict]:
    return [
        {"title": f"Part {i + 1}", "amount": _usd(a), "due_date": None}
        for i, a in enumerate(amounts)
    ]


def escrow_template() -> list[NewEvent]:
    """The events of a few contracts, as escrow's domain records them."""
    book = _Book()
    client, freelancer, other = _id(), _id(), _id()
    book.deposit(client, 300_000)

    # fixed price: one milestone approved, one auto-approved, a bonus, earnings paid out
    fixed = book.open("fixed", client, freelancer, milestones=_milestones(40_000, 25_000, 9_000))
    m1, m2 = offer_milestone_id(fixed, 0), offer_milestone_id(fixed, 1)
    for m in (m1, m2):
        book.on_contract(
            fixed, client, lambda c, w, m=m: c.fund_milestone(m, client, book.now, w), client
        )
    book.on_contract(
        fixed, freelancer, lambda c: c.submit_work(m1, "first part", freelancer, book.now)
    )
    book.on_contract(
        fixed, client, lambda c, w: c.approve_milestone(m1, client, book.now, w), freelancer
    )
    book.on_contract(
        fixed, freelancer, lambda c: c.submit_work(m2, "second part", freelancer, book.now)
    )
    book.run_until(book.now + timedelta(days=15))  # auto-approved after 14 days
    book.on_contract(
        fixed,
        client,
        lambda c, cw, fw: c.pay_bonus(_id(), _usd(5_000), "thanks", client, book.now, cw, fw),
        client,
        freelancer,
    )
    book.on_contract(
        fixed, client, lambda c, w: c.end_contract(client, "done", book.now, w), client
    )

    # fixed price: a disputed milestone split by an operator, a refund accepted
    split = book.open("fixed", client, other, milestones=_milestones(30_000, 12_000))
    s1, s2 = offer_milestone_id(split, 0), offer_milestone_id(split, 1)
    for m in (s1, s2):
        book.on_contract(
            split, client, lambda c, w, m=m: c.fund_milestone(m, client, book.now, w), client
        )
    book.on_contract(split, other, lambda c: c.submit_work(s1, "done", other, book.now))
    dispute = _id()
    book.on_contract(
        split, client, lambda c: c.open_dispute(dispute, "milestone", s1, "late", client, book.now)
    )
    book.on_contract(
        split,
        "operator-1",
        lambda c, cw, fw: c.resolve_dispute(
            dispute,
            _usd(10_000),
            _usd(20_000),
            "split",
            "operator-1",
            ["operator"],
            book.now,
            cw,
            fw,
        ),
        client,
        other,
    )
    book.on_contract(
        split, client, lambda c, w: c.end_contract(client, "over budget", book.now, w), client
    )
    refund = next(iter(book.contracts[split].refunds))
    book.on_contract(split, other, lambda c, w: c.accept_refund(refund, other, book.now, w), client)

    # hourly: two weeks logged, invoiced, the second week disputed and split, released
    hourly = book.open(
        "hourly",
        client,
        other,
        hourly_rate=_usd(6_000),
        weekly_limit_hours=20,
        manual_time_allowed=True,
    )
    monday = book.now.replace(hour=0, minute=0, second=0, microsecond=0)
    monday -= timedelta(days=monday.weekday())
    weeks = [monday + timedelta(days=7), monday + timedelta(days=14)]
    for week in weeks:
        for day in range(3):
            start = week + timedelta(days=day, hours=9)
            book.run_until(start + timedelta(hours=4))
            book.on_contract(
                hourly,
                other,
                lambda c, s=start: c.log_time(
                    _id(), s, s + timedelta(hours=3), "api work", True, other, book.now
                ),
            )
    book.run_until(weeks[1] + timedelta(days=7, hours=13))  # second week invoiced
    week_dispute = _id()
    book.on_contract(
        hourly,
        client,
        lambda c: c.open_dispute(
            week_dispute, "week", weeks[1].isoformat(), "fewer hours", client, book.now
        ),
    )
    book.on_contract(
        hourly,
        "operator-1",
        lambda c, cw, fw: c.resolve_dispute(
            week_dispute,
            _usd(18_000),
            _usd(36_000),
            "",
            "operator-1",
            ["operator"],
            book.now,
            cw,
            fw,
        ),
        client,
        other,
    )
    book.run_until(book.now + timedelta(days=30))  # everything released and available
    book.withdraw(
        freelancer,
        book.wallets[wallet_id(freelancer, "USD")].earnings_available.amount,
        "freelancer_available",
    )
    book.withdraw(other, 20_000, "freelancer_available")
    book.withdraw(client, 15_000, "client_wallet", fails=True)
    book.withdraw(client, 10_000, "client_wallet")
    check_all(book.ledger)
    return book.log


def copies(template: Sequence[NewEvent], count: int, ids: re.Pattern = UUID) -> Iterator[NewEvent]:
    """``count`` events: the template over and over, each copy with fresh ids (whatever
    ``ids`` matches, each replaced by a new id of the same form)."""
    texts = [
        json.dumps([e.stream, e.type, e.data, e.metadata], separators=(",", ":")) for e in template
    ]
    found = sorted({m for text in texts for m in ids.findall(text)})
    made = 0
    while True:
        fresh = {
            old: str(uuid.uuid4()) if "-" in old else uuid.uuid4().hex for old in found
        }.__getitem__

        def swap(match: re.Match, fresh=fresh) -> str:
            return fresh(match.group())

        for text in texts:
            if made == count:
                return
            stream, type_, data, metadata = json.loads(ids.sub(swap, text))
            yield NewEvent(type_, data, stream, 1, metadata)
            made += 1


class BatchPath(Projection):
    """A projection's ``apply_batch`` alone: replay feeds it pages of events."""

    def __init__(self, projection: Projection):
        self.projection = projection
        self.name, self.tables = projection.name, projection.tables

    def apply_batch(self, cur: psycopg.Cursor, events: Sequence[RecordedEvent]) -> None:
        self.projection.apply_batch(cur, events)


def fill(dsn: str, count: int) -> tuple[float, int]:
    """Append ``count`` escrow events through ``PostgresEventStore.append``, keeping the live
    ledger as the service would; returns the seconds it took and the template's size."""
    clock = ManualClock(START)
    store = PostgresEventStore.connect(dsn, max_size=1, clock=clock)
    ledger = EscrowLedgerProjection()
    template = escrow_template()
    started = time.perf_counter()
    try:
        pending: list[NewEvent] = []
        for event in copies(template, count):
            pending.append(event)
            if len(pending) == APPEND_BATCH:
                recorded = store.append(pending)
                with store.pool.connection() as conn, conn.cursor() as cur:
                    ledger.apply_batch(cur, recorded)
                pending = []
                clock.advance(seconds=3)
        if pending:
            recorded = store.append(pending)
            with store.pool.connection() as conn, conn.cursor() as cur:
                ledger.apply_batch(cur, recorded)
    finally:
        store.close()
    return time.perf_counter() - started, len(template)


# -- a synthetic ledger -------------------------------------------------------------------
#
# Not what the benchmark times (that is escrow's own projection, above): a small double-entry
# ledger of its own tables and event shapes, kept for tests/audit/test_replay.py, which
# checks the replay machinery's batch and set-based paths on it in a core database.

LEDGER_SQL = """
CREATE TABLE ledger_entries (
    position     bigint      NOT NULL,
    leg          integer     NOT NULL,
    event_type   text        NOT NULL,
    account      text        NOT NULL,
    currency     text        NOT NULL,
    amount       bigint      NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (position, leg)
);
CREATE INDEX ledger_entries_account ON ledger_entries (account, currency, position);
CREATE TABLE ledger_balances (
    account   text   NOT NULL,
    currency  text   NOT NULL,
    balance   bigint NOT NULL,
    PRIMARY KEY (account, currency)
);
"""


def _money(data: dict, key: str) -> tuple[int, str]:
    return data[key]["amount"], data[key]["currency"]


def postings(event_type: str, data: dict) -> list[tuple[str, int, str]]:
    """Balanced legs (account, signed amount, currency) of one money event."""
    if event_type == "DepositConfirmed":
        amount, cur = _money(data, "amount")
        return [
            (f"provider_clearing:{cur}", -amount, cur),
            (f"client_wallet:{data['client_id']}", amount, cur),
        ]
    if event_type == "MilestoneFunded":
        amount, cur = _money(data, "amount")
        fee = data["client_fee"]["amount"]
        return [
            (f"client_wallet:{data['client_id']}", -(amount + fee), cur),
            (f"contract_escrow:{data['contract_id']}", amount, cur),
            ("platform_fees", fee, cur),
        ]
    if event_type == "MilestoneReleased":
        gross, cur = _money(data, "gross")
        return [
            (f"contract_escrow:{data['contract_id']}", -gross, cur),
            (f"freelancer_pending:{data['freelancer_id']}", data["net"]["amount"], cur),
            ("platform_fees", data["fee"]["amount"], cur),
        ]
    if event_type == "EarningsAvailable":
        amount, cur = _money(data, "amount")
        who = data["freelancer_id"]
        return [
            (f"freelancer_pending:{who}", -amount, cur),
            (f"freelancer_available:{who}", amount, cur),
        ]
    if event_type == "WithdrawalRequested":
        amount, cur = _money(data, "amount")
        who = data["freelancer_id"]
        return [
            (f"freelancer_available:{who}", -amount, cur),
            (f"withdrawals_in_flight:{who}", amount, cur),
        ]
    if event_type == "WithdrawalConfirmed":
        amount, cur = _money(data, "amount")
        return [
            (f"withdrawals_in_flight:{data['freelancer_id']}", -amount, cur),
            (f"provider_clearing:{cur}", amount, cur),
        ]
    return []


class LedgerProjection(Projection):
    """A double-entry ledger: entries per money event and a running balance per account.

    ``apply`` is the per-event path a service runs with each append; ``apply_batch`` gives
    the same rows for a run of events with one COPY and one balance upsert, for rebuilds.
    """

    name = "ledger"
    tables = ("ledger_entries", "ledger_balances")
    MONEY = (
        "DepositConfirmed",
        "MilestoneFunded",
        "MilestoneReleased",
        "EarningsAvailable",
        "WithdrawalRequested",
        "WithdrawalConfirmed",
    )

    def handles(self, event_type: str) -> bool:
        return event_type in self.MONEY

    def apply(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        legs = postings(event.type, event.data)
        if not legs:
            return
        cur.executemany(
            "INSERT INTO ledger_entries (position, leg, event_type, account, currency, amount,"
            " recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (event.position, i, event.type, account, cur_, amount, event.recorded_at)
                for i, (account, amount, cur_) in enumerate(legs, 1)
            ],
        )
        cur.executemany(
            "INSERT INTO ledger_balances (account, currency, balance) VALUES (%s, %s, %s)"
            " ON CONFLICT (account, currency) DO UPDATE"
            " SET balance = ledger_balances.balance + excluded.balance",
            [(account, cur_, amount) for account, amount, cur_ in legs],
        )

    def apply_batch(self, cur: psycopg.Cursor, events: Sequence[RecordedEvent]) -> None:
        # COPY text built by hand: account names are ours and hold no tab, newline or
        # backslash, so no escaping is needed (checked below rather than assumed)
        deltas: dict[tuple[str, str], int] = defaultdict(int)
        lines = []
        for event in events:
            legs = postings(event.type, event.data)
            if not legs:
                continue
            head = f"{event.position}\t"
            tail = f"\t{event.type}\t"
            at = event.recorded_at.isoformat()
            for i, (account, amount, currency) in enumerate(legs, 1):
                lines.append(f"{head}{i}{tail}{account}\t{currency}\t{amount}\t{at}\n")
                deltas[(account, currency)] += amount
        if not lines:
            return
        text = "".join(lines)
        if "\\" in text:
            raise ValueError("an account name holds a backslash; COPY text would misread it")
        with cur.copy(
            "COPY ledger_entries (position, leg, event_type, account, currency, amount,"
            " recorded_at) FROM STDIN"
        ) as copy:
            copy.write(text)
        cur.execute(
            "INSERT INTO ledger_balances (account, currency, balance)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[])"
            " ON CONFLICT (account, currency) DO UPDATE"
            " SET balance = ledger_balances.balance + excluded.balance",
            ([a for a, _ in deltas], [c for _, c in deltas], list(deltas.values())),
        )


class SetBasedLedgerProjection(LedgerProjection):
    """The same ledger, rebuilt by the database from the log in two statements.

    ``rebuild`` is the projection's own rebuild path: one INSERT ... SELECT that unnests
    each money event's legs (the rules of ``postings`` written in SQL), then the balances
    summed from the entries. The live path stays ``apply``; replay compares the two.
    """

    # per money event type: its legs as (leg, account, amount); currency from ``money``
    LEGS = {
        "DepositConfirmed": (
            "amount",
            [
                (
                    "'provider_clearing:' || (d #>> '{amount,currency}')",
                    "-(d #>> '{amount,amount}')::bigint",
                ),
                ("'client_wallet:' || (d ->> 'client_id')", "(d #>> '{amount,amount}')::bigint"),
            ],
        ),
        "MilestoneFunded": (
            "amount",
            [
                (
                    "'client_wallet:' || (d ->> 'client_id')",
                    "-((d #>> '{amount,amount}')::bigint + (d #>> '{client_fee,amount}')::bigint)",
                ),
                (
                    "'contract_escrow:' || (d ->> 'contract_id')",
                    "(d #>> '{amount,amount}')::bigint",
                ),
                ("'platform_fees'", "(d #>> '{client_fee,amount}')::bigint"),
            ],
        ),
        "MilestoneReleased": (
            "gross",
            [
                (
                    "'contract_escrow:' || (d ->> 'contract_id')",
                    "-(d #>> '{gross,amount}')::bigint",
                ),
                (
                    "'freelancer_pending:' || (d ->> 'freelancer_id')",
                    "(d #>> '{net,amount}')::bigint",
                ),
                ("'platform_fees'", "(d #>> '{fee,amount}')::bigint"),
            ],
        ),
        "EarningsAvailable": (
            "amount",
            [
                (
                    "'freelancer_pending:' || (d ->> 'freelancer_id')",
                    "-(d #>> '{amount,amount}')::bigint",
                ),
                (
                    "'freelancer_available:' || (d ->> 'freelancer_id')",
                    "(d #>> '{amount,amount}')::bigint",
                ),
            ],
        ),
        "WithdrawalRequested": (
            "amount",
            [
                (
                    "'freelancer_available:' || (d ->> 'freelancer_id')",
                    "-(d #>> '{amount,amount}')::bigint",
                ),
                (
                    "'withdrawals_in_flight:' || (d ->> 'freelancer_id')",
                    "(d #>> '{amount,amount}')::bigint",
                ),
            ],
        ),
        "WithdrawalConfirmed": (
            "amount",
            [
                (
                    "'withdrawals_in_flight:' || (d ->> 'freelancer_id')",
                    "-(d #>> '{amount,amount}')::bigint",
                ),
                (
                    "'provider_clearing:' || (d #>> '{amount,currency}')",
                    "(d #>> '{amount,amount}')::bigint",
                ),
            ],
        ),
    }

    def _legs_sql(self) -> str:
        branches = []
        for event_type, (money, legs) in self.LEGS.items():
            values = ", ".join(
                f"({i}, {account}, {amount})" for i, (account, amount) in enumerate(legs, 1)
            )
            branches.append(
                "SELECT e.position, l.leg, e.type, l.account,"
                f" d #>> '{{{money},currency}}', l.amount, e.recorded_at"
                " FROM public.events e CROSS JOIN LATERAL (SELECT e.data AS d) x"
                f" CROSS JOIN LATERAL (VALUES {values}) AS l(leg, account, amount)"
                f" WHERE e.type = '{event_type}'"
                " AND (%(until)s::timestamptz IS NULL OR e.recorded_at <= %(until)s)"
            )
        return (
            "INSERT INTO ledger_entries (position, leg, event_type, account, currency, amount,"
            " recorded_at) " + " UNION ALL ".join(branches)
        )

    def rebuild(self, cur: psycopg.Cursor, until=None) -> None:
        cur.execute(self._legs_sql(), {"until": until})
        cur.execute(
            "INSERT INTO ledger_balances (account, currency, balance)"
            " SELECT account, currency, sum(amount) FROM ledger_entries GROUP BY account, currency"
        )


def _usd_json(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def contract_story(n: int) -> list[NewEvent]:
    """Ten money events of one contract: two funded and released milestones, a withdrawal."""
    contract, client, freelancer = f"c{n:07d}", f"client-{n % 5000}", f"freelancer-{n % 20000}"
    stream = f"contract-{contract}"
    events: list[tuple[str, dict]] = []
    for m in (1, 2):
        amount = 10_000 + (n * 37 + m) % 90_000
        fee = amount // 10
        client_fee = amount * 5 // 100
        milestone = f"{contract}-m{m}"
        events += [
            (
                "DepositConfirmed",
                {
                    "client_id": client,
                    "deposit_id": f"{milestone}-d",
                    "amount": _usd_json(amount + client_fee),
                },
            ),
            (
                "MilestoneFunded",
                {
                    "contract_id": contract,
                    "client_id": client,
                    "milestone_id": milestone,
                    "amount": _usd_json(amount),
                    "client_fee": _usd_json(client_fee),
                },
            ),
            (
                "MilestoneReleased",
                {
                    "contract_id": contract,
                    "freelancer_id": freelancer,
                    "milestone_id": milestone,
                    "gross": _usd_json(amount),
                    "net": _usd_json(amount - fee),
                    "fee": _usd_json(fee),
                },
            ),
            (
                "EarningsAvailable",
                {
                    "freelancer_id": freelancer,
                    "milestone_id": milestone,
                    "amount": _usd_json(amount - fee),
                },
            ),
        ]
    paid = sum(e[1]["amount"]["amount"] for e in events if e[0] == "EarningsAvailable")
    events += [
        (
            "WithdrawalRequested",
            {
                "freelancer_id": freelancer,
                "withdrawal_id": f"{contract}-w",
                "amount": _usd_json(paid),
            },
        ),
        (
            "WithdrawalConfirmed",
            {
                "freelancer_id": freelancer,
                "withdrawal_id": f"{contract}-w",
                "amount": _usd_json(paid),
            },
        ),
    ]
    return [NewEvent(t, d, stream=stream) for t, d in events]


def _rebuild_case(dsn: str, case: str, projection: Projection) -> dict[str, Any]:
    load = os.getloadavg()[0]
    replay = replay_service(dsn, "escrow", [projection])
    if not replay.identical:
        raise RuntimeError(f"the rebuilt ledger differs: {replay.diffs[:3]}")
    return {
        "case": case,
        "events": replay.events,
        "seconds": round(replay.seconds_rebuild, 3),
        "events_per_s": round(replay.events / replay.seconds_rebuild),
        "target_s": TARGETS["rebuild_ledger"],
        "met": replay.seconds_rebuild <= TARGETS["rebuild_ledger"],
        "ledger_rows": replay.rows.get("ledger_entries"),
        "compare_s": round(replay.seconds_compare, 3),
        "load_1m": round(load, 2),
    }


def run(ctx: Context) -> dict[str, Any]:
    count = ctx.size(1_000_000, 20_000)
    load_before = os.getloadavg()
    with throwaway_database("audit", service="escrow") as dsn:
        generate_s, template_size = fill(dsn, count)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            money = conn.execute(
                "SELECT count(*) FILTER (WHERE type = ANY(%s)), count(DISTINCT type) FROM events",
                (list(POSTING_RULES),),
            ).fetchone()

        load_verify = os.getloadavg()
        started = time.perf_counter()
        report = verify_service(dsn, "escrow")
        verify_s = time.perf_counter() - started
        if not report.ok:
            raise RuntimeError(f"the generated log does not verify: {report.findings}")
        cases = [
            {
                "case": "verify",
                "events": report.events,
                "seconds": round(verify_s, 3),
                "events_per_s": round(report.events / verify_s),
                "target_s": TARGETS["verify"],
                "met": verify_s <= TARGETS["verify"],
                "load_1m": round(load_verify[0], 2),
            },
            # escrow's ledger projection as the auditor's replay runs it: its set-based
            # ``rebuild`` (the posting rules as SQL over the log)
            _rebuild_case(dsn, "rebuild_ledger", EscrowLedgerProjection()),
            # the same projection fed pages of events: ``apply_batch`` with COPY
            _rebuild_case(dsn, "rebuild_ledger_copy", BatchPath(EscrowLedgerProjection())),
        ]
    return {
        "machine": ctx.machine,
        "cases": cases,
        "generate_s": round(generate_s, 1),
        "template_events": template_size,
        "money_events": money[0],
        "event_types": money[1],
        # the machine is shared: the load average says how much of it the run had
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }


def summary(result: dict[str, Any]) -> list[str]:
    lines = []
    for case in result["cases"]:
        verdict = "met" if case["met"] else "MISSED"
        lines.append(
            f"{case['case']}: {case['seconds']:.2f} s for {case['events']:,} events, target <= {case['target_s']} s: {verdict}"
        )
    return lines
