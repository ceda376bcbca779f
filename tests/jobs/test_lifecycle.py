"""Job posts through the real service: lifecycle, owner-only edits, bad input, idempotency."""

from __future__ import annotations

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from shared.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationError
from tests.jobs.conftest import (
    CLIENT,
    FREELANCER,
    OPERATOR,
    OTHER_CLIENT,
    create,
    job_details,
    usd,
)


def test_draft_publish_edit_and_close_are_events_in_the_jobs_history(jobs):
    job_id = create(jobs, publish=False)
    assert jobs.call("get_job", CLIENT, job_id=job_id)["status"] == "draft"
    with pytest.raises(NotFound):  # a draft is its owner's only
        jobs.call("get_job", FREELANCER, job_id=job_id)

    opened = jobs.call("publish_job", CLIENT, job_id=job_id)
    assert opened["status"] == "open" and opened["expires_at"] == "2026-04-01T09:00:00+00:00"
    jobs.call("update_job", CLIENT, job_id=job_id, changes={"title": "Build a Django booking app"})
    seen = jobs.call("get_job", None, job_id=job_id)  # public: anyone
    assert seen["title"] == "Build a Django booking app" and "invitations" not in seen

    closed = jobs.call("close_job", CLIENT, job_id=job_id, reason="no_hire", note="found in-house")
    assert closed == {**closed, "status": "closed", "close_reason": "no_hire", "expires_at": None}
    with pytest.raises(Conflict):
        jobs.call("update_job", CLIENT, job_id=job_id, changes={"title": "Too late to change it"})

    assert jobs.event_types(f"job-{job_id}") == [
        "JobCreated",
        "JobPublished",
        "JobUpdated",
        "JobClosed",
    ]
    history = jobs.call("job_history", CLIENT, job_id=job_id)
    edit = history[2]
    assert edit["changes"] == {
        "title": {"from": "Build a Django booking site", "to": "Build a Django booking app"}
    }
    assert edit["by"] == "client-1"
    row = jobs.rows(
        "SELECT status, close_reason, title FROM job_search WHERE job_id = %s", (job_id,)
    )
    assert row == [("closed", "no_hire", "Build a Django booking app")]


def test_only_the_owner_edits_publishes_or_closes_and_only_clients_post(jobs):
    job_id = create(jobs, publish=False)
    before = jobs.log_length()
    with pytest.raises(Forbidden):
        jobs.call(
            "update_job", OTHER_CLIENT, job_id=job_id, changes={"title": "Hijacked job title"}
        )
    with pytest.raises(Forbidden):
        jobs.call("publish_job", OTHER_CLIENT, job_id=job_id)
    with pytest.raises(Forbidden):
        jobs.call("close_job", FREELANCER, job_id=job_id, reason="cancelled")
    with pytest.raises(Forbidden):
        jobs.call("create_job", FREELANCER, **job_details())
    with pytest.raises(NotAuthenticated):
        jobs.call("create_job", None, **job_details())
    with pytest.raises(NotAuthenticated):
        jobs.call("update_job", None, job_id=job_id, changes={"title": "Anonymous job title"})
    assert jobs.log_length() == before
    # an operator may close (moderation)
    jobs.call("close_job", OPERATOR, job_id=job_id, reason="cancelled")
    assert jobs.event_types(f"job-{job_id}")[-1] == "JobClosed"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"budget": {"type": "hourly", "min": usd(9000), "max": usd(5000)}}, "budget"),
        ({"category": "astrology"}, "category"),
        ({"title": "x" * 100_000}, "title"),
        ({"skills": ["Python", "Underwater basket weaving"]}, "skills"),
        ({"hours_per_week": None}, "hours_per_week"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_job_input_is_a_validation_error_naming_the_field_and_writes_nothing(
    jobs, overrides, field
):
    before = jobs.log_length()
    with pytest.raises(ValidationError) as raised:
        jobs.call("create_job", CLIENT, **job_details(**overrides))
    assert field in raised.value.fields
    assert jobs.log_length() == before
    assert jobs.scalar("SELECT count(*) FROM job_search") == 0


def test_a_bad_edit_is_refused_whole_and_writes_nothing(jobs):
    job_id = create(jobs)
    before = jobs.log_length()
    with pytest.raises(ValidationError) as raised:
        jobs.call(
            "update_job",
            CLIENT,
            job_id=job_id,
            changes={
                "title": "A perfectly fine new title",
                "budget": {"type": "hourly", "min": usd(9000), "max": usd(5000)},
            },
        )
    assert "changes" in raised.value.fields
    with pytest.raises(ValidationError) as raised:
        jobs.call("update_job", CLIENT, job_id=job_id, changes={"subcategory": "astrology"})
    assert "subcategory" in raised.value.fields
    assert jobs.log_length() == before
    assert jobs.call("get_job", None, job_id=job_id)["title"] == "Build a Django booking site"


def test_sql_in_the_keywords_is_refused_clearly(jobs):
    create(jobs)
    with pytest.raises(ValidationError) as raised:
        jobs.call("search_jobs", None, keywords="django'; DROP TABLE job_search; --")
    assert "keywords" in raised.value.fields
    assert jobs.scalar("SELECT count(*) FROM job_search") == 1


def test_typed_errors_cross_real_rpc(jobs, rabbit_config):
    context = jobs.mint.context(*CLIENT)
    with ServiceRpcProxy("jobs", rabbit_config, context_data=context) as proxy:
        with pytest.raises(ValidationError) as raised:
            proxy.create_job(**job_details(category="astrology"))
        assert "category" in raised.value.fields
        created = proxy.create_job(**job_details())
        with pytest.raises(NotFound):
            proxy.get_job(job_id="no-such-job")
    assert created["status"] == "draft"


def test_an_idempotency_key_replays_the_first_result_and_refuses_other_arguments(jobs):
    first = jobs.call("create_job", CLIENT, idempotency_key="k-1", publish=True, **job_details())
    again = jobs.call("create_job", CLIENT, idempotency_key="k-1", publish=True, **job_details())
    assert again == first
    assert jobs.scalar("SELECT count(*) FROM events WHERE type = 'JobCreated'") == 1
    with pytest.raises(Conflict):
        jobs.call(
            "create_job",
            CLIENT,
            idempotency_key="k-1",
            publish=True,
            **job_details(title="Another job entirely, same key"),
        )
    # the key belongs to its caller: another client's same key is a new command
    other = jobs.call(
        "create_job", OTHER_CLIENT, idempotency_key="k-1", publish=True, **job_details()
    )
    assert other["job_id"] != first["job_id"]
    assert jobs.scalar("SELECT count(*) FROM events WHERE type = 'JobCreated'") == 2


def test_categories_are_listed_for_anyone(jobs):
    categories = jobs.call("list_categories", None)
    assert "web-development" in categories["web-mobile-software-dev"]["subcategories"]
