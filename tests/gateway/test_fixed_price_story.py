"""The fixed-price story through the gateway's HTTP API, every service running: post a job,
find it, propose, offer, accept, the contract opens in escrow, deposit, fund, submit,
approve, the security period passes, withdraw; then the balances against the ledger."""

from __future__ import annotations

from datetime import timedelta

from nameko.testing.services import entrypoint_hook

from shared.clock import manual_clock
from tests.gateway.conftest import PASSWORD, START, fixed_job, usd, wait_until

BID, DEPOSIT, FEE = 450_00, 500_00, 45_00  # the freelancer's fee is 10 %


def balance(api, token, account, currency="USD") -> int:
    statement = api.ok(
        "GET", "/v1/ledger", token, params={"account": account, "currency": currency}
    )
    return statement["balance"]


def test_a_fixed_price_job_from_post_to_paid(api, platform):
    client = api.user("client", name="Cleo Client")
    freelancer = api.user("freelancer", name="Fred Freelancer")
    operator = api.operator()
    c, f = client["token"], freelancer["token"]

    job_id = api.ok("POST", "/v1/jobs", c, status=201, json=fixed_job())["job_id"]
    found = wait_until(
        lambda: api.ok("GET", "/v1/jobs", params={"q": "booking"})["items"], what="job searchable"
    )
    assert [j["job_id"] for j in found] == [job_id]

    # bidding learns of the job from its event; quoting costs nothing, so it is the probe
    wait_until(
        lambda: api.post("/v1/proposals/quote", f, json={"job_id": job_id, "bid": usd(BID)}).ok,
        what="job listed in bidding",
    )
    proposal = api.ok(
        "POST",
        "/v1/proposals",
        f,
        status=201,
        json={
            "job_id": job_id,
            "cover_letter": "I have built booking sites for three studio chains.",
            "bid": usd(BID),
            "estimated_duration": "1_to_3_months",
        },
    )
    inbox = api.ok("GET", "/v1/proposals", c, params={"job_id": job_id})
    assert [p["proposal_id"] for p in inbox["proposals"]] == [proposal["proposal_id"]]
    offer = api.ok(
        "POST",
        "/v1/offers",
        c,
        status=201,
        json={
            "job_id": job_id,
            "proposal_id": proposal["proposal_id"],
            "kind": "fixed",
            "milestones": [{"title": "The whole site", "amount": usd(BID)}],
            "start_date": START.date().isoformat(),
        },
    )
    assert api.ok("POST", f"/v1/offers/{offer['offer_id']}/accept", f)["status"] == "accepted"

    contracts = wait_until(
        lambda: api.ok("GET", "/v1/contracts", c)["contracts"], what="contract opened in escrow"
    )
    assert [(k["job_id"], k["freelancer_id"]) for k in contracts] == [
        (job_id, freelancer["user_id"])
    ]
    contract_id = contracts[0]["contract_id"]
    contract = api.ok("GET", f"/v1/contracts/{contract_id}", f)
    milestone_id = contract["milestones"][0]["milestone_id"]
    base = f"/v1/contracts/{contract_id}/milestones/{milestone_id}"

    deposit = api.ok("POST", "/v1/wallet/deposits", c, status=201, json={"amount": usd(DEPOSIT)})
    api.ok(
        "POST",
        "/v1/payments/sandbox/settlements",
        operator,
        json={"operation": "deposit", "operation_id": deposit["deposit_id"]},
    )
    assert api.ok("GET", "/v1/wallet", c)["balance"] == usd(DEPOSIT)

    api.ok("POST", f"{base}/fund", c, headers={"Idempotency-Key": "fund-1"})
    # a retried request with the same key moves nothing twice
    api.ok("POST", f"{base}/fund", c, headers={"Idempotency-Key": "fund-1"})
    assert api.ok("GET", "/v1/wallet", c)["balance"] == usd(DEPOSIT - BID)
    api.ok("POST", f"{base}/submit", f, json={"message": "Deployed to staging."})
    api.ok("POST", f"{base}/approve", c)
    wallet = api.ok("GET", "/v1/wallet", f)
    assert wallet["pending"] == usd(BID - FEE) and wallet["available"] == usd(0)

    # the job is filled and the contract has its room, both learnt from events
    wait_until(
        lambda: api.ok("GET", f"/v1/jobs/{job_id}", c)["status"] == "closed", what="job closed"
    )
    rooms = wait_until(lambda: api.ok("GET", "/v1/rooms", f)["rooms"], what="contract room")
    assert {client["user_id"], freelancer["user_id"]} <= {
        p if isinstance(p, str) else p.get("user_id") for p in rooms[0]["participants"]
    }

    # the security period passes: escrow's timer makes the earnings available
    manual_clock.set(START + timedelta(days=6))
    with entrypoint_hook(platform.containers["escrow"], "fire_deadlines") as fire:
        fire()
    # six days on, the access tokens have expired: log in again
    c, f = api.login(client["email"], PASSWORD), api.login(freelancer["email"], PASSWORD)
    operator = api.operator()
    assert api.ok("GET", "/v1/wallet", f)["available"] == usd(BID - FEE)
    withdrawal = api.ok(
        "POST", "/v1/wallet/withdrawals", f, status=201, json={"amount": usd(100_00)}
    )
    api.ok(
        "POST",
        "/v1/payments/sandbox/settlements",
        operator,
        json={"operation": "withdrawal", "operation_id": withdrawal["withdrawal_id"]},
    )

    # balances, each equal to its ledger account, and the money adds up
    client_wallet = balance(api, c, f"client_wallet:{client['user_id']}")
    available = balance(api, f, f"freelancer_available:{freelancer['user_id']}")
    escrowed = balance(api, c, f"contract_escrow:{contract_id}")
    fees = balance(api, operator, "platform_fees")
    assert (client_wallet, available, escrowed, fees) == (
        DEPOSIT - BID,
        BID - FEE - 100_00,
        0,
        FEE,
    )
    assert api.ok("GET", "/v1/wallet", c)["balance"] == usd(client_wallet)
    # the client's ledger, one entry a page, followed by its Link headers
    url, amounts = f"/v1/ledger?account=client_wallet:{client['user_id']}&limit=1", []
    while url:
        page = api.get(url, c)
        assert page.status_code == 200
        amounts += [entry["amount"] for entry in page.json()["entries"]]
        url = page.links.get("next", {}).get("url")
    assert sorted(amounts) == [-BID, DEPOSIT]
    assert api.ok("GET", "/v1/wallet", f)["available"] == usd(available)
    # what came in = what is held + what went out + fees
    clearing = balance(api, operator, "provider_clearing:USD")
    assert -clearing == DEPOSIT - 100_00
    assert client_wallet + available + escrowed + fees == -clearing
