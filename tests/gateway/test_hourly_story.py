"""The hourly story through the gateway's HTTP API, every service running: an hourly hire,
time logged, and the clock moved across the week's boundaries (invoice Monday noon, review
to Friday night, available the Wednesday after), escrow's timer fired at each."""

from __future__ import annotations

from datetime import timedelta

from nameko.testing.services import entrypoint_hook

from shared.clock import manual_clock
from tests.gateway.conftest import PASSWORD, START, fixed_job, usd, wait_until

RATE, HOURS, DEPOSIT = 50_00, 2, 1_000_00
BILLED = RATE * HOURS
FEE = BILLED // 10
MONDAY = START.replace(hour=0)  # the contract's first week starts Monday 00:00 UTC


def test_an_hourly_week_is_logged_invoiced_reviewed_and_paid(api, platform):
    client, freelancer = api.user("client"), api.user("freelancer")
    c, f = client["token"], freelancer["token"]
    job = api.ok(
        "POST",
        "/v1/jobs",
        c,
        json=fixed_job(
            title="Maintain an hourly booking site",
            hours_per_week="less_than_30",
            budget={"type": "hourly", "min": usd(30_00), "max": usd(60_00)},
        ),
    )
    quote = {"job_id": job["job_id"], "bid": usd(RATE)}
    wait_until(lambda: api.post("/v1/proposals/quote", f, json=quote).ok, what="job listed")
    proposal = api.ok(
        "POST",
        "/v1/proposals",
        f,
        json={
            "job_id": job["job_id"],
            "cover_letter": "I maintain three booking sites by the hour.",
            "bid": usd(RATE),
            "estimated_duration": "more_than_6_months",
        },
    )
    offer = api.ok(
        "POST",
        "/v1/offers",
        c,
        json={
            "job_id": job["job_id"],
            "proposal_id": proposal["proposal_id"],
            "kind": "hourly",
            "hourly_rate": usd(RATE),
            "weekly_limit_hours": 10,
            "manual_time_allowed": True,
            "start_date": START.date().isoformat(),
        },
    )
    api.ok("POST", f"/v1/offers/{offer['offer_id']}/accept", f)
    contract_id = wait_until(
        lambda: api.ok("GET", "/v1/contracts", c)["contracts"], what="contract"
    )[0]["contract_id"]
    operator = api.operator()
    deposit = api.ok("POST", "/v1/wallet/deposits", c, json={"amount": usd(DEPOSIT)})
    api.ok(
        "POST",
        "/v1/payments/sandbox/settlements",
        operator,
        json={"operation": "deposit", "operation_id": deposit["deposit_id"]},
    )

    def move_to(moment):
        """Move the clock, fire escrow's due deadlines, and sign in again (tokens expire)."""
        manual_clock.set(moment)
        with entrypoint_hook(platform.containers["escrow"], "fire_deadlines") as fire:
            fired = fire()
        return fired, api.login(client["email"], PASSWORD), api.login(freelancer["email"], PASSWORD)

    def week(token):
        return api.ok("GET", f"/v1/contracts/{contract_id}", token)["weeks"][0]

    _, c, f = move_to(MONDAY + timedelta(days=1))
    api.ok(
        "POST",
        f"/v1/contracts/{contract_id}/time",
        f,
        json={
            "start": (MONDAY + timedelta(hours=10)).isoformat(),
            "end": (MONDAY + timedelta(hours=10 + HOURS)).isoformat(),
            "memo": "Fixed the calendar sync",
        },
    )
    invoice_at = MONDAY + timedelta(days=7, hours=12)
    fired, c, f = move_to(invoice_at - timedelta(seconds=1))
    assert fired == 0 and week(c)["status"] == "open"
    fired, c, f = move_to(invoice_at)
    assert fired >= 1 and week(c)["status"] == "in_review"
    assert week(c)["amount"] == usd(BILLED)
    assert api.ok("GET", "/v1/wallet", c)["balance"] == usd(DEPOSIT - BILLED)
    late = api.post(
        f"/v1/contracts/{contract_id}/time",
        f,
        json={
            "start": (MONDAY + timedelta(hours=14)).isoformat(),
            "end": (MONDAY + timedelta(hours=15)).isoformat(),
        },
    )
    assert late.status_code == 409  # an invoiced week is closed

    review_until = MONDAY + timedelta(days=12)  # Saturday 00:00
    fired, c, f = move_to(review_until)
    assert week(c)["status"] == "released"
    wallet = api.ok("GET", "/v1/wallet", f)
    assert wallet["pending"] == usd(BILLED - FEE) and wallet["available"] == usd(0)
    fired, c, f = move_to(invoice_at + timedelta(days=9))  # the Wednesday after the review
    wallet = api.ok("GET", "/v1/wallet", f)
    assert wallet["pending"] == usd(0) and wallet["available"] == usd(BILLED - FEE)

    operator = api.operator()
    ledger = {
        account: api.ok("GET", "/v1/ledger", operator, params={"account": account})["balance"]
        for account in (
            f"client_wallet:{client['user_id']}",
            f"freelancer_available:{freelancer['user_id']}",
            f"contract_escrow:{contract_id}",
            "platform_fees",
            "provider_clearing:USD",
        )
    }
    assert list(ledger.values()) == [DEPOSIT - BILLED, BILLED - FEE, 0, FEE, -DEPOSIT]
