"""An independent in-memory reference model of fixed-price escrow.

It knows nothing of events, aggregates or the ledger module: just account balances, the
milestones of one contract, refund requests, disputes and pending payments, with the
rules written out again as plainly as possible. Stateful tests run the same random
commands against the model and the real thing and require both to accept or refuse each
one alike and to agree on every balance afterwards. Each command returns True when
accepted and False when refused (and then changes nothing).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

AUTO_APPROVE = timedelta(days=14)
SECURITY = timedelta(days=5)
REFUND_RESPONSE = timedelta(days=7)
MINIMUM = 500
OPEN_STATES = {"funded", "submitted", "changes_requested", "partially_released"}


def cut(amount: int, bps: int) -> int:
    """A fee of ``bps`` basis points, half up: the platform's one rounding rule."""
    return (amount * bps + 5000) // 10000


@dataclass
class ModelMilestone:
    amount: int
    state: str = "unfunded"
    funded: int = 0
    released: int = 0
    refunded: int = 0
    auto_at: datetime | None = None
    back_to: str | None = None  # state to return to after a refund request or dispute
    refund: str | None = None
    dispute: str | None = None

    @property
    def held(self) -> int:
        return self.funded - self.released - self.refunded

    def close(self) -> None:
        if self.released and self.refunded:
            self.state = "settled"
        else:
            self.state = "released" if self.released else "refunded"


