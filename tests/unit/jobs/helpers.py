"""Builders for the jobs unit tests: a clock origin, actors, details and given-histories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.jobs.domain import Actor, Job, SavedSearches
from services.jobs.settings import JobSettings
from services.jobs.taxonomy import default_taxonomy
from shared.money import Money

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
SETTINGS = JobSettings()
TAXONOMY = default_taxonomy()
SKILLS = ["Python", "Django", "PostgreSQL", "React", "TypeScript", "Figma", "SEO", "Go"]

CLIENT = Actor("client-1", frozenset({"client"}))
OTHER_CLIENT = Actor("client-2", frozenset({"client"}))
FREELANCER = Actor("freelancer-1", frozenset({"freelancer"}))
FREELANCER_2 = Actor("freelancer-2", frozenset({"freelancer"}))
OPERATOR = Actor("operator-1", frozenset({"operator"}))
AUDITOR = Actor("auditor-1", frozenset({"auditor"}))


def usd(amount: int) -> Money:
    return Money(amount, "USD")


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


def details(**overrides) -> dict:
    """Valid job details as the create schema loads them (Money objects in the budget)."""
    base = {
        "title": "Build a Django booking site",
        "description": "We need a booking site for a small chain of yoga studios, with payments.",
        "category": "web-mobile-software-dev",
        "subcategory": "web-development",
        "skills": ["python", "Django"],
        "experience_level": "intermediate",
        "project_length": "1_to_3_months",
        "hours_per_week": "less_than_30",
        "budget": {"type": "hourly", "min": usd(2500), "max": usd(6000)},
        "visibility": "public",
        "screening_questions": ["Which booking systems have you built?"],
        "attachments": [{"file_id": "file-1", "name": "brief.pdf"}],
        "contract_to_hire": False,
    }
    base.update(overrides)
    return base


@dataclass(frozen=True)
class Stored:
    """An event as the store hands it back."""

    type: str
    data: dict
    version: int


def history(agg) -> list[Stored]:
    """Take the aggregate's pending events as stored events."""
    base = agg.loaded_version
    return [Stored(e.type, e.data, base + i + 1) for i, e in enumerate(agg.take_pending())]


def given(events: list[Stored], job_id: str = "job-1") -> Job:
    """A Job folded from stored events, with nothing pending."""
    return Job.rehydrate(job_id, events)


def draft_events(**overrides) -> list[Stored]:
    job = Job("job-1")
    job.create(CLIENT, details(**overrides), T0, TAXONOMY, SKILLS)
    return history(job)


def open_events(at: datetime = T0, settings: JobSettings = SETTINGS, **overrides) -> list[Stored]:
    events = draft_events(**overrides)
    job = given(events)
    job.publish(CLIENT, at, settings)
    return events + history(job)


def then(job) -> list[tuple[str, dict]]:
    """The events a command recorded, as (type, data) pairs."""
    return [(e.type, e.data) for e in job.take_pending()]


def saved_searches(user_id: str = "freelancer-1") -> SavedSearches:
    return SavedSearches(user_id)
