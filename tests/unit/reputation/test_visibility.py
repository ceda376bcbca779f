"""The double-blind rule: who sees which feedback, when."""

from __future__ import annotations

from services.reputation.domain import ContractFeedback
from services.reputation.visibility import feedback_view, public_feedback_about

from .helpers import DAY, SECOND, T0, EventLog, play_contract

END = T0 + 10 * DAY
CLOSES = END + 14 * DAY
NOBODY = frozenset()


def contract(log=None, **kwargs):
    log = log or EventLog()
    base = {"client": "c1", "freelancer": "f1", "start": T0, "days": 10, "payments": (5_000,)}
    base.update(kwargs)
    play_contract(log, "K", **base)
    return log.contract("K")


def side(view, name):
    return view["sides"][name]


def test_both_submitted_both_revealed_to_everyone():
    history = contract(client_feedback=(5, 10), freelancer_feedback=(4, 8))
    view = feedback_view(history, "f1", NOBODY, END + DAY)
    assert side(view, "client")["status"] == "revealed"
    assert side(view, "client")["feedback"]["rating"] == 5
    assert "private" not in side(view, "client")["feedback"]
    assert side(view, "freelancer")["feedback"]["private"]["would_recommend"] == 8
    public = feedback_view(history, None, NOBODY, END + DAY)
    assert side(public, "freelancer")["feedback"]["rating"] == 4


def test_only_one_submitted_is_hidden_until_the_window_closes():
    history = contract(client_feedback=(2, 3))
    before = feedback_view(history, "f1", NOBODY, CLOSES - SECOND)
    assert side(before, "client") == {"status": "submitted", "feedback": None}
    assert side(before, "freelancer") == {"status": "pending", "feedback": None}
    # The author sees their own, private part included.
    own = feedback_view(history, "c1", NOBODY, CLOSES - SECOND)
    assert side(own, "client")["feedback"]["private"]["would_recommend"] == 3
    after = feedback_view(history, "f1", NOBODY, CLOSES)
    assert side(after, "client")["status"] == "revealed"
    assert side(after, "client")["feedback"]["rating"] == 2


def test_neither_submitted_shows_nothing():
    history = contract()
    view = feedback_view(history, "c1", NOBODY, CLOSES + DAY)
    assert side(view, "client") == {"status": "pending", "feedback": None}
    assert side(view, "freelancer") == {"status": "pending", "feedback": None}


def test_public_feedback_shows_only_where_money_was_paid():
    history = contract(payments=(), client_feedback=(5, 10), freelancer_feedback=(5, 10))
    public = feedback_view(history, "stranger", NOBODY, CLOSES)
    assert side(public, "client")["status"] == "revealed"
    assert side(public, "client")["feedback"] is None
    # The parties still see each other's.
    assert side(feedback_view(history, "f1", NOBODY, CLOSES), "client")["feedback"] is not None


def test_operators_and_auditors_see_private_feedback_before_the_reveal():
    history = contract(client_feedback=(5, 7))
    for role in ("operator", "auditor"):
        view = feedback_view(history, "staff", frozenset({role}), END + DAY)
        assert side(view, "client")["feedback"]["private"]["would_recommend"] == 7


def test_a_view_as_of_before_the_submission_shows_it_pending():
    history = contract(client_feedback=(5, 10), freelancer_feedback=(5, 10))
    view = feedback_view(history, "c1", NOBODY, END + DAY - SECOND)
    assert side(view, "client")["status"] == "pending"


def test_replies_show_from_their_time():
    log = EventLog()
    contract(log, client_feedback=(3, 7), freelancer_feedback=(5, 10))
    log.run(
        ContractFeedback, "K", "reply_to_feedback", actor_id="f1", text="Noted.", now=END + 2 * DAY
    )
    history = log.contract("K")
    before = feedback_view(history, None, NOBODY, END + 2 * DAY - SECOND)
    assert side(before, "client")["feedback"]["reply"] is None
    after = feedback_view(history, None, NOBODY, END + 2 * DAY)
    assert side(after, "client")["feedback"]["reply"]["text"] == "Noted."


def test_public_feedback_about_a_user_newest_first_and_paged():
    log = EventLog()
    for n in range(3):
        play_contract(
            log,
            f"K{n}",
            client=f"c{n}",
            freelancer="f1",
            start=T0 + n * DAY,
            days=10,
            payments=(100,),
            client_feedback=(5 - n, 9),
            freelancer_feedback=(5, 9),
        )
    play_contract(
        log,
        "unpaid",
        client="c9",
        freelancer="f1",
        start=T0,
        days=10,
        client_feedback=(1, 0),
        freelancer_feedback=(1, 0),
    )
    histories = log.contracts()
    page = public_feedback_about("f1", histories, T0 + 100 * DAY, limit=2)
    assert page["total"] == 3
    assert [item["contract_id"] for item in page["items"]] == ["K2", "K1"]
    assert all("private" not in item for item in page["items"])
    rest = public_feedback_about("f1", histories, T0 + 100 * DAY, limit=2, offset=2)
    assert [item["contract_id"] for item in rest["items"]] == ["K0"]
    as_client = public_feedback_about("f1", histories, T0 + 100 * DAY, about_role="client")
    assert as_client["total"] == 0
    assert public_feedback_about("c1", histories, T0 + 100 * DAY)["total"] == 1