class EscrowModel:
    def __init__(self, client: str, freelancer: str, contract: str, fee_bps: int, client_bps: int):
        self.client, self.freelancer, self.contract = client, freelancer, contract
        self.fee_bps, self.client_bps = fee_bps, client_bps
        self.balances: dict[str, int] = defaultdict(int)
        self.milestones: dict[str, ModelMilestone] = {}
        self.refunds: dict[str, dict] = {}
        self.disputes: dict[str, dict] = {}
        self.payments: list[tuple[datetime, int]] = []  # (available at, net) still pending
        self.ended = False

    # -- accounts -----------------------------------------------------------------------------

    def move(self, source: str, target: str, amount: int) -> None:
        self.balances[source] -= amount
        self.balances[target] += amount

    @property
    def wallet(self) -> str:
        return f"client_wallet:{self.client}"

    @property
    def escrow(self) -> str:
        return f"contract_escrow:{self.contract}"

    def pay_freelancer(self, source: str, gross: int, now: datetime) -> None:
        fee = cut(gross, self.fee_bps)
        self.move(source, "platform_fees", fee)
        self.move(source, f"freelancer_pending:{self.freelancer}", gross - fee)
        if gross - fee:
            self.payments.append((now + SECURITY, gross - fee))

    # -- commands -----------------------------------------------------------------------------

    def deposit(self, amount: int) -> bool:
        if amount <= 0:
            return False
        self.move("provider_clearing:USD", self.wallet, amount)
        return True

    def add_milestone(self, name: str, amount: int) -> bool:
        if self.ended or amount < MINIMUM or name in self.milestones:
            return False
        self.milestones[name] = ModelMilestone(amount)
        return True

    def fund(self, name: str) -> bool:
        m = self.milestones.get(name)
        total = m.amount + cut(m.amount, self.client_bps) if m else 0
        if self.ended or m is None or m.state != "unfunded" or self.balances[self.wallet] < total:
            return False
        self.move(self.wallet, self.escrow, m.amount)
        self.move(self.wallet, "platform_fees", total - m.amount)
        m.funded, m.state = m.amount, "funded"
        return True

    def submit(self, name: str, now: datetime) -> bool:
        m = self.milestones.get(name)
        if self.ended or m is None or m.state not in ("funded", "changes_requested"):
            return False
        m.state, m.auto_at = "submitted", now + AUTO_APPROVE
        return True

    def request_changes(self, name: str) -> bool:
        m = self.milestones.get(name)
        if m is None or m.state != "submitted":
            return False
        m.state, m.auto_at = "changes_requested", None
        return True

    def approve(self, name: str, amount: int | None, now: datetime) -> bool:
        m = self.milestones.get(name)
        if m is None or m.state not in OPEN_STATES:
            return False
        gross = m.held if amount is None else amount
        if gross <= 0 or gross > m.held:
            return False
        self.release(m, gross, now)
        return True

    def release(self, m: ModelMilestone, gross: int, now: datetime) -> None:
        self.pay_freelancer(self.escrow, gross, now)
        m.released += gross
        m.auto_at = None
        if m.held:
            m.state = "partially_released"
        else:
            m.close()

    def request_refund(self, refund: str, name: str, amount: int | None, now: datetime) -> bool:
        m = self.milestones.get(name)
        if m is None or m.state not in OPEN_STATES or refund in self.refunds:
            return False
        wanted = m.held if amount is None else amount
        if wanted <= 0 or wanted > m.held:
            return False
        self.refunds[refund] = {
            "name": name,
            "amount": wanted,
            "due": now + REFUND_RESPONSE,
            "state": "requested",
        }
        m.back_to, m.state, m.refund, m.auto_at = m.state, "refund_requested", refund, None
        return True

    def accept_refund(self, refund: str, now: datetime) -> bool:
        r = self.refunds.get(refund)
        if r is None or r["state"] != "requested":
            return False
        self.do_refund(refund, now)
        return True

    def do_refund(self, refund: str, now: datetime) -> None:
        r = self.refunds[refund]
        m = self.milestones[r["name"]]
        self.move(self.escrow, self.wallet, r["amount"])
        m.refunded += r["amount"]
        r["state"] = "refunded"
        m.refund = None
        self.resume(m, now)

    def resume(self, m: ModelMilestone, now: datetime) -> None:
        if m.held == 0:
            m.close()
            m.auto_at = None
        else:
            m.state = m.back_to or "funded"
            m.auto_at = now + AUTO_APPROVE if m.state == "submitted" else None
        m.back_to = None

    def dispute_milestone(self, dispute: str, name: str) -> bool:
        m = self.milestones.get(name)
        if m is None or m.state not in OPEN_STATES or m.held == 0 or dispute in self.disputes:
            return False
        self.disputes[dispute] = {
            "name": name,
            "refund": None,
            "by": "client",
            "state": "open",
            "amount": m.held,
        }
        m.back_to, m.state, m.dispute, m.auto_at = m.state, "disputed", dispute, None
        return True

    def dispute_refund(self, dispute: str, refund: str) -> bool:
        r = self.refunds.get(refund)
        if r is None or r["state"] != "requested" or dispute in self.disputes:
            return False
        m = self.milestones[r["name"]]
        self.disputes[dispute] = {
            "name": r["name"],
            "refund": refund,
            "by": "freelancer",
            "state": "open",
            "amount": m.held,
        }
        r["state"] = "disputed"
        m.state, m.dispute = "disputed", dispute
        return True

    def resolve(self, dispute: str, refund: int, release: int, now: datetime) -> bool:
        d = self.disputes.get(dispute)
        if d is None or d["state"] != "open" or refund < 0 or release < 0:
            return False
        if refund + release != d["amount"]:
            return False
        m = self.milestones[d["name"]]
        self.move(self.escrow, self.wallet, refund)
        self.pay_freelancer(self.escrow, release, now)
        m.refunded += refund
        m.released += release
        d["state"] = "resolved"
        if d["refund"]:
            self.refunds[d["refund"]]["state"] = "resolved"
        m.close()
        m.dispute = m.refund = m.back_to = None
        return True

    def withdraw_dispute(self, dispute: str, by: str, now: datetime) -> bool:
        d = self.disputes.get(dispute)
        if d is None or d["state"] != "open" or d["by"] != by:
            return False
        d["state"] = "withdrawn"
        m = self.milestones[d["name"]]
        m.dispute = None
        if d["refund"]:
            self.refunds[d["refund"]]["state"] = "requested"
            self.do_refund(d["refund"], now)
        else:
            self.resume(m, now)
        return True

    def end(self, by: str, now: datetime) -> bool:
        if self.ended:
            return False
        self.ended = True
        for name, m in self.milestones.items():
            if m.state not in OPEN_STATES or m.held == 0:
                continue
            refund = f"end:{name}"
            if by == "freelancer":
                self.refunds[refund] = {"name": name, "amount": m.held, "state": "requested"}
                m.back_to = m.state
                self.do_refund(refund, now)
            else:
                self.request_refund(refund, name, None, now)
        return True

    def bonus(self, amount: int, now: datetime) -> bool:
        total = amount + cut(amount, self.client_bps) if amount > 0 else 0
        if amount <= 0 or self.balances[self.wallet] < total:
            return False
        self.move(self.wallet, "platform_fees", total - amount)
        self.pay_freelancer(self.wallet, amount, now)
        return True

    def withdraw(self, amount: int) -> bool:
        available = f"freelancer_available:{self.freelancer}"
        if amount <= 0 or amount > self.balances[available]:
            return False
        self.move(available, f"withdrawals_in_flight:{self.freelancer}", amount)
        return True

    # -- time ---------------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Everything whose window closed by ``now``: auto-approvals, silent refunds, and
        earnings leaving their security period."""
        for m in self.milestones.values():
            if m.state == "submitted" and m.auto_at is not None and m.auto_at <= now:
                self.release(m, m.held, now)
        for refund, r in self.refunds.items():
            if r["state"] == "requested" and r["due"] <= now:
                self.do_refund(refund, now)
        still = []
        for due, net in self.payments:
            if due <= now:
                self.move(
                    f"freelancer_pending:{self.freelancer}",
                    f"freelancer_available:{self.freelancer}",
                    net,
                )
            else:
                still.append((due, net))
        self.payments = still
