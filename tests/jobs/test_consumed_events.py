"""Other services' events reaching the jobs service over RabbitMQ, each applied once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.consumers import list_dead_letters
from shared.errors import NotAuthenticated
from tests.jobs.conftest import CLIENT, FREELANCER, T0, create, job_details, usd, wait_until

AT = T0.isoformat()


def contract_opened(job_id: str, contract_id: str = "contract-1", **overrides) -> dict:
    data = {
        "contract_id": contract_id,
        "offer_id": "offer-1",
        "proposal_id": "proposal-1",
        "job_id": job_id,
        "client_id": "client-1",
        "freelancer_id": "freelancer-1",
        "kind": "hourly",
        "currency": "USD",
        "start_date": "2026-03-02",
        "fees": {"freelancer_fee_bps": 1000, "client_fee_bps": 300},
        "hourly_rate": usd(4000),
        "weekly_limit_hours": 20,
        "manual_time_allowed": False,
        "opened_at": AT,
    }
    data.update(overrides)
    return data


def test_the_contract_fills_the_job_once_even_when_delivered_twice(jobs):
    job_id = create(jobs)
    event_id = jobs.deliver("escrow", "ContractOpened", contract_opened(job_id))
    jobs.deliver("escrow", "ContractOpened", contract_opened(job_id), event_id=event_id)
    jobs.deliver("escrow", "ContractOpened", contract_opened(job_id, "contract-2"))
    wait_until(lambda: jobs.processed("fill_job") == 2)
    jobs.wait_idle()  # the duplicate, too, has been handled (acknowledged and skipped)

    types = jobs.event_types(f"job-{job_id}")
    assert types.count("JobFilled") == 1 and types.count("JobHireAdded") == 1
    view = jobs.call("get_job", CLIENT, job_id=job_id)
    assert (view["status"], view["close_reason"], view["hires"]) == ("closed", "filled", 2)
    assert view["client"]["hires"] == 2 and view["client"]["hire_rate_percent"] == 100
    # the hired freelancer may see the job even if it were invite-only
    assert jobs.call("get_job", FREELANCER, job_id=job_id)["status"] == "closed"


def test_proposals_are_counted_once_and_uncounted_when_withdrawn(jobs):
    job_id = create(jobs)
    entered = {
        "job_id": job_id,
        "proposal_id": "proposal-1",
        "freelancer_id": "freelancer-1",
        "boost": 0,
        "spend_id": "spend-1",
        "invited": False,
        "entered_at": AT,
    }
    first = jobs.deliver("bidding", "ListingProposalEntered", entered)
    jobs.deliver("bidding", "ListingProposalEntered", entered, event_id=first)
    jobs.deliver("bidding", "ListingProposalEntered", {**entered, "proposal_id": "proposal-2"})
    wait_until(lambda: jobs.processed("count_proposal") == 2)
    assert jobs.call("get_job", None, job_id=job_id)["proposal_count"] == 2
    jobs.deliver(
        "bidding",
        "ListingProposalWithdrawn",
        {
            "job_id": job_id,
            "proposal_id": "proposal-1",
            "freelancer_id": "freelancer-1",
            "withdrawn_at": AT,
        },
    )
    wait_until(lambda: jobs.processed("uncount_proposal") == 1)
    assert jobs.call("get_job", None, job_id=job_id)["proposal_count"] == 1
    assert jobs.scalar("SELECT proposal_count FROM job_search WHERE job_id = %s", (job_id,)) == 1


def test_client_stats_come_from_identity_and_escrow_events(jobs):
    job_id = create(jobs)
    jobs.deliver(
        "identity",
        "PaymentMethodVerified",
        {"user_id": "client-1", "provider_reference": "pm_1", "verified_at": AT, "by": "client-1"},
    )
    released = {
        "contract_id": "contract-1",
        "client_id": "client-1",
        "freelancer_id": "freelancer-1",
        "milestone_id": "m-1",
        "payment_id": "pay-1",
        "gross": usd(50_000),
        "net": usd(45_000),
        "fee": usd(5_000),
        "automatic": False,
        "released_at": AT,
        "security_period_seconds": 432000,
        "available_at": AT,
    }
    jobs.deliver("escrow", "MilestoneReleased", released)
    jobs.deliver(
        "escrow",
        "BonusPaid",
        {
            "contract_id": "contract-1",
            "client_id": "client-1",
            "freelancer_id": "freelancer-1",
            "bonus_id": "b-1",
            # as escrow composes it: ``bonus:<contract id>:<bonus id>``, longer than 64
            "payment_id": f"bonus:{'0' * 36}:{'1' * 36}",
            "amount": usd(2_500),
            "client_fee": usd(75),
            "net": usd(2_250),
            "fee": usd(250),
            "reason": "Great work",
            "paid_at": AT,
            "security_period_seconds": 432000,
            "available_at": AT,
        },
    )
    wait_until(lambda: jobs.scalar("SELECT count(*) FROM processed_events") == 3)
    client = jobs.call("get_job", None, job_id=job_id)["client"]
    assert client["payment_verified"] is True and client["jobs_posted"] == 1
    assert client["total_spent"] == [usd(52_500)]
    verified = jobs.call("search_jobs", None, payment_verified=True)
    assert [i["job_id"] for i in verified["items"]] == [job_id]


def test_a_suspended_clients_jobs_leave_search_until_reinstated(jobs):
    job_id = create(jobs)
    suspension = {"user_id": "client-1", "reason": "fraud", "by": "operator-1"}
    jobs.deliver("identity", "UserSuspended", {**suspension, "suspended_at": AT})
    wait_until(lambda: jobs.call("search_jobs", None)["total"] == 0)
    wait_until(lambda: jobs.scalar("SELECT count(*) FROM suspended_users") == 1)
    with pytest.raises(NotAuthenticated):  # and their token is refused
        jobs.call("create_job", CLIENT, **job_details())
    jobs.deliver("identity", "UserReinstated", {**suspension, "reinstated_at": AT})
    wait_until(lambda: jobs.call("search_jobs", None)["total"] == 1)
    assert jobs.call("search_jobs", None)["items"][0]["job_id"] == job_id


def test_an_event_of_the_wrong_shape_is_parked_at_once_and_writes_nothing(jobs):
    job_id = create(jobs)
    before = jobs.log_length()
    jobs.deliver("escrow", "ContractOpened", contract_opened(job_id, surprise="field"))
    wait_until(lambda: jobs.scalar("SELECT count(*) FROM dead_letters") == 1)
    (letter,) = list_dead_letters(jobs.dsn)
    assert letter["consumer"] == "jobs.fill_job" and "malformed event" in letter["error"]
    assert jobs.log_length() == before
    assert jobs.call("get_job", CLIENT, job_id=job_id)["status"] == "open"


def test_best_matches_follow_the_freelancers_published_profile(jobs):
    python_job = create(jobs, skills=["Python", "Django"])
    create(jobs, title="Design a mobile app in Figma", skills=["Figma"])
    react_job = create(jobs, title="React dashboard for sales", skills=["React", "Python"])
    assert jobs.call("recommend_jobs", FREELANCER) == []
    jobs.deliver(
        "identity",
        "ProfileUpdated",
        {
            "user_id": "freelancer-1",
            "profile": {
                "display_name": "Fran",
                "visibility": "public",
                "freelancer": {
                    "title": "Backend dev",
                    "hourly_rate": usd(4000),
                    "skills": ["Python", "Django"],
                },
                "client": None,
            },
            "changed": ["freelancer.skills"],
            "updated_at": AT,
            "by": "freelancer-1",
        },
    )
    wait_until(lambda: jobs.processed("note_freelancer_profile") == 1)
    matches = jobs.call("recommend_jobs", FREELANCER, limit=10)
    assert [m["job_id"] for m in matches] == [python_job, react_job]
    best = matches[0]
    assert {r["factor"] for r in best["reasons"]} == {"skills", "rate", "experience", "recency"}
    assert best["score"] == sum(r["points"] for r in best["reasons"])
    assert best["reasons"][0]["points"] == 50


def client_rating(centi, count, at) -> dict:
    return {
        "client_id": "client-1",
        "average_rating_centi": centi,
        "rating_count": count,
        "updated_at": at.isoformat(),
    }


def test_the_clients_rating_from_reputation_shows_on_each_of_their_jobs(jobs):
    open_job = create(jobs)
    draft = create(jobs, publish=False, title="Second job for the same client")
    first = jobs.deliver("reputation", "ClientRatingUpdated", client_rating(500, 1, T0))
    jobs.deliver("reputation", "ClientRatingUpdated", client_rating(500, 1, T0), event_id=first)
    later = T0 + timedelta(hours=2)
    jobs.deliver("reputation", "ClientRatingUpdated", client_rating(450, 2, later))
    wait_until(lambda: jobs.processed("note_client_rating") == 2)
    # an older figure delivered late (a retry) does not overwrite the newer one
    jobs.deliver(
        "reputation", "ClientRatingUpdated", client_rating(480, 1, T0 + timedelta(hours=1))
    )
    wait_until(lambda: jobs.processed("note_client_rating") == 3)
    jobs.wait_idle()

    noted = jobs.event_types("member-client-1")
    assert noted.count("ClientRatingNoted") == 2  # the duplicate and the stale one: nothing
    for job_id in (open_job, draft):
        client = jobs.call("get_job", CLIENT, job_id=job_id)["client"]
        assert (client["average_rating_centi"], client["rating_count"]) == (450, 2)
    rows = jobs.rows(
        "SELECT job_id, client_rating_centi, client_rating_count FROM job_search ORDER BY job_id"
    )
    assert rows == sorted([(open_job, 450, 2), (draft, 450, 2)])
    cards = jobs.call("list_my_jobs", CLIENT)["items"]
    assert {(c["client"]["average_rating_centi"], c["client"]["rating_count"]) for c in cards} == {
        (450, 2)
    }
    # a job posted afterwards starts with the client's current rating
    newer = create(jobs, title="Third job for the same client")
    assert jobs.call("get_job", None, job_id=newer)["client"]["average_rating_centi"] == 450
    assert (
        jobs.scalar("SELECT client_rating_centi FROM job_search WHERE job_id = %s", (newer,)) == 450
    )


def test_a_client_rating_of_the_wrong_shape_is_parked(jobs):
    create(jobs)
    before = jobs.log_length()
    jobs.deliver("reputation", "ClientRatingUpdated", {**client_rating(450, 2, T0), "average": 4.5})
    wait_until(lambda: jobs.scalar("SELECT count(*) FROM dead_letters") == 1)
    (letter,) = list_dead_letters(jobs.dsn)
    assert letter["consumer"] == "jobs.note_client_rating"
    assert jobs.log_length() == before


def test_a_fact_that_changes_no_searched_column_leaves_the_clients_rows_alone(jobs):
    """Money spent changes the client's stats but none of the client columns copied into
    every one of the client's search rows; those rows are not rewritten for it. A hire
    changes one of them (the hire count), and every row of the client follows."""
    jobs_of_client = [create(jobs), create(jobs)]

    def row_versions() -> dict[str, str]:
        return dict(
            jobs.rows(
                "SELECT job_id, xmin::text FROM job_search WHERE job_id = ANY(%s)",
                (jobs_of_client,),
            )
        )

    before = row_versions()
    released = {
        "contract_id": "contract-9",
        "client_id": "client-1",
        "freelancer_id": "freelancer-1",
        "milestone_id": "m-9",
        "payment_id": "pay-9",
        "gross": usd(10_000),
        "net": usd(9_000),
        "fee": usd(1_000),
        "automatic": False,
        "released_at": AT,
        "security_period_seconds": 432000,
        "available_at": AT,
    }
    jobs.deliver("escrow", "MilestoneReleased", released)
    wait_until(lambda: jobs.processed("note_milestone_spend") == 1)
    assert jobs.call("get_job", None, job_id=jobs_of_client[1])["client"]["total_spent"] == [
        usd(10_000)
    ]
    assert row_versions() == before

    jobs.deliver("escrow", "ContractOpened", contract_opened(jobs_of_client[0]))
    wait_until(lambda: jobs.processed("fill_job") == 1)
    after = row_versions()
    assert all(after[job] != before[job] for job in jobs_of_client)
    hires = jobs.rows(
        "SELECT client_total_hires FROM job_search WHERE job_id = ANY(%s)", (jobs_of_client,)
    )
    assert [h for (h,) in hires] == [1, 1]
