"""Password hashing and policy; the skills taxonomy and its normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given as for_all
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.identity.passwords import PasswordHasher, PasswordPolicy
from services.identity.skills import (
    Skill,
    SkillsTaxonomy,
    UnknownSkill,
    seeded_taxonomy,
    skill_key,
)

from .conftest import HASHER, POLICY


def test_hashes_are_argon2id_salted_and_verifiable():
    first, second = HASHER.hash("a passphrase"), HASHER.hash("a passphrase")
    assert first.startswith("$argon2id$") and first != second
    assert HASHER.verify(first, "a passphrase")
    assert not HASHER.verify(first, "a passphrasE")
    assert not HASHER.verify("not a hash", "a passphrase")


def test_unicode_forms_of_one_password_match():
    stored = HASHER.hash("caf\u00e9 au lait!")
    assert HASHER.verify(stored, "cafe\u0301 au lait!")


def test_needs_rehash_when_parameters_change():
    stored = HASHER.hash("a passphrase")
    assert not HASHER.needs_rehash(stored)
    assert PasswordHasher(time_cost=2, memory_cost=8, parallelism=1).needs_rehash(stored)
    assert HASHER.needs_rehash("garbage")


@pytest.mark.parametrize(
    ("length", "ok"), [(9, False), (10, True), (11, True), (128, True), (129, False)]
)
def test_password_length_bounds(length, ok):
    password = ("Tr0ub4dor&3xyz" * 10)[:length]
    assert (POLICY.problems(password) == []) is ok


@pytest.mark.parametrize(
    ("password", "email", "problem"),
    [
        ("password123", None, "most common"),
        ("PASSWORD123", None, "most common"),
        ("aaaaaaaaaaaa", None, "4 different"),
        ("abababababab", None, "4 different"),
        ("abcdefghijklm", None, "sequence"),
        ("9876543210", None, "sequence"),
        ("xx-adalovelace-xx", "adalovelace@example.com", "email"),
    ],
)
def test_policy_refuses_guessable_passwords(password, email, problem):
    problems = PolicyProblems(password, email)
    assert any(problem in p for p in problems), problems


def PolicyProblems(password, email):  # noqa: N802 - reads as a noun in the test above
    return POLICY.problems(password, email)


def test_policy_check_names_the_password_field():
    from shared.errors import ValidationError

    with pytest.raises(ValidationError) as error:
        PasswordPolicy(min_length=12).check("elevenchars")
    assert error.value.fields == {"password": ["Must be at least 12 characters long."]}


# -- skills -------------------------------------------------------------------------------


def test_seeded_taxonomy_is_large_and_categorised(taxonomy):
    assert len(taxonomy) >= 300
    assert len(taxonomy.categories()) >= 10
    assert taxonomy.lookup("Figma").category == "Design and Creative"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("js", "JavaScript"),
        ("  JavaScript ", "JavaScript"),
        ("react.js", "React"),
        ("node   JS", "Node.js"),
        ("K8S", "Kubernetes"),
        ("c#", "C#"),
        ("golang", "Go"),
        ("Ｐｙｔｈｏｎ", "Python"),
        ("postgres", "PostgreSQL"),
    ],
)
def test_normalisation_and_aliases(taxonomy, typed, canonical):
    assert taxonomy.normalise(typed) == canonical
    assert typed in taxonomy


def test_unknown_skill(taxonomy):
    with pytest.raises(UnknownSkill):
        taxonomy.normalise("underwater basket weaving")
    assert "underwater basket weaving" not in taxonomy


@hypothesis_settings(max_examples=50)
@for_all(st.data())
def test_normalising_any_spelling_of_a_skill_is_stable(data):
    taxonomy = seeded_taxonomy()
    names = [n for names in taxonomy.categories().values() for n in names]
    name = data.draw(st.sampled_from(names))
    spelled = data.draw(
        st.sampled_from([name.upper(), name.lower(), f"  {name}  ", name.replace(" ", "   ")])
    )
    assert taxonomy.normalise(spelled) == name
    assert taxonomy.normalise(taxonomy.normalise(spelled)) == name


def test_taxonomy_seed_format_and_its_mistakes():
    parsed = SkillsTaxonomy.parse("# c\n[Web]\nReact | reactjs, react.js\nVue.js\n")
    assert parsed.normalise("REACTJS") == "React"
    with pytest.raises(ValueError, match="before any"):
        SkillsTaxonomy.parse("React\n")
    with pytest.raises(ValueError, match="twice"):
        SkillsTaxonomy([Skill("Go", "A"), Skill(" go ", "B")])
    with pytest.raises(ValueError, match="unknown skill"):
        SkillsTaxonomy([Skill("Go", "A")], {"golang": "Rust"})
    with pytest.raises(ValueError, match="collides"):
        SkillsTaxonomy([Skill("Go", "A"), Skill("Rust", "A")], {"go": "Rust"})
    assert skill_key("  Machine\tLearning ") == "machine learning"


def test_decoy_verification_never_matches():
    hasher = PasswordHasher.cheap()
    assert hasher.verify_decoy("decoy: no account has this password hash") is False
    assert hasher.verify_decoy("anything") is False
