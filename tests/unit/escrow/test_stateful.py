"""Model-based test: random escrow command sequences against the domain + ledger and the
independent reference model must agree on every accept/refuse and every balance."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.escrow.domain import contract_id_for_offer, offer_milestone_id
from services.escrow.settings import FeeSchedule
from shared.errors import MarketplaceError

from .harness import CLIENT, FREELANCER, OPERATOR, Harness, fixed_offer, usd
from .model import EscrowModel

FEE_BPS, CLIENT_BPS = 1000, 300
pick = st.integers(min_value=0, max_value=19)  # 19 names a milestone that does not exist
# Hypothesis favours small integers; money is drawn from realistic sizes and edges instead.
sizes = st.sampled_from([-1, 0, 1, 499, 500, 1_003, 5_000, 20_000, 35_000, 50_000, 100_000])
# Part of what a milestone holds, in percent (None: all of it); 0 and >100 must be refused.
share = st.none() | st.sampled_from([0, 1, 25, 50, 99, 100, 101])
party = st.sampled_from(["client", "freelancer"])
OPEN = ("funded", "submitted", "changes_requested", "partially_released")


class EscrowComparison(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.h = Harness(fees=FeeSchedule(FEE_BPS, CLIENT_BPS))
        self.cid = self.h.open(fixed_offer(amounts=(20_000,)))
        self.model = EscrowModel(CLIENT, FREELANCER, self.cid, FEE_BPS, CLIENT_BPS)
        self.model.add_milestone(offer_milestone_id(self.cid, 0), 20_000)
        self.names = [offer_milestone_id(self.cid, 0)]
        self.counter = 0
        self.model.deposit(200_000)
        self.h.deposit(CLIENT, 200_000)
        assert self.cid == contract_id_for_offer("offer-1")

    # -- helpers ------------------------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def name(self, index: int, *likely: str) -> str:
        """A milestone: mostly one in a state where the rule can succeed, sometimes any
        (refusals matter as much), and for index 19 one that does not exist."""
        if index == 19:
            return "m-missing"
        fitting = [n for n in self.names if self.model.milestones[n].state in likely]
        if fitting and index < 12:
            return fitting[index % len(fitting)]
        return self.names[-1 - index % min(len(self.names), 4)]

    def attempt(self, expected: bool, command, *aggregates) -> None:
        """Run a command on the real aggregates; it must agree with the model's verdict."""
        try:
            command()
        except MarketplaceError as exc:
            assert not expected, f"model accepted, domain refused: {exc}"
            assert all(a.pending == [] for a in aggregates), "a refused command recorded events"
            return
        assert expected, "model refused, domain accepted"
        self.h.commit(*aggregates)

    def load(self):
        return self.h.contract(self.cid), self.h.wallet(CLIENT), self.h.wallet(FREELANCER)

    def actor(self, who: str) -> str:
        return CLIENT if who == "client" else FREELANCER

    # -- rules --------------------------------------------------------------------------------

    @rule(amount=sizes)
    def deposit(self, amount):
        ok = self.model.deposit(amount)
        w = self.h.wallet(CLIENT)
        dep = self.fresh("deposit")

        def run():
            w.request_deposit(dep, usd(amount), CLIENT, self.h.now)
            w.confirm_deposit(dep, f"ref-{dep}", usd(amount), self.h.now)

        self.attempt(ok, run, w)

    @rule(amount=sizes)
    def add_milestone(self, amount):
        name = self.fresh("m")
        ok = self.model.add_milestone(name, amount)
        c, _, _ = self.load()
        self.attempt(ok, lambda: c.add_milestone(name, "x", usd(amount), CLIENT, self.h.now), c)
        if ok:
            self.names.append(name)

    @rule(index=pick)
    def fund(self, index):
        name = self.name(index, "unfunded")
        ok = self.model.fund(name)
        c, cw, _ = self.load()
        self.attempt(ok, lambda: c.fund_milestone(name, CLIENT, self.h.now, cw), c, cw)

    @rule(index=pick)
    def submit(self, index):
        name = self.name(index, "funded", "changes_requested")
        ok = self.model.submit(name, self.h.now)
        c, _, _ = self.load()
        self.attempt(ok, lambda: c.submit_work(name, "work", FREELANCER, self.h.now), c)

    @rule(index=pick)
    def request_changes(self, index):
        name = self.name(index, "submitted")
        ok = self.model.request_changes(name)
        c, _, _ = self.load()
        self.attempt(ok, lambda: c.request_changes(name, "again", CLIENT, self.h.now), c)

    def part(self, name: str, percent: int | None) -> int | None:
        m = self.model.milestones.get(name)
        if percent is None:
            return None
        return (m.held if m else 1_000) * percent // 100

    @rule(index=pick, percent=share)
    def approve(self, index, percent):
        name = self.name(index, *OPEN)
        amount = self.part(name, percent)
        ok = self.model.approve(name, amount, self.h.now)
        c, _, fw = self.load()
        money = None if amount is None else usd(amount)
        self.attempt(ok, lambda: c.approve_milestone(name, CLIENT, self.h.now, fw, money), c, fw)

    @rule(index=pick, percent=share)
    def request_refund(self, index, percent):
        name, refund = self.name(index, *OPEN), self.fresh("r")
        amount = self.part(name, percent)
        ok = self.model.request_refund(refund, name, amount, self.h.now)
        c, _, _ = self.load()
        money = None if amount is None else usd(amount)
        self.attempt(ok, lambda: c.request_refund(refund, name, CLIENT, self.h.now, money), c)

    def current_refund(self, index: int) -> str:
        m = self.model.milestones.get(self.name(index, "refund_requested"))
        return (m.refund if m else None) or "r-none"

    @rule(index=pick)
    def accept_refund(self, index):
        refund = self.current_refund(index)
        ok = self.model.accept_refund(refund, self.h.now)
        c, cw, _ = self.load()
        self.attempt(ok, lambda: c.accept_refund(refund, FREELANCER, self.h.now, cw), c, cw)

    @rule(index=pick)
    def dispute_milestone(self, index):
        name, dispute = self.name(index, *OPEN), self.fresh("d")
        ok = self.model.dispute_milestone(dispute, name)
        c, _, _ = self.load()
        self.attempt(
            ok, lambda: c.open_dispute(dispute, "milestone", name, "no", CLIENT, self.h.now), c
        )

    @rule(index=pick)
    def dispute_refund(self, index):
        refund, dispute = self.current_refund(index), self.fresh("d")
        ok = self.model.dispute_refund(dispute, refund)
        c, _, _ = self.load()
        self.attempt(
            ok, lambda: c.open_dispute(dispute, "refund", refund, "no", FREELANCER, self.h.now), c
        )

    def current_dispute(self, index: int) -> tuple[str, int]:
        m = self.model.milestones.get(self.name(index, "disputed"))
        if m is None or m.dispute is None:
            return "d-none", 0
        return m.dispute, self.model.disputes[m.dispute]["amount"]

    @rule(
        index=pick,
        percent=st.integers(min_value=0, max_value=100),
        off_by=st.sampled_from([0, 0, 1]),
    )
    def resolve(self, index, percent, off_by):
        dispute, amount = self.current_dispute(index)
        refund = amount * percent // 100
        release = amount - refund + off_by
        ok = self.model.resolve(dispute, refund, release, self.h.now)
        c, cw, fw = self.load()

        def run():
            c.resolve_dispute(
                dispute, usd(refund), usd(release), "", OPERATOR, ("operator",), self.h.now, cw, fw
            )

        self.attempt(ok, run, c, cw, fw)

    @rule(index=pick, who=party)
    def withdraw_dispute(self, index, who):
        dispute, _ = self.current_dispute(index)
        ok = self.model.withdraw_dispute(dispute, who, self.h.now)
        c, cw, _ = self.load()
        self.attempt(
            ok, lambda: c.withdraw_dispute(dispute, self.actor(who), self.h.now, cw), c, cw
        )

    @rule(who=party, roll=st.integers(min_value=0, max_value=9))
    def end_contract(self, who, roll):
        if roll:
            return  # ending stops most commands, so it is tried rarely
        ok = self.model.end(who, self.h.now)
        c, cw, _ = self.load()
        self.attempt(ok, lambda: c.end_contract(self.actor(who), "bye", self.h.now, cw), c, cw)

    @rule(amount=sizes)
    def bonus(self, amount):
        ok = self.model.bonus(amount, self.h.now)
        c, cw, fw = self.load()
        bonus = self.fresh("b")
        self.attempt(
            ok, lambda: c.pay_bonus(bonus, usd(amount), "", CLIENT, self.h.now, cw, fw), c, cw, fw
        )

    @rule(amount=sizes)
    def withdraw(self, amount):
        ok = self.model.withdraw(amount)
        _, _, fw = self.load()
        ref = self.fresh("w")
        self.attempt(
            ok, lambda: fw.request_withdrawal(ref, usd(amount), FREELANCER, self.h.now), fw
        )

    @rule(hours=st.integers(min_value=1, max_value=24 * 16))
    def advance(self, hours):
        self.h.advance(timedelta(hours=hours))
        due = sorted(
            (d for d in self.h.deadlines.values() if d.due_at <= self.h.now),
            key=lambda d: (d.due_at, d.key),
        )
        for deadline in due:
            del self.h.deadlines[deadline.key]
            self.h.fire(deadline)
        self.model.tick(self.h.now)

    # -- agreement ----------------------------------------------------------------------------

    @invariant()
    def balances_agree(self):
        ours = {k: v for k, v in self.model.balances.items() if v}
        theirs = {account: v for (account, _), v in self.h.ledger.balances.items() if v}
        assert ours == theirs

    @invariant()
    def milestones_agree(self):
        contract = self.h.contract(self.cid)
        for name, m in self.model.milestones.items():
            real = contract.milestones[name]
            assert (real.status, real.held.amount, real.released.amount) == (
                m.state,
                m.held,
                m.released,
            ), name


EscrowComparison.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEscrowComparison = EscrowComparison.TestCase
