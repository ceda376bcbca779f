"""Which deadlines escrow events schedule, and how a due deadline is fired.

The service stores the deadlines ``deadlines_for`` returns for each appended event, and a
timer entrypoint calls ``fire_deadline`` when one is due. Every timer command is safe to
fire late, twice, or after the state moved on: it then records nothing. Firing early
raises ``Conflict`` and records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.clock import iso, parse_time
from shared.domain import NewEvent

from .domain import Contract
from .settings import DEFAULT_SETTINGS, EscrowSettings
from .wallet import Wallet, wallet_id

AUTO_APPROVE = "milestone.auto_approve"
REFUND_RESPONSE = "refund.response_due"
WEEK_INVOICE = "week.invoice"
WEEK_RELEASE = "week.release"
EARNINGS_AVAILABLE = "earnings.available"


@dataclass(frozen=True)
class Deadline:
    """A command to run at ``due_at`` against the aggregate of ``stream``.

    ``key`` names the deadline (kind, stream, target and due time): storing the same one
    twice is harmless, and a rescheduled one (a week released after a withdrawn dispute)
    gets a new key rather than reusing one that may already have fired.
    """

    kind: str
    due_at: datetime
    stream: str
    target: dict

    @property
    def key(self) -> str:
        parts = [self.kind, self.stream, *(f"{k}={self.target[k]}" for k in sorted(self.target))]
        parts.append(iso(self.due_at))
        return "|".join(parts)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "due_at": iso(self.due_at),
            "stream": self.stream,
            "target": dict(self.target),
        }


def deadlines_for(event: NewEvent) -> list[Deadline]:
    """The deadlines an event schedules (none for most events)."""
    data = event.data
    kind = event.type
    if kind == "WorkSubmitted":
        return [_auto_approve(event.stream, data["milestone_id"], data["auto_approve_at"])]
    if kind in ("EscrowRefunded", "DisputeWithdrawn") and data.get("resumes"):
        resumes = data["resumes"]
        if resumes.get("auto_approve_at"):
            return [_auto_approve(event.stream, data["milestone_id"], resumes["auto_approve_at"])]
        if resumes.get("release_at"):
            return [_week(WEEK_RELEASE, event.stream, data["week_start"], resumes["release_at"])]
        return []
    if kind == "RefundRequested":
        target = {"refund_id": data["refund_id"]}
        return [Deadline(REFUND_RESPONSE, parse_time(data["respond_by"]), event.stream, target)]
    if kind == "HourlyWeekStarted":
        return [_week(WEEK_INVOICE, event.stream, data["week_start"], data["invoice_at"])]
    if kind == "HourlyInvoicePaid":
        return [_week(WEEK_RELEASE, event.stream, data["week_start"], data["release_at"])]
    if kind == "EarningsPending":
        return [
            Deadline(
                EARNINGS_AVAILABLE,
                parse_time(data["available_at"]),
                event.stream,
                {"payment_id": data["payment_id"]},
            )
        ]
    return []


def _auto_approve(stream: str, milestone_id: str, due: str) -> Deadline:
    # The due time is part of the target: a newer review clock makes older ones stale.
    return Deadline(
        AUTO_APPROVE, parse_time(due), stream, {"milestone_id": milestone_id, "due_at": due}
    )


def _week(kind: str, stream: str, week_start: str, due: str) -> Deadline:
    return Deadline(kind, parse_time(due), stream, {"week_start": week_start})


def wallets_needed(deadline: Deadline, contract: Contract | None) -> list[str]:
    """Ids of the wallets the service must load to fire ``deadline``."""
    if deadline.kind == EARNINGS_AVAILABLE:
        return [deadline.stream.removeprefix(Wallet.stream_prefix + "-")]
    if contract is None:
        raise ValueError(f"{deadline.kind} needs its contract")
    if deadline.kind in (AUTO_APPROVE, WEEK_RELEASE):
        return [wallet_id(contract.freelancer_id, contract.currency)]
    return [wallet_id(contract.client_id, contract.currency)]


def fire_deadline(
    deadline: Deadline,
    now: datetime,
    contract: Contract | None,
    wallets: Mapping[str, Wallet],
    settings: EscrowSettings = DEFAULT_SETTINGS,
) -> None:
    """Run the timer command of ``deadline`` on the loaded aggregates.

    ``wallets`` maps the ids from ``wallets_needed`` to loaded wallets; the service then
    appends whatever each aggregate recorded.
    """
    target = deadline.target
    if deadline.kind == EARNINGS_AVAILABLE:
        (wallet,) = (wallets[i] for i in wallets_needed(deadline, None))
        wallet.make_earnings_available(target["payment_id"], now)
        return
    (wallet,) = (wallets[i] for i in wallets_needed(deadline, contract))
    if deadline.kind == AUTO_APPROVE:
        contract.auto_approve(
            target["milestone_id"], parse_time(target["due_at"]), now, wallet, settings
        )
    elif deadline.kind == REFUND_RESPONSE:
        contract.expire_refund_request(target["refund_id"], now, wallet, settings)
    elif deadline.kind == WEEK_INVOICE:
        contract.invoice_week(parse_time(target["week_start"]), now, wallet, settings)
    elif deadline.kind == WEEK_RELEASE:
        contract.release_week(parse_time(target["week_start"]), now, wallet)
    else:
        raise ValueError(f"unknown deadline kind {deadline.kind!r}")
