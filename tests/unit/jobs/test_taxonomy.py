"""The seeded category file and the skill-name check."""

from __future__ import annotations

import pytest

from services.jobs.taxonomy import canonical_skills, default_taxonomy, parse_taxonomy


def test_the_seeded_taxonomy_loads_and_has_subcategories():
    taxonomy = default_taxonomy()
    assert len(taxonomy.categories) >= 10
    assert taxonomy.has_subcategory("web-mobile-software-dev", "web-development")
    assert not taxonomy.has_subcategory("writing", "web-development")
    assert not taxonomy.has_category("nope")
    assert taxonomy.as_dict()["writing"]["label"] == "Writing"


def test_subcategory_slugs_are_unique_within_a_category():
    for category in default_taxonomy().categories.values():
        assert len(category.subcategories) == len(set(category.subcategories))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "a: 1",
        "a: {label: A}",
        "a: {label: A, subcategories: {}}",
        "a: {subcategories: {b: B}}",
    ],
)
def test_a_malformed_taxonomy_is_refused(text):
    with pytest.raises(ValueError):
        parse_taxonomy(text)


def test_skills_map_to_the_canonical_spelling_in_request_order():
    found, unknown = canonical_skills(
        [" django ", "PYTHON", "Cobol", "python"], ["Python", "Django"]
    )
    assert found == ["Django", "Python"]
    assert unknown == ["Cobol"]
