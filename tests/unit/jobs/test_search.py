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
    CursorPosition,
    build_search,
    decode_cursor,
    encode_cursor,
    page_result,
)
from shared.errors import ValidationError
from shared.schemas import load
from tests.unit.jobs.helpers import FREELANCER, OPERATOR

SECRET = b"test-cursor-secret"
WHEN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def search(**data) -> dict:
    return load(SearchJobsSchema(), data)


def assert_well_formed(query) -> None:
    assert query.text.count("%s") == len(query.params)


def test_anonymous_newest_first_sees_only_public_open_jobs_of_active_clients():
    plan = build_search(search(), None)
    assert plan.sort == "newest" and plan.limit == 20
    assert "j.status = 'open'" in plan.page.text
    assert "NOT j.client_suspended" in plan.page.text
    assert "j.visibility = 'public'" in plan.page.text
    assert plan.page.text.endswith("ORDER BY j.published_at DESC, j.job_id DESC LIMIT %s")
    assert plan.page.params == (21,)  # one more than the page, to know if more follow
    assert plan.count.text.startswith("SELECT count(*) FROM job_search AS j")
    assert plan.count.params == ()


def test_signed_in_viewers_also_see_signed_in_jobs_and_their_invitations():
    plan = build_search(search(), FREELANCER)
    assert "j.visibility IN ('public', 'signed_in')" in plan.page.text
    assert "%s = ANY(j.invitees)" in plan.page.text
    assert plan.page.params[0] == "freelancer-1"
    assert_well_formed(plan.page)


def test_staff_see_every_open_job():
    assert "visibility" not in build_search(search(), OPERATOR).page.text


def test_keywords_rank_by_weighted_relevance_and_bind_the_text():
    plan = build_search(search(keywords="django booking"), None)
    assert plan.sort == "relevance"
    assert "CROSS JOIN websearch_to_tsquery('english', %s) AS q" in plan.page.text
    assert "j.document @@ q" in plan.page.text
    assert "ts_rank('{0.1, 0.2, 0.4, 1.0}', j.document, q)" in plan.page.text
    assert "ORDER BY rank DESC, j.published_at DESC, j.job_id DESC" in plan.page.text
    assert plan.page.params[0] == "django booking"
    assert plan.count.params == ("django booking",)
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
    assert list(plan.count.params) == values
    assert list(plan.page.params) == values + [21]
    assert_well_formed(plan.page)
    assert_well_formed(plan.count)


def test_all_filters_together_stay_well_formed():
    data = {}
    for case, _, _ in FILTER_CASES:
        data.update(case)
    plan = build_search(search(keywords="python", limit=5, **data), FREELANCER)
    after = CursorPosition(WHEN, "job-9", rank=1234)
    paged = build_search(search(keywords="python", limit=5, **data), FREELANCER, after)
    for query in (plan.page, plan.count, paged.page):
        assert_well_formed(query)
    assert paged.page.params[-4:] == (1234, WHEN, "job-9", 6)


def test_keyset_condition_for_newest():
    plan = build_search(search(), None, CursorPosition(WHEN, "job-9"))
    assert "(j.published_at, j.job_id) < (%s, %s)" in plan.page.text
    assert plan.page.params == (WHEN, "job-9", 21)
    assert "<" not in plan.count.text  # the total ignores the page


def test_keyset_condition_for_relevance_compares_the_integer_rank():
    plan = build_search(search(keywords="go"), None, CursorPosition(WHEN, "job-9", rank=77))
    assert ")::bigint, j.published_at, j.job_id) < (%s, %s, %s)" in plan.page.text
    assert plan.page.params == ("go", 77, WHEN, "job-9", 21)


user_text = st.text(min_size=1, max_size=40).filter(lambda s: s.strip())


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
    position = CursorPosition(WHEN, "job-1", rank=500_000)
    cursor = encode_cursor(position, "relevance", filters, SECRET)
    assert decode_cursor(cursor, "relevance", filters, SECRET) == position


def test_cursor_for_newest_has_no_rank():
    filters = search()
    cursor = encode_cursor(CursorPosition(WHEN, "job-1"), "newest", filters, SECRET)
    assert decode_cursor(cursor, "newest", filters, SECRET).rank is None


def test_a_cursor_from_another_search_or_sort_is_refused():
    filters = search(keywords="django")
    cursor = encode_cursor(CursorPosition(WHEN, "job-1", 5), "relevance", filters, SECRET)
    with pytest.raises(ValidationError, match="cursor"):
        decode_cursor(cursor, "relevance", search(keywords="flask"), SECRET)
    with pytest.raises(ValidationError):
        decode_cursor(cursor, "newest", filters, SECRET)


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
