"""A dispute settled by an operator, the contract ended, and both sides' feedback, all
through the gateway's HTTP API with every service running; then the balances against the
ledger."""

from __future__ import annotations

from services.reputation.domain import CLIENT_CRITERIA, FREELANCER_CRITERIA
from tests.gateway.conftest import START, proposal_on_a_new_job, usd, wait_until

BID, DEPOSIT = 450_00, 500_00
REFUND, RELEASE = 150_00, 300_00
FEE = RELEASE // 10  # the freelancer's fee is 10 %


def ledger_balance(api, token, account) -> int:
    return api.ok("GET", "/v1/ledger", token, params={"account": account})["balance"]


def feedback(rating: int, criteria) -> dict:
    return {
        "rating": rating,
        "criteria": {name: rating for name in criteria},
        "comment": "Worked it out in the end.",
        "private_feedback": {"end_reason": "other", "would_recommend": 6},
    }


def test_a_disputed_milestone_is_split_and_both_sides_leave_feedback(api, platform):
    hire = proposal_on_a_new_job(api, keyword="dispute")
    client, freelancer = hire["client"], hire["freelancer"]
    c, f, operator = client["token"], freelancer["token"], api.operator()
    offer = api.ok(
        "POST",
        "/v1/offers",
        c,
        json={
            "job_id": hire["job_id"],
            "proposal_id": hire["proposal_id"],
            "kind": "fixed",
            "milestones": [{"title": "The whole site", "amount": usd(BID)}],
            "start_date": START.date().isoformat(),
        },
    )
    api.ok("POST", f"/v1/offers/{offer['offer_id']}/accept", f)
    contract_id = wait_until(
        lambda: api.ok("GET", "/v1/contracts", c)["contracts"], what="contract"
    )[0]["contract_id"]
    milestone_id = api.ok("GET", f"/v1/contracts/{contract_id}", c)["milestones"][0]["milestone_id"]
    deposit = api.ok("POST", "/v1/wallet/deposits", c, json={"amount": usd(DEPOSIT)})
    api.ok(
        "POST",
        "/v1/payments/sandbox/settlements",
        operator,
        json={"operation": "deposit", "operation_id": deposit["deposit_id"]},
    )
    base = f"/v1/contracts/{contract_id}"
    api.ok("POST", f"{base}/milestones/{milestone_id}/fund", c)
    api.ok("POST", f"{base}/milestones/{milestone_id}/submit", f)

    dispute = api.ok(
        "POST",
        f"{base}/disputes",
        c,
        status=201,
        json={"target_kind": "milestone", "target_id": milestone_id, "reason": "Half done."},
    )
    split = {"refund": usd(REFUND), "release": usd(RELEASE), "note": "Split by the evidence."}
    not_operator = api.post(f"{base}/disputes/{dispute['dispute_id']}/resolve", c, json=split)
    assert not_operator.status_code == 403
    uneven = {**split, "refund": usd(REFUND + 1)}
    wrong_sum = api.post(f"{base}/disputes/{dispute['dispute_id']}/resolve", operator, json=uneven)
    assert wrong_sum.status_code in (400, 409)
    api.ok("POST", f"{base}/disputes/{dispute['dispute_id']}/resolve", operator, json=split)

    api.ok("POST", f"{base}/end", c, json={"reason": "Done, with a dispute."})
    assert api.ok("GET", base, f)["status"] == "ended"

    # reputation learns of the end from escrow's events before it takes feedback
    def left(token, body):
        response = api.post(f"{base}/feedback", token, json=body)
        return response.json() if response.status_code == 201 else None

    wait_until(lambda: left(c, feedback(4, FREELANCER_CRITERIA)), what="feedback window open")
    second = api.ok("POST", f"{base}/feedback", f, json=feedback(3, CLIENT_CRITERIA))
    assert second["status"] == "revealed"
    shown = api.ok("GET", f"{base}/feedback", f)["sides"]
    assert {side: s["status"] for side, s in shown.items()} == {
        "client": "revealed",
        "freelancer": "revealed",
    }
    assert (shown["client"]["feedback"]["rating"], shown["freelancer"]["feedback"]["rating"]) == (
        4,
        3,
    )
    assert "private" not in shown["client"]["feedback"]  # the client's private note stays so
    score = api.ok("GET", f"/v1/freelancers/{freelancer['user_id']}/score", c)
    assert (score["counted_contracts"], score["distinct_clients"]) == (1, 1)

    # the money: refund back in the client's wallet, release (less fee) pending
    assert api.ok("GET", "/v1/wallet", c)["balance"] == usd(DEPOSIT - BID + REFUND)
    assert api.ok("GET", "/v1/wallet", f)["pending"] == usd(RELEASE - FEE)
    balances = (
        ledger_balance(api, c, f"client_wallet:{client['user_id']}"),
        ledger_balance(api, f, f"freelancer_pending:{freelancer['user_id']}"),
        ledger_balance(api, c, f"contract_escrow:{contract_id}"),
        ledger_balance(api, operator, "platform_fees"),
    )
    assert balances == (DEPOSIT - BID + REFUND, RELEASE - FEE, 0, FEE)
    assert sum(balances) == -ledger_balance(api, operator, "provider_clearing:USD")
