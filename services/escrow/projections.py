"""Pure read-model shaping: aggregates and ledger entries into plain JSON rows.

The wiring phase stores these rows; because they are pure functions of the log, a rebuild
from position 0 produces the same rows, byte for byte (``canonical`` gives those bytes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from shared.clock import iso
from shared.errors import Forbidden

from .domain import Contract
from .ledger import CLEARING_PREFIX, PLATFORM_FEES, LedgerEntry
from .wallet import Wallet

# Roles that may read any account of the ledger.
LEDGER_READERS = ("auditor", "operator")


def canonical(row: dict | list) -> bytes:
    """The bytes a read-model row is compared by: sorted keys, no spaces, UTF-8."""
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _at(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _money(value) -> dict | None:
    return value.to_dict() if value is not None else None


def contract_view(contract: Contract) -> dict:
    """The ``get_contract`` row: terms, state, milestones, weeks, refunds and disputes."""
    return {
        "contract_id": contract.id,
        "offer_id": contract.offer_id,
        "job_id": contract.job_id,
        "proposal_id": contract.proposal_id,
        "client_id": contract.client_id,
        "freelancer_id": contract.freelancer_id,
        "kind": contract.kind,
        "status": contract.status,
        "currency": contract.currency,
        "start_date": contract.start_date,
        "opened_at": _at(contract.opened_at),
        "fees": contract.fees.to_dict(),
        "hourly_rate": _money(contract.hourly_rate),
        "weekly_limit_hours": contract.weekly_limit_minutes // 60 if contract.hourly_rate else None,
        "manual_time_allowed": contract.manual_time_allowed,
        "milestones": [
            {
                "milestone_id": m.id,
                "title": m.title,
                "amount": m.amount.to_dict(),
                "due_date": m.due_date,
                "status": m.status,
                "funded": m.funded.to_dict(),
                "released": m.released.to_dict(),
                "refunded": m.refunded.to_dict(),
                "held": m.held.to_dict(),
                "submission": m.submission,
                "auto_approve_at": _at(m.auto_approve_at),
                "refund_id": m.refund_id,
                "dispute_id": m.dispute_id,
            }
            for m in contract.milestones.values()
        ],
        "weeks": [
            {
                "week_start": key,
                "status": w.status,
                "minutes": w.minutes,
                "amount": _money(w.amount),
                "paid": _money(w.paid),
                "released": _money(w.released),
                "refunded": _money(w.refunded),
                "invoice_at": _at(w.invoice_at),
                "review_until": _at(w.review_until),
                "available_at": _at(w.available_at),
                "dispute_id": w.dispute_id,
            }
            for key, w in sorted(contract.weeks.items())
        ],
        "time_segments": [
            {
                "segment_id": s.id,
                "week_start": iso(s.week_start),
                "start": iso(s.start),
                "end": iso(s.end),
                "minutes": s.minutes,
            }
            for s in sorted(contract.segments.values(), key=lambda s: (s.start, s.id))
        ],
        "refunds": [
            {
                "refund_id": r["refund_id"],
                "milestone_id": r["milestone_id"],
                "amount": r["amount"].to_dict(),
                "status": r["status"],
                "respond_by": iso(r["respond_by"]),
            }
            for r in contract.refunds.values()
        ],
        "disputes": [
            {
                "dispute_id": key,
                "status": d["status"],
                "target": d["target"],
                "amount": d["amount"].to_dict(),
                "opened_by": d["opened_by"],
            }
            for key, d in contract.disputes.items()
        ],
    }


def contract_summary(contract: Contract) -> dict:
    """The ``list_contracts`` row: enough to list and filter a user's contracts."""
    held = sum(m.held.amount for m in contract.milestones.values())
    held += sum(w.held.amount for w in contract.weeks.values() if w.paid is not None)
    return {
        "contract_id": contract.id,
        "job_id": contract.job_id,
        "client_id": contract.client_id,
        "freelancer_id": contract.freelancer_id,
        "kind": contract.kind,
        "status": contract.status,
        "currency": contract.currency,
        "in_escrow": {"amount": held, "currency": contract.currency},
        "opened_at": _at(contract.opened_at),
    }


def wallet_view(wallet: Wallet) -> dict:
    """The ``wallet`` row of one user and currency."""
    return {
        "user_id": wallet.user_id,
        "currency": wallet.currency,
        "balance": wallet.balance.to_dict(),
        "pending": wallet.earnings_pending.to_dict(),
        "available": wallet.earnings_available.to_dict(),
        "in_flight": wallet.in_flight.to_dict(),
        "pending_payments": [
            {
                "payment_id": pid,
                "amount": p["amount"].to_dict(),
                "available_at": iso(p["available_at"]),
            }
            for pid, p in sorted(wallet.pending_payments.items())
        ],
    }


def account_owner(account: str) -> tuple[str, str | None]:
    """(kind, owner id) of a ledger account name."""
    if account == PLATFORM_FEES:
        return PLATFORM_FEES, None
    kind, _, owner = account.partition(":")
    return kind, owner or None


def authorize_ledger_read(
    account: str,
    viewer_id: str,
    roles: Iterable[str],
    contract_parties: tuple[str, str] | None = None,
) -> None:
    """Raise ``Forbidden`` unless the viewer may read ``account``.

    Auditors and operators read everything. A user reads their own wallet, pending,
    available and in-flight accounts; a contract's escrow is read by its two parties
    (``contract_parties`` = (client_id, freelancer_id), looked up by the service).
    Clearing and platform fee accounts are for auditors and operators only.
    """
    if any(role in LEDGER_READERS for role in roles):
        return
    kind, owner = account_owner(account)
    if kind == "contract_escrow":
        if contract_parties is not None and viewer_id in contract_parties:
            return
    elif account.startswith(CLEARING_PREFIX) or kind == PLATFORM_FEES:
        pass
    elif owner == viewer_id:
        return
    raise Forbidden("this ledger account belongs to someone else")


def ledger_statement(
    entries: Iterable[LedgerEntry],
    account: str,
    currency: str,
    as_of: datetime | None = None,
    after_position: int = 0,
    limit: int = 100,
) -> dict:
    """The ``ledger`` answer: an account's entries with running balances, as of a time.

    The balance is over every entry up to ``as_of``; the page lists at most ``limit``
    entries after ``after_position``.
    """
    balance = 0
    rows = []
    for entry in entries:
        if entry.account != account or entry.currency != currency:
            continue
        if as_of is not None and entry.recorded_at > as_of:
            continue
        balance += entry.amount
        if entry.position > after_position and len(rows) < limit:
            rows.append(
                {
                    "position": entry.position,
                    "event_type": entry.event_type,
                    "amount": entry.amount,
                    "balance_after": balance,
                    "recorded_at": iso(entry.recorded_at),
                }
            )
    return {
        "account": account,
        "currency": currency,
        "as_of": _at(as_of),
        "balance": balance,
        "entries": rows,
    }
