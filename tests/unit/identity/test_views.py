"""The read model: folding, rebuild equality, visibility and completeness."""

from __future__ import annotations

import json

import pytest
from hypothesis import given as for_all
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.identity.domain import User
from services.identity.tokens import token_digest
from services.identity.views import (
    apply_event,
    build_row,
    completeness,
    me_view,
    profile_view,
)
from shared.errors import MarketplaceError, NotAuthenticated, NotFound
from shared.money import Money

from .conftest import SETTINGS, T0, Stored, register_events
from .conftest import given as given_events


def row_of(events):
    return build_row(Stored(e.type, e.data, n) for n, e in enumerate(events, start=1))


def history_with(*commands, roles=("client", "freelancer")):
    events = register_events(roles=roles)
    user = given_events(User, "u-1", events)
    for command in commands:
        command(user)
    return events + user.take_pending()


def test_a_new_account_row():
    row = row_of(register_events(roles=["client"]))
    assert row["email"] == "ada@example.com"
    assert row["status"] == "active"
    assert row["profile"]["display_name"] == "Ada Lovelace"
    assert "password_hash" not in json.dumps(row)


def test_fold_refuses_unknown_events_and_events_before_registration():
    row = row_of(register_events())
    with pytest.raises(ValueError):
        apply_event(row, "SomethingElse", {})
    with pytest.raises(ValueError):
        apply_event(None, "RoleAdded", {"role": "client", "added_at": T0.isoformat()})


def test_apply_event_does_not_mutate_its_input():
    row = row_of(register_events())
    before = json.dumps(row, sort_keys=True)
    apply_event(row, "UserSuspended", {"reason": "r", "by": "op", "suspended_at": "t"})
    assert json.dumps(row, sort_keys=True) == before


OPERATOR = {"actor_id": "op-1", "actor_roles": ["operator"]}


def suspended_row():
    return row_of(history_with(lambda u: u.suspend(reason="spam", now=T0, **OPERATOR)))


def visible_row(visibility, taxonomy):
    return row_of(
        history_with(
            lambda u: u.update_profile(
                {"visibility": visibility},
                actor_id="u-1",
                actor_roles=[],
                now=T0,
                settings=SETTINGS,
                taxonomy=taxonomy,
            )
        )
    )


@pytest.mark.parametrize(
    ("visibility", "viewer", "roles", "outcome"),
    [
        ("public", None, [], "seen"),
        ("public", "u-2", ["client"], "seen"),
        ("signed_in", None, [], NotAuthenticated),
        ("signed_in", "u-2", ["client"], "seen"),
        ("private", "u-2", ["client"], NotFound),
        ("private", None, [], NotFound),
        ("private", "u-1", ["client"], "own"),
        ("private", "op-1", ["operator"], "own"),
        ("private", "a-1", ["auditor"], "own"),
    ],
)
def test_visibility(visibility, viewer, roles, outcome, taxonomy):
    row = visible_row(visibility, taxonomy)
    if outcome in ("seen", "own"):
        view = profile_view(row, viewer_id=viewer, viewer_roles=roles)
        assert view["user_id"] == "u-1" and "freelancer" in view and "client" in view
        assert ("completeness" in view) is (outcome == "own")
        assert "email" not in view
    else:
        with pytest.raises(outcome):
            profile_view(row, viewer_id=viewer, viewer_roles=roles)


def test_suspended_profiles_are_hidden_from_others_but_not_staff():
    row = suspended_row()
    with pytest.raises(NotFound):
        profile_view(row, viewer_id="u-2", viewer_roles=["client"])
    assert profile_view(row, viewer_id="op-1", viewer_roles=["operator"])["status"] == "suspended"
    assert profile_view(row, viewer_id="u-1", viewer_roles=["client"])["status"] == "suspended"
    with pytest.raises(NotFound):
        profile_view(None, viewer_id=None, viewer_roles=[])


def test_view_shows_only_the_sections_of_roles_held():
    row = row_of(register_events(roles=["client"]))
    view = profile_view(row, viewer_id=None, viewer_roles=[])
    assert "client" in view and "freelancer" not in view
    assert view["verified"] == {"email": False, "identity": False, "payment_method": False}


def test_me_view_holds_email_verifications_and_completeness():
    row = row_of(history_with(lambda u: u.verify_identity(method="video_call", now=T0, **OPERATOR)))
    me = me_view(row)
    assert me["email"] == "ada@example.com"
    assert me["verifications"]["identity"] == {"by": "op-1", "at": T0.isoformat()}
    assert set(me["completeness"]) == {"client", "freelancer"}


def test_completeness_of_an_empty_freelancer_lists_everything():
    result = completeness(row_of(register_events(roles=["freelancer"])))
    assert result["freelancer"]["percent"] == 0
    assert [m["field"] for m in result["freelancer"]["missing"]][:3] == [
        "freelancer.title",
        "freelancer.overview",
        "freelancer.hourly_rate",
    ]
    assert sum(m["weight"] for m in result["freelancer"]["missing"]) == 100


