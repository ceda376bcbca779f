"""The search query builder and keyset cursors."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.jobs.domain import Actor
from services.jobs.schemas import SearchJobsSchema
from services.jobs.search import (
    CandidateWindow,
    CursorPosition,
    build_search,
    capped_total,
    decode_cursor,
    encode_cursor,
    estimated_rows,
    page_result,
)
from shared.errors import ValidationError
from shared.schemas import load
from tests.unit.jobs.helpers import FREELANCER, OPERATOR

SECRET = b"test-cursor-secret"
WHEN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NEWEST = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
OLDEST = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
WINDOW = CandidateWindow(NEWEST, "job-z", OLDEST, "job-a")


def search(**data) -> dict:
    return load(SearchJobsSchema(), data)


def assert_well_formed(query) -> None:
    assert query.text.count("%s") == len(query.params)


def newest_first_params(walk: list, plain: list, n: int) -> list:
    """What _newest_first binds: the short and the long walk (each ``walk`` + n), the gates
    (enough; not enough, promising: a quarter of n found, long walk enough), the plain query
    (``plain`` + n) and its gates."""
    quarter = -(-n // 4)
    return [*walk, n, *walk, n, n, n, quarter, n, *plain, n, n, quarter, n]


def test_anonymous_newest_first_sees_only_public_open_jobs_of_active_clients():
    plan = build_search(search(), None)
    assert plan.sort == "newest" and plan.limit == 20
    # job_search_open holds only open jobs of clients who are not suspended
    assert "FROM job_search_open AS j WHERE j.visibility = 'public'" in plan.page.text
    assert "ORDER BY j.published_at DESC, j.job_id DESC LIMIT %s" in plan.page.text
    # the page's rows are joined to the wide rows for their cards, in the same order
    assert "JOIN job_search AS card ON card.job_id = p.job_id" in plan.page.text
    assert plan.page.text.endswith("ORDER BY p.published_at DESC, p.job_id DESC")
    assert plan.page.params == (21,)  # one more than the page, to know if more follow
    # the total counts up to 1,001 matches, first among the newest rows (see _newest_first)
    assert plan.count.text.startswith(
        "SELECT count(*) FROM (WITH walked AS MATERIALIZED (SELECT 1 FROM (SELECT * FROM"
        " job_search_open AS j ORDER BY j.published_at DESC, j.job_id DESC LIMIT 10000) AS j"
        " WHERE j.visibility = 'public' ORDER BY j.published_at DESC, j.job_id DESC LIMIT %s)"
    )
    assert list(plan.count.params) == newest_first_params([], [], 1001)
    # a longer walk when the short one found at least a quarter of what it needs
    assert (
        " longer AS MATERIALIZED (SELECT 1 FROM (SELECT * FROM job_search_open AS j ORDER BY"
        " j.published_at DESC, j.job_id DESC LIMIT 40000) AS j" in plan.count.text
    )
    assert plan.estimate.text == (
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM job_search_open AS j WHERE j.visibility = 'public'"
    )


def test_signed_in_viewers_also_see_signed_in_jobs_and_their_invitations():
    plan = build_search(search(), FREELANCER)
    assert "j.visibility IN ('public', 'signed_in')" in plan.page.text
    assert "%s = ANY(j.invitees)" in plan.page.text
    assert plan.page.params[0] == "freelancer-1"
    assert_well_formed(plan.page)


def test_staff_see_every_open_job():
    plan = build_search(search(), OPERATOR)
    assert "j.visibility" not in plan.page.text and "j.visibility" not in plan.count.text


def test_keywords_rank_by_weighted_relevance_and_bind_the_text():
    plan = build_search(search(keywords="django booking"), None)
    assert plan.sort == "relevance"
    assert "CROSS JOIN websearch_to_tsquery('english', %s) AS q" in plan.page.text
    assert "j.document @@ q" in plan.page.text
    # the 200 newest matches are the candidates (a walk first, the GIN index if it finds
    # too few); only they are ranked
    assert "WITH walked AS MATERIALIZED (" in plan.page.text
    assert "ts_rank('{0.1, 0.2, 0.4, 1.0}', c.document, c.q)" in plan.page.text
    assert "ORDER BY r.rank DESC, r.published_at DESC, r.job_id DESC LIMIT %s" in plan.page.text
    words = "django booking"
    assert list(plan.page.params) == [*newest_first_params([words], [words], 200), 21]
    assert plan.count.text == (
        "SELECT count(*) FROM (SELECT 1 FROM job_search_open AS j CROSS JOIN"
        " websearch_to_tsquery('english', %s) AS q WHERE j.document @@ q"
        " AND j.visibility = 'public' LIMIT %s) AS capped"
    )
    assert plan.count.params == ("django booking", 1001)
    assert "django" not in plan.page.text


def test_keywords_with_newest_sort():
    plan = build_search(search(keywords="django", sort="newest"), None)
    assert "ORDER BY j.published_at DESC" in plan.page.text
    assert "j.document @@ q" in plan.page.text


FILTER_CASES = [
    ({"category": "writing"}, "j.category = %s", ["writing"]),
    (
        {"category": "writing", "subcategory": "copywriting"},
        "j.subcategory = %s",
        ["writing", "copywriting"],
    ),
    ({"skills": ["Python", "Go"]}, "j.skills && %s::text[]", [["Python", "Go"]]),
    (
        {"experience_levels": ["entry", "expert"]},
        "j.experience_level = ANY(%s::text[])",
        [["entry", "expert"]],
    ),
    ({"job_type": "fixed"}, "j.job_type = %s", ["fixed"]),
    (
        {"budget_min": {"amount": 1000, "currency": "USD"}},
        "j.budget_currency = %s AND j.budget_high >= %s",
        ["USD", 1000],
    ),
    (
        {"budget_max": {"amount": 9000, "currency": "EUR"}},
        "j.budget_currency = %s AND j.budget_low <= %s",
        ["EUR", 9000],
    ),
    (
        {
            "budget_min": {"amount": 1000, "currency": "USD"},
            "budget_max": {"amount": 9000, "currency": "USD"},
        },
        "j.budget_currency = %s AND j.budget_high >= %s AND j.budget_low <= %s",
        ["USD", 1000, 9000],
    ),
    (
        {"project_lengths": ["more_than_6_months"]},
        "j.project_length = ANY(%s::text[])",
        [["more_than_6_months"]],
    ),
    (
        {"hours_per_week": ["less_than_30"]},
        "j.hours_per_week = ANY(%s::text[])",
        [["less_than_30"]],
    ),
    (
        {"proposal_bands": ["less_than_5", "50_plus"]},
        "(j.proposal_count BETWEEN %s AND %s OR j.proposal_count >= %s)",
        [0, 4, 50],
    ),
    (
        {"client_history": ["no_hires", "10_plus_hires"]},
        "(j.client_total_hires BETWEEN %s AND %s OR j.client_total_hires >= %s)",
        [0, 0, 10],
    ),
    (
        {"client_history": ["1_to_9_hires"]},
        "(j.client_total_hires BETWEEN %s AND %s)",
        [1, 9],
    ),
    ({"payment_verified": True}, "j.client_payment_verified = %s", [True]),
    ({"payment_verified": False}, "j.client_payment_verified = %s", [False]),
    ({"contract_to_hire": True}, "j.contract_to_hire = %s", [True]),
    (
        {"posted_since": "2026-03-01T00:00:00Z"},
        "j.published_at >= %s",
        [datetime(2026, 3, 1, tzinfo=UTC)],
    ),
]


@pytest.mark.parametrize(("data", "clause", "values"), FILTER_CASES)
def test_each_filter_adds_its_clause_and_binds_its_values(data, clause, values):
    plan = build_search(search(**data), None)
    assert clause in plan.page.text and clause in plan.count.text
    assert clause in plan.estimate.text and list(plan.estimate.params) == values
    assert list(plan.page.params) == values + [21]
    # the count: the walk over the newest rows, then the plain query (see _newest_first)
    assert list(plan.count.params) == newest_first_params(values, values, 1001)
    keyword = build_search(search(keywords="go", **data), None)
    assert list(keyword.count.params) == ["go", *values, 1001]
    assert clause in keyword.page.text
    for query in (plan.page, plan.count, plan.estimate, keyword.page, keyword.count):
        assert_well_formed(query)


def test_all_filters_together_stay_well_formed():
    data = {}
    for case, _, _ in FILTER_CASES:
        data.update(case)
    plan = build_search(search(keywords="python", limit=5, **data), FREELANCER)
    after = CursorPosition(WHEN, "job-9", rank=1234, window=WINDOW)
    paged = build_search(search(keywords="python", limit=5, **data), FREELANCER, after)
    for query in (plan.page, plan.count, paged.page):
        assert_well_formed(query)
    assert paged.page.params[-4:] == (1234, WHEN, "job-9", 6)
    newest = build_search(search(keywords="python", limit=5, sort="newest", **data), FREELANCER)
    assert_well_formed(newest.page)


def test_keyset_condition_for_newest():
    plan = build_search(search(), None, CursorPosition(WHEN, "job-9"))
    assert "(j.published_at, j.job_id) < (%s, %s)" in plan.page.text
    assert plan.page.params == (WHEN, "job-9", 21)
    assert "<" not in plan.count.text  # the total ignores the page
    # with keywords the keyset bounds the walk over the newest rows, and the plain query
    words = build_search(search(keywords="go", sort="newest"), None, CursorPosition(WHEN, "job-9"))
    assert list(words.page.params) == newest_first_params(
        [WHEN, "job-9", "go"], ["go", WHEN, "job-9"], 21
    )


def test_keyset_condition_for_relevance_compares_the_integer_rank_within_the_window():
    after = CursorPosition(WHEN, "job-9", rank=77, window=WINDOW)
    plan = build_search(search(keywords="go"), None, after)
    assert "(r.rank, r.published_at, r.job_id) < (%s, %s, %s)" in plan.page.text
    # later pages rank the same candidates as the first: those between its newest and oldest
    assert (
        "(j.published_at, j.job_id) <= (%s, %s) AND (j.published_at, j.job_id) >= (%s, %s)"
        in plan.page.text
    )
    window = (NEWEST, "job-z", OLDEST, "job-a")
    assert list(plan.page.params) == [
        *newest_first_params([*window, "go"], ["go", *window], 200),
        77,
        WHEN,
        "job-9",
        21,
    ]
    assert plan.window == WINDOW
    assert "<" not in plan.count.text  # the total ignores the page and the window


# Text the schemas accept (they refuse NUL characters and lone surrogates).
user_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip())


@given(
    keywords=st.from_regex(r"[A-Za-z0-9 +#.\-'\"/&]{1,40}", fullmatch=True).filter(str.strip),
    category=user_text,
    subcategory=user_text,
    skills=st.lists(user_text, max_size=5, unique=True),
    viewer=user_text,
)
@settings(max_examples=150)
def test_user_text_never_reaches_the_sql(keywords, category, subcategory, skills, viewer):
    data = {
        "keywords": keywords,
        "category": category,
        "subcategory": subcategory,
        "skills": skills,
    }
    plan = build_search(search(**data), Actor(viewer))
    reference = build_search(
        search(
            keywords="k",
            category="c",
            subcategory="s",
            skills=["x"] if skills else [],
        ),
        Actor("v"),
    )
    # The text depends only on which filters are present, never on their values ...
    assert plan.page.text == reference.page.text
    assert plan.count.text == reference.count.text
    # ... and every value is bound as a parameter.
    assert keywords.strip() in plan.page.params and category in plan.page.params
    assert_well_formed(plan.page)


# --- cursors ------------------------------------------------------------------------------


def test_cursor_round_trips():
    filters = search(keywords="django", skills=["Python"])
    position = CursorPosition(WHEN, "job-1", rank=500_000, window=WINDOW)
    cursor = encode_cursor(position, "relevance", filters, SECRET)
    assert decode_cursor(cursor, "relevance", filters, SECRET) == position


def test_cursor_for_newest_has_no_rank():
    filters = search()
    cursor = encode_cursor(CursorPosition(WHEN, "job-1"), "newest", filters, SECRET)
    assert decode_cursor(cursor, "newest", filters, SECRET).rank is None


def test_a_cursor_from_another_search_or_sort_is_refused():
    filters = search(keywords="django")
    position = CursorPosition(WHEN, "job-1", 5, WINDOW)
    cursor = encode_cursor(position, "relevance", filters, SECRET)
    assert decode_cursor(cursor, "relevance", filters, SECRET) == position
    with pytest.raises(ValidationError, match="cursor"):
        decode_cursor(cursor, "relevance", search(keywords="flask"), SECRET)
    with pytest.raises(ValidationError):
        decode_cursor(cursor, "newest", filters, SECRET)


def test_a_relevance_cursor_needs_its_candidate_window():
    filters = search(keywords="django")
    cursor = encode_cursor(CursorPosition(WHEN, "job-1", 5), "relevance", filters, SECRET)
    with pytest.raises(ValidationError, match="cursor"):
        decode_cursor(cursor, "relevance", filters, SECRET)
    newest = encode_cursor(CursorPosition(WHEN, "job-1", None, WINDOW), "newest", search(), SECRET)
    with pytest.raises(ValidationError, match="cursor"):
        decode_cursor(newest, "newest", search(), SECRET)


def test_page_size_and_cursor_do_not_change_the_fingerprint():
    cursor = encode_cursor(CursorPosition(WHEN, "job-1"), "newest", search(limit=5), SECRET)
    assert decode_cursor(cursor, "newest", search(limit=50, cursor=cursor), SECRET)


def test_an_edited_cursor_is_refused():
    filters = search()
    cursor = encode_cursor(CursorPosition(WHEN, "job-1"), "newest", filters, SECRET)
    body, signature = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"][2] = "job-0"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(ValidationError):
        decode_cursor(f"{forged}.{signature}", "newest", filters, SECRET)
    with pytest.raises(ValidationError):
        decode_cursor(cursor, "newest", filters, b"another-secret")


@given(st.text(max_size=200))
@settings(max_examples=200)
def test_garbage_cursors_are_refused_cleanly(garbage):
    with pytest.raises(ValidationError) as caught:
        decode_cursor(garbage, "newest", search(), SECRET)
    assert "cursor" in caught.value.fields


def test_page_result_cuts_the_extra_row_into_a_cursor():
    filters = search(limit=2)
    plan = build_search(filters, None)
    rows = [{"job_id": f"job-{n}", "published_at": WHEN, "rank": None} for n in (3, 2, 1)]
    items, cursor = page_result(rows, plan, filters, SECRET)
    assert [r["job_id"] for r in items] == ["job-3", "job-2"]
    assert decode_cursor(cursor, "newest", filters, SECRET) == CursorPosition(WHEN, "job-2")
    last_items, last_cursor = page_result(rows[:2], plan, filters, SECRET)
    assert len(last_items) == 2 and last_cursor is None


def test_walking_pages_over_a_model_table_has_no_duplicates_or_gaps():
    # An in-memory stand-in for the SQL ordering, fed by the keyset positions the cursors carry.
    table = [
        {
            "job_id": f"job-{n:03d}",
            "published_at": datetime(2026, 3, 1 + n % 5, tzinfo=UTC),
            "rank": None,
        }
        for n in range(37)
    ]

    def fetch(after: CursorPosition | None, limit: int) -> list[dict]:
        ordered = sorted(table, key=lambda r: (r["published_at"], r["job_id"]), reverse=True)
        if after is not None:
            ordered = [
                r
                for r in ordered
                if (r["published_at"], r["job_id"]) < (after.published_at, after.job_id)
            ]
        return ordered[: limit + 1]

    filters = search(limit=5)
    plan = build_search(filters, None)
    seen, cursor = [], None
    while True:
        after = decode_cursor(cursor, "newest", filters, SECRET) if cursor else None
        items, cursor = page_result(fetch(after, plan.limit), plan, filters, SECRET)
        seen += [r["job_id"] for r in items]
        # A job posted mid-walk is newer than every cursor, so it never shifts later pages.
        table.append(
            {
                "job_id": f"new-{len(seen)}",
                "published_at": datetime(2026, 4, 1, tzinfo=UTC),
                "rank": None,
            }
        )
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"job-{n:03d}" for n in range(37))
    assert len(seen) == len(set(seen))


def test_my_jobs_lists_the_clients_own_jobs_newest_first():
    from services.jobs.search import build_my_jobs

    query = build_my_jobs("client-1", "draft", 10, CursorPosition(WHEN, "job-4"))
    assert query.text == (
        "SELECT j.job_id, j.created_at FROM job_search AS j WHERE j.client_id = %s AND "
        "j.status = %s AND (j.created_at, j.job_id) < (%s, %s) "
        "ORDER BY j.created_at DESC, j.job_id DESC LIMIT %s"
    )
    assert query.params == ("client-1", "draft", WHEN, "job-4", 11)
    assert build_my_jobs("client-1", None, 5).params == ("client-1", 6)


# --- the relevance window and the capped total ----------------------------------------------


def test_the_first_relevance_page_fixes_the_window_and_later_pages_keep_it():
    filters = search(keywords="go", limit=2)
    window_columns = {
        "newest_published_at": NEWEST,
        "newest_job_id": "job-z",
        "oldest_published_at": OLDEST,
        "oldest_job_id": "job-a",
    }
    rows = [
        {"job_id": f"job-{n}", "published_at": WHEN, "rank": 10 - n, **window_columns}
        for n in (1, 2, 3)
    ]
    items, cursor = page_result(rows, build_search(filters, None), filters, SECRET)
    after = decode_cursor(cursor, "relevance", filters, SECRET)
    assert after == CursorPosition(WHEN, "job-2", 8, WINDOW)
    # a later page reports the window of its own (smaller) candidate set; the cursor's stays
    later_rows = [{**r, "oldest_job_id": "job-q"} for r in rows]
    plan = build_search(filters, None, after)
    _, next_cursor = page_result(later_rows, plan, filters, SECRET)
    assert decode_cursor(next_cursor, "relevance", filters, SECRET).window == WINDOW


def test_the_total_is_exact_up_to_the_cap_and_an_estimate_beyond():
    plan = build_search(search(keywords="go"), None, count_cap=3)
    assert plan.count.text.endswith("LIMIT %s) AS capped") and plan.count.params == ("go", 4)
    assert capped_total(0, plan) == (0, False)
    assert capped_total(3, plan) == (3, False)
    assert capped_total(4, plan, estimate=25_000) == (25_000, True)
    # the planner may guess low: never report fewer than were counted
    assert capped_total(4, plan, estimate=2) == (4, True)
    assert build_search(search(), None).count_cap == 1000


def test_estimated_rows_reads_the_top_plan_node():
    explained = [{"Plan": {"Node Type": "Bitmap Heap Scan", "Plan Rows": 4321}}]
    assert estimated_rows(explained) == 4321
    assert estimated_rows(json.dumps(explained)) == 4321


def test_walking_relevance_pages_over_a_model_window_has_no_duplicates_or_gaps():
    # A stand-in for the SQL: candidates are the newest N matches (within the cursor's
    # window on later pages), ordered by rank; jobs posted mid-walk never enter the window.
    n_candidates = 12
    table = [
        {
            "job_id": f"job-{n:03d}",
            "published_at": datetime(2026, 3, 1 + n % 9, tzinfo=UTC),
            "rank": n * 7 % 5,
        }
        for n in range(30)
    ]

    def key(r):
        return (r["published_at"], r["job_id"])

    def fetch(after: CursorPosition | None, limit: int) -> list[dict]:
        candidates = sorted(table, key=key, reverse=True)
        if after is not None:
            w = after.window
            low, high = (
                (w.oldest_published_at, w.oldest_job_id),
                (
                    w.newest_published_at,
                    w.newest_job_id,
                ),
            )
            candidates = [r for r in candidates if low <= key(r) <= high]
        candidates = candidates[:n_candidates]
        newest, oldest = candidates[0], candidates[-1]
        ranked = sorted(candidates, key=lambda r: (r["rank"], *key(r)), reverse=True)
        if after is not None:
            ranked = [
                r
                for r in ranked
                if (r["rank"], *key(r)) < (after.rank, after.published_at, after.job_id)
            ]
        return [
            {
                **r,
                "newest_published_at": newest["published_at"],
                "newest_job_id": newest["job_id"],
                "oldest_published_at": oldest["published_at"],
                "oldest_job_id": oldest["job_id"],
            }
            for r in ranked[: limit + 1]
        ]

    first_candidates = {r["job_id"] for r in sorted(table, key=key, reverse=True)[:12]}
    filters = search(keywords="go", limit=5)
    seen, cursor = [], None
    while True:
        after = decode_cursor(cursor, "relevance", filters, SECRET) if cursor else None
        plan = build_search(filters, None, after)
        items, cursor = page_result(fetch(after, plan.limit), plan, filters, SECRET)
        seen += [r["job_id"] for r in items]
        table.append(
            {
                "job_id": f"new-{len(seen)}",
                "published_at": datetime(2026, 4, 1, tzinfo=UTC),
                "rank": 9,
            }
        )
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and set(seen) == first_candidates
