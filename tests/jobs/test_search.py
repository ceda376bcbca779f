"""Search, pagination and saved searches on the real read model."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.clock import iso, manual_clock
from shared.errors import NotFound, ValidationError
from tests.jobs.conftest import (
    CLIENT,
    FREELANCER,
    FREELANCER_2,
    OTHER_CLIENT,
    T0,
    create,
    usd,
    wait_until,
)

FILLER = "Plenty of detail about the work so that the description is long enough to post."


def ids(result) -> list[str]:
    return [item["job_id"] for item in result["items"]]


def post(jobs, minutes: int, as_=CLIENT, **overrides) -> str:
    manual_clock.set(T0 + timedelta(minutes=minutes))
    return create(jobs, as_=as_, **overrides)


def test_keywords_rank_title_above_skills_above_description(jobs):
    in_description = post(
        jobs,
        1,
        title="Backend services for a shop",
        skills=["Go"],
        description=f"Kubernetes. {FILLER}",
    )
    in_title = post(jobs, 2, title="Kubernetes cluster upgrade", skills=["Go"], description=FILLER)
    in_skills = post(
        jobs, 3, title="Platform engineering help", skills=["Kubernetes"], description=FILLER
    )
    post(jobs, 4, title="Logo for a bakery chain", skills=["Figma"], description=FILLER)

    found = jobs.call("search_jobs", None, keywords="kubernetes")
    assert ids(found) == [in_title, in_skills, in_description]
    assert found["total"] == 3 and found["sort"] == "relevance"
    ranks = [item["rank"] for item in found["items"]]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[1] > ranks[2]
    newest = jobs.call("search_jobs", None, keywords="kubernetes", sort="newest")
    assert ids(newest) == [in_skills, in_title, in_description]


def test_every_filter_narrows_the_results(jobs):
    base = post(jobs, 1)  # hourly 25-60 USD, intermediate, 1-3 months, <30 h, public
    fixed = post(
        jobs,
        2,
        category="design-creative",
        subcategory="graphic-design",
        skills=["Figma"],
        experience_level="expert",
        project_length="less_than_1_month",
        hours_per_week=None,
        budget={"type": "fixed", "amount": usd(300_000)},
        contract_to_hire=True,
    )
    other_client = post(
        jobs, 3, as_=OTHER_CLIENT, experience_level="entry", hours_per_week="more_than_30"
    )
    jobs.deliver(
        "escrow",
        "ContractOpened",
        {
            "contract_id": "c-1",
            "offer_id": "o-1",
            "proposal_id": None,
            "job_id": None,
            "client_id": "client-2",
            "freelancer_id": "freelancer-1",
            "kind": "fixed",
            "currency": "USD",
            "start_date": None,
            "fees": {},
            "hourly_rate": None,
            "weekly_limit_hours": None,
            "manual_time_allowed": False,
            "opened_at": iso(T0),
        },
    )
    for n in range(6):
        jobs.deliver(
            "bidding",
            "ListingProposalEntered",
            {
                "job_id": base,
                "proposal_id": f"p-{n}",
                "freelancer_id": f"f-{n}",
                "boost": 0,
                "spend_id": None,
                "invited": False,
                "entered_at": iso(T0),
            },
        )
    wait_until(lambda: jobs.scalar("SELECT count(*) FROM processed_events") == 7)

    def search(**filters):
        return set(ids(jobs.call("search_jobs", FREELANCER, **filters)))

    assert search() == {base, fixed, other_client}
    assert search(category="design-creative") == {fixed}
    assert search(category="web-mobile-software-dev", subcategory="web-development") == {
        base,
        other_client,
    }
    assert search(skills=["Figma", "Go"]) == {fixed}
    assert search(experience_levels=["entry", "expert"]) == {fixed, other_client}
    assert search(job_type="fixed") == {fixed}
    assert search(job_type="hourly") == {base, other_client}
    assert search(budget_min=usd(7000)) == {fixed}
    assert search(budget_max=usd(2000)) == set()
    assert search(budget_min=usd(3000), budget_max=usd(4000)) == {base, other_client}
    assert search(budget_min=usd(3000), budget_max=usd(4000)) == {base, other_client}
    assert search(budget_min={"amount": 3000, "currency": "EUR"}) == set()
    assert search(project_lengths=["less_than_1_month"]) == {fixed}
    assert search(hours_per_week=["more_than_30"]) == {other_client}
    assert search(proposal_bands=["5_to_10"]) == {base}
    assert search(proposal_bands=["less_than_5"]) == {fixed, other_client}
    assert search(client_history=["no_hires"]) == {base, fixed}
    assert search(client_history=["1_to_9_hires"]) == {other_client}
    assert search(client_history=["10_plus_hires"]) == set()
    assert search(payment_verified=False) == {base, fixed, other_client}
    assert search(contract_to_hire=True) == {fixed}
    assert search(posted_since=iso(T0 + timedelta(minutes=2))) == {fixed, other_client}


def test_pages_have_no_duplicates_or_gaps_while_new_jobs_are_posted(jobs):
    for m in range(1, 24):
        post(jobs, m, title=f"Python scraper number {m:02d}")
    minute = 100
    for sort, keywords in (("newest", None), ("relevance", "python scraper")):
        existing = {r[0] for r in jobs.rows("SELECT job_id FROM job_search")}
        seen: list[str] = []
        cursor = None
        while True:
            page = jobs.call(
                "search_jobs", None, keywords=keywords, sort=sort, limit=5, cursor=cursor
            )
            assert page["items"] and len(page["items"]) <= 5
            seen += ids(page)
            minute += 1
            post(jobs, minute, title=f"Python scraper posted later {minute}")
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen))  # no duplicates
        assert existing <= set(seen)  # no gaps
        if sort == "newest":  # later jobs are newer than the first page: never seen
            assert set(seen) == existing


def test_a_cursor_only_continues_its_own_search(jobs):
    for m in range(1, 4):
        post(jobs, m)
    page = jobs.call("search_jobs", None, limit=1)
    with pytest.raises(ValidationError) as raised:
        jobs.call("search_jobs", None, limit=1, job_type="fixed", cursor=page["next_cursor"])
    assert "cursor" in raised.value.fields
    with pytest.raises(ValidationError):
        jobs.call("search_jobs", None, cursor=page["next_cursor"][:-2] + "xx")


def test_saved_searches_belong_to_their_user(jobs):
    saved = jobs.call(
        "save_search",
        FREELANCER,
        name="Python gigs",
        query={"keywords": "python", "budget_min": usd(3000), "skills": ["Python"]},
    )
    assert saved["query"] == {
        "keywords": "python",
        "budget_min": usd(3000),
        "skills": ["Python"],
    }
    assert jobs.call("list_saved_searches", FREELANCER) == [saved]
    assert jobs.call("list_saved_searches", FREELANCER_2) == []
    with pytest.raises(NotFound):
        jobs.call("delete_saved_search", FREELANCER_2, search_id=saved["search_id"])
    # a saved query runs again as a search
    post(
        jobs,
        1,
        title="Python data pipeline",
        budget={"type": "hourly", "min": usd(3500), "max": usd(5000)},
    )
    assert jobs.call("search_jobs", FREELANCER, **saved["query"])["total"] == 1
    jobs.call("delete_saved_search", FREELANCER, search_id=saved["search_id"])
    assert jobs.call("list_saved_searches", FREELANCER) == []


def test_a_client_lists_their_own_jobs_drafts_included(jobs):
    draft = post(jobs, 1, publish=False)
    opened = [post(jobs, m) for m in (2, 3)]
    post(jobs, 4, as_=OTHER_CLIENT)
    page = jobs.call("list_my_jobs", CLIENT, limit=2)
    rest = jobs.call("list_my_jobs", CLIENT, limit=2, cursor=page["next_cursor"])
    assert ids(page) + ids(rest) == [opened[1], opened[0], draft]
    assert rest["next_cursor"] is None
    assert ids(jobs.call("list_my_jobs", CLIENT, status="draft")) == [draft]


def test_the_total_is_exact_up_to_the_cap_then_an_estimate(jobs, monkeypatch):
    # The cap is 1,000 in production; a small one here makes the same code path cheap.
    monkeypatch.setitem(jobs.container.config, "SEARCH_COUNT_CAP", 3)
    for m in range(1, 4):
        post(jobs, m, title=f"Rust parser number {m}")
    exact = jobs.call("search_jobs", None, keywords="rust")
    assert exact["total"] == 3 and exact["total_is_estimate"] is False
    for m in range(4, 7):
        post(jobs, m, title=f"Rust parser number {m}")
    post(jobs, 7, title="Logo for a bakery chain", skills=["Figma"])
    capped = jobs.call("search_jobs", None, keywords="rust", limit=2)
    # more than the cap: an estimate, never below what was counted (cap + 1)
    assert capped["total_is_estimate"] is True and capped["total"] >= 4
    assert len(capped["items"]) == 2 and capped["next_cursor"]
    # every match is still reachable page by page
    seen, cursor = [], None
    while True:
        page = jobs.call("search_jobs", None, keywords="rust", limit=2, cursor=cursor)
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6
    # the default cap is 1,000
    monkeypatch.delitem(jobs.container.config, "SEARCH_COUNT_CAP")
    assert jobs.call("search_jobs", None, keywords="rust")["total_is_estimate"] is False


def test_the_searchable_rows_follow_every_change_of_a_job_and_its_client(jobs):
    def searchable() -> set[str]:
        return {r[0] for r in jobs.rows("SELECT job_id FROM job_search_open")}

    draft = post(jobs, 1, publish=False)
    opened = post(jobs, 2)
    other = post(jobs, 3, as_=OTHER_CLIENT)
    assert searchable() == {opened, other}
    jobs.call("publish_job", CLIENT, job_id=draft)
    jobs.call("update_job", CLIENT, job_id=draft, changes={"title": "Elixir migration help"})
    assert searchable() == {draft, opened, other}
    assert ids(jobs.call("search_jobs", None, keywords="elixir")) == [draft]
    jobs.call("close_job", CLIENT, job_id=opened, reason="cancelled")
    assert searchable() == {draft, other}
    jobs.deliver(
        "identity",
        "UserSuspended",
        {"user_id": "client-2", "reason": "fraud", "by": "operator-1", "suspended_at": iso(T0)},
    )
    wait_until(lambda: searchable() == {draft})
    jobs.deliver(
        "identity",
        "UserReinstated",
        {"user_id": "client-2", "reason": "fraud", "by": "operator-1", "reinstated_at": iso(T0)},
    )
    wait_until(lambda: searchable() == {draft, other})
    assert set(ids(jobs.call("search_jobs", None))) == {draft, other}


def test_the_short_walk_the_long_walk_and_the_index_find_the_same_newest_matches(jobs, monkeypatch):
    # Walks shrunk to 3 and 12 rows so that 24 jobs reach every branch of _newest_first:
    # "haskell" fills the 3 newest rows (the short walk is enough), "elixir" has one match
    # there and three in the 12 newest (the long walk), "cobol" only in the oldest (the
    # plain query). Pages of 2 ask for 3 rows each time.
    from services.jobs import search as search_module

    titles = {24: "Haskell tooling", 23: "Haskell and Elixir bridge", 22: "Haskell service"}
    titles |= {21: "Haskell port", 19: "Elixir service", 15: "Elixir jobs", 11: "Elixir app"}
    titles |= {2: "COBOL batch", 1: "COBOL report"}
    posted = {
        m: post(jobs, m, title=titles.get(m, f"Logo for a bakery, variant {m}"))
        for m in range(1, 25)
    }
    expected = {
        "haskell": [posted[m] for m in (24, 23, 22, 21)],
        "elixir": [posted[m] for m in (23, 19, 15, 11)],
        "cobol": [posted[m] for m in (2, 1)],
    }

    def every_page(keywords: str) -> list[str]:
        seen, cursor = [], None
        while True:
            page = jobs.call(
                "search_jobs", None, keywords=keywords, sort="newest", limit=2, cursor=cursor
            )
            seen += ids(page)
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    found_with_default_walks = {keywords: every_page(keywords) for keywords in expected}
    assert found_with_default_walks == expected
    monkeypatch.setattr(search_module, "WALK_ROWS", 3)
    monkeypatch.setattr(search_module, "LONG_WALK_ROWS", 12)
    for keywords, wanted in expected.items():
        assert every_page(keywords) == wanted
        relevance = jobs.call("search_jobs", None, keywords=keywords)
        assert sorted(ids(relevance)) == sorted(wanted) and relevance["total"] == len(wanted)