def test_completeness_counts_what_is_filled(taxonomy):
    def fill(user):
        user.update_profile(
            {
                "freelancer": {
                    "title": "Engineer",
                    "overview": "x" * 99,  # one short of counting
                    "hourly_rate": Money(5000, "USD"),
                    "skills": ["Python", "Go"],  # one short of counting
                    "languages": [{"language": "English", "proficiency": "fluent"}],
                    "availability": "as_needed",
                },
                "client": {"company_name": "Acme", "location": {"country": "US"}},
            },
            actor_id="u-1",
            actor_roles=[],
            now=T0,
            settings=SETTINGS,
            taxonomy=taxonomy,
        )
        user.verify_payment_method(provider_reference="pm", now=T0, **OPERATOR)

    result = completeness(row_of(history_with(fill)))
    assert result["freelancer"]["percent"] == 10 + 10 + 10 + 5
    missing = {m["field"] for m in result["freelancer"]["missing"]}
    assert {"freelancer.overview", "freelancer.skills", "verifications.email"} <= missing
    assert result["client"] == {
        "percent": 20 + 20 + 25,
        "missing": [
            {
                "field": "client.company_size",
                "hint": "Say how large your company is.",
                "weight": 15,
            },
            {"field": "verifications.email", "hint": "Verify your email address.", "weight": 20},
        ],
    }


def test_staff_have_no_completeness():
    row = row_of(register_events(roles=["client"]))
    row["roles"] = ["operator"]
    assert completeness(row) == {}


# -- the read model rebuilds from the log identically ------------------------------------

SKILLS = ["Python", "js", "Go", "React", "SQL", "Docker"]

commands = st.one_of(
    st.tuples(st.just("add_role"), st.sampled_from(["client", "freelancer"])),
    st.tuples(st.just("title"), st.one_of(st.none(), st.sampled_from(["Dev", "Writer", "PM"]))),
    st.tuples(st.just("skills"), st.lists(st.sampled_from(SKILLS), max_size=4, unique=True)),
    st.tuples(st.just("rate"), st.integers(min_value=0, max_value=120_000)),
    st.tuples(st.just("visibility"), st.sampled_from(["public", "signed_in", "private"])),
    st.tuples(st.just("company"), st.sampled_from(["Acme", "Initech", None])),
    st.tuples(st.just("suspend"), st.sampled_from(["spam", "fraud"])),
    st.tuples(st.just("reinstate"), st.just("appeal")),
    st.tuples(st.just("identity"), st.just("video_call")),
    st.tuples(st.just("payment"), st.just("pm_1")),
    st.tuples(st.just("email"), st.sampled_from(["c1", "c2"])),
)


def run(user: User, command, taxonomy) -> None:
    name, arg = command
    edit = dict(actor_id="u-1", actor_roles=[], now=T0, settings=SETTINGS, taxonomy=taxonomy)
    if name == "add_role":
        user.add_role(arg, actor_id="u-1", now=T0)
    elif name == "title":
        user.update_profile({"freelancer": {"title": arg}}, **edit)
    elif name == "skills":
        user.update_profile({"freelancer": {"skills": arg}}, **edit)
    elif name == "rate":
        user.update_profile({"freelancer": {"hourly_rate": Money(arg, "USD")}}, **edit)
    elif name == "visibility":
        user.update_profile({"visibility": arg}, **edit)
    elif name == "company":
        user.update_profile({"client": {"company_name": arg}}, **edit)
    elif name == "suspend":
        user.suspend(reason=arg, now=T0, **OPERATOR)
    elif name == "reinstate":
        user.reinstate(reason=arg, now=T0, **OPERATOR)
    elif name == "identity":
        user.verify_identity(method=arg, now=T0, **OPERATOR)
    elif name == "payment":
        user.verify_payment_method(provider_reference=arg, now=T0, **OPERATOR)
    elif name == "email":
        user.request_email_verification(token_digest(arg), T0, SETTINGS)
        user.verify_email(token_digest(arg), T0)


@hypothesis_settings(max_examples=60, deadline=None)
@for_all(st.lists(commands, max_size=12), st.sampled_from([["client"], ["freelancer"]]))
def test_rebuild_equals_live_read_model_and_aggregate(command_list, roles):
    from services.identity.skills import seeded_taxonomy

    taxonomy = seeded_taxonomy()
    log = register_events(roles=roles)
    live = row_of(log)
    for command in command_list:
        user = given_events(User, "u-1", log)
        try:
            run(user, command, taxonomy)
        except MarketplaceError:
            assert user.pending == []  # a refused command records nothing
            continue
        committed = user.take_pending()
        for event in committed:  # the live model moves with each committed batch
            live = apply_event(live, event.type, json.loads(json.dumps(event.data)))
        log += committed

    rebuilt = row_of(log)
    assert rebuilt == live
    user = given_events(User, "u-1", log)
    assert rebuilt["profile"] == user.profile
    assert rebuilt["roles"] == user.roles
    assert (rebuilt["status"] == "suspended") is user.suspended
    assert rebuilt["verifications"] == user.verifications
