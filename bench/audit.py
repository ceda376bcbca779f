"""The audit toolkit on a large escrow-shaped log: verify the chain, rebuild the ledger.

Cases:
  verify          ``shared.audit.verify.verify_service`` over the whole log (chain, stream
                  versions, guards, relays, checkpoints); target <= 5 s for 1,000,000 events
  rebuild_ledger  ``shared.audit.replay.replay_service`` of a double-entry ledger projection
                  into a scratch schema through the projection's set-based ``rebuild`` (the
                  rebuild alone is timed; the row-by-row compare with the live tables is
                  reported beside it as compare_s); target <= 10 s
  rebuild_ledger_copy
                  the same through ``apply_batch``: every event read and decoded in Python,
                  legs written with COPY per page of 5000 events

The log is written through the real append path (``PostgresEventStore.append``, 1000
events per call) with money events shaped like escrow's: deposits, milestone funding and
release with fees, earnings becoming available, withdrawals. The live ledger is filled by
the projection's batch path while the log is written, so the compare has real rows to check.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import psycopg

from bench.common import Context, throwaway_database
from shared.audit.replay import replay_service
from shared.audit.verify import verify_service
from shared.domain import NewEvent
from shared.eventstore import PostgresEventStore, Projection, RecordedEvent

NAME = "audit"
APPEND_BATCH = 1000
TARGETS = {"verify": 5.0, "rebuild_ledger": 10.0}

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


def _usd(amount: int) -> dict[str, Any]:
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
                    "amount": _usd(amount + client_fee),
                },
            ),
            (
                "MilestoneFunded",
                {
                    "contract_id": contract,
                    "client_id": client,
                    "milestone_id": milestone,
                    "amount": _usd(amount),
                    "client_fee": _usd(client_fee),
                },
            ),
            (
                "MilestoneReleased",
                {
                    "contract_id": contract,
                    "freelancer_id": freelancer,
                    "milestone_id": milestone,
                    "gross": _usd(amount),
                    "net": _usd(amount - fee),
                    "fee": _usd(fee),
                },
            ),
            (
                "EarningsAvailable",
                {
                    "freelancer_id": freelancer,
                    "milestone_id": milestone,
                    "amount": _usd(amount - fee),
                },
            ),
        ]
    paid = sum(e[1]["amount"]["amount"] for e in events if e[0] == "EarningsAvailable")
    events += [
        (
            "WithdrawalRequested",
            {"freelancer_id": freelancer, "withdrawal_id": f"{contract}-w", "amount": _usd(paid)},
        ),
        (
            "WithdrawalConfirmed",
            {"freelancer_id": freelancer, "withdrawal_id": f"{contract}-w", "amount": _usd(paid)},
        ),
    ]
    return [NewEvent(t, d, stream=stream) for t, d in events]


def fill(dsn: str, count: int) -> float:
    """Append ``count`` events (whole contract stories) through ``PostgresEventStore.append``,
    keeping the live ledger as a service would; returns the seconds it took."""
    store = PostgresEventStore.connect(dsn, max_size=1)
    ledger = LedgerProjection()
    started = time.perf_counter()
    try:
        pending: list[NewEvent] = []
        n = 0
        while n * 10 < count:
            pending += contract_story(n)
            n += 1
            if len(pending) >= APPEND_BATCH or n * 10 >= count:
                recorded = store.append(
                    pending, metadata={"actor": "bench", "correlation_id": f"bench-{n}"}
                )
                with store.pool.connection() as conn, conn.cursor() as cur:
                    ledger.apply_batch(cur, recorded)
                pending = []
    finally:
        store.close()
    return time.perf_counter() - started


def _rebuild_case(dsn: str, case: str, projection: Projection) -> dict[str, Any]:
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
    }


def run(ctx: Context) -> dict[str, Any]:
    count = ctx.size(1_000_000, 20_000)
    load_before = os.getloadavg()[0]
    with throwaway_database("audit") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(LEDGER_SQL)
        generate_s = fill(dsn, count)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

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
            },
            # the projection's set-based rebuild path (SQL over the log)
            _rebuild_case(dsn, "rebuild_ledger", SetBasedLedgerProjection()),
            # events read and decoded in Python, legs written with COPY per page
            _rebuild_case(dsn, "rebuild_ledger_copy", LedgerProjection()),
        ]
    return {
        "machine": ctx.machine,
        "cases": cases,
        "generate_s": round(generate_s, 1),
        # the machine is shared: the load average says how much of it the run had
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def summary(result: dict[str, Any]) -> list[str]:
    lines = []
    for case in result["cases"]:
        verdict = "met" if case["met"] else "MISSED"
        lines.append(
            f"{case['case']}: {case['seconds']:.2f} s for {case['events']:,} events, target <= {case['target_s']} s: {verdict}"
        )
    return lines
