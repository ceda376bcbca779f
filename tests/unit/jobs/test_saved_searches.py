"""SavedSearches: one stream per user, names unique, a bounded number."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.jobs.domain import Actor, SavedSearches
from shared.clock import iso
from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from tests.unit.jobs.helpers import FREELANCER, FREELANCER_2, SETTINGS, T0, history, then

QUERY = {"keywords": "django", "skills": ["Python"]}


def given_saved(*names: str) -> SavedSearches:
    searches = SavedSearches("freelancer-1")
    for n, name in enumerate(names):
        searches.save_search(FREELANCER, f"s-{n}", name, QUERY, T0, SETTINGS)
    return SavedSearches.rehydrate("freelancer-1", history(searches))


def test_save_records_search_saved_in_the_users_stream():
    searches = SavedSearches("freelancer-1")
    searches.save_search(FREELANCER, "s-1", "  Django gigs ", QUERY, T0, SETTINGS)
    [(kind, data)] = then(searches)
    assert kind == "SearchSaved"
    assert data == {
        "user_id": "freelancer-1",
        "search_id": "s-1",
        "name": "Django gigs",
        "query": QUERY,
        "saved_at": iso(T0),
    }
    assert searches.stream == "saved-searches-freelancer-1"
    assert searches.listing()[0]["name"] == "Django gigs"


def test_names_are_unique_ignoring_case():
    searches = given_saved("Django gigs")
    with pytest.raises(Conflict):
        searches.save_search(FREELANCER, "s-9", "DJANGO GIGS", QUERY, T0, SETTINGS)


def test_search_ids_are_unique():
    searches = given_saved("Django gigs")
    with pytest.raises(Conflict):
        searches.save_search(FREELANCER, "s-0", "Other", QUERY, T0, SETTINGS)


@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
def test_name_is_bounded(name):
    with pytest.raises(ValidationError):
        SavedSearches("freelancer-1").save_search(FREELANCER, "s-1", name, QUERY, T0, SETTINGS)


def test_limit_boundary():
    settings = replace(SETTINGS, max_saved_searches=2)
    searches = SavedSearches("freelancer-1")
    searches.save_search(FREELANCER, "s-1", "one", QUERY, T0, settings)
    searches.save_search(FREELANCER, "s-2", "two", QUERY, T0, settings)  # at the limit: fine
    with pytest.raises(Conflict, match="at most 2"):
        searches.save_search(FREELANCER, "s-3", "three", QUERY, T0, settings)


def test_only_the_user_saves_and_deletes_their_searches():
    searches = given_saved("Django gigs")
    with pytest.raises(Forbidden):
        searches.save_search(FREELANCER_2, "s-9", "Mine", QUERY, T0, SETTINGS)
    with pytest.raises(Forbidden):
        searches.delete_saved_search(FREELANCER_2, "s-0", T0)
    suspended = Actor("freelancer-1", frozenset({"freelancer"}), suspended=True)
    with pytest.raises(Forbidden):
        searches.delete_saved_search(suspended, "s-0", T0)


def test_delete_then_the_name_is_free_again():
    searches = given_saved("Django gigs")
    searches.delete_saved_search(FREELANCER, "s-0", T0)
    assert then(searches) == [
        (
            "SavedSearchDeleted",
            {"user_id": "freelancer-1", "search_id": "s-0", "deleted_at": iso(T0)},
        )
    ]
    searches.save_search(FREELANCER, "s-5", "Django gigs", QUERY, T0, SETTINGS)
    assert [s["search_id"] for s in searches.listing()] == ["s-5"]


def test_deleting_an_unknown_search_is_not_found():
    with pytest.raises(NotFound):
        given_saved().delete_saved_search(FREELANCER, "s-0", T0)
