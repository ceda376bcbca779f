"""The Job Success Score, badges and client stats on a fixed history worked out by hand;
rebuilding the read models and consuming escrow's events twice change nothing."""

from __future__ import annotations

import psycopg
import pytest

from services.reputation.read_models import ReputationReadModel
from shared.clock import iso, manual_clock
from shared.errors import Forbidden, ValidationError
from shared.eventstore import PostgresEventStore
from tests.reputation.harness import CLIENT_CRITERIA, DAY, FREELANCER_CRITERIA, START, feedback

F = "freelancer-ada"
C1, C2, C3 = "client-1", "client-2", "client-3"
ENDED = START - DAY

# contract: (client, duration days, gross minor units, client's rating, would recommend)
HISTORY = {
    "k1": (C1, 200, 1_200_000, 5, 10),  # 12,000 points -> tier 4; 200 days -> tier 3: +7
    "k2": (C2, 45, 50_000, 5, 9),  # 500 points -> 2; 45 days -> 2: +4
    "k3": (C3, 10, 5_000, 2, 3),  # 50 points -> 1; 10 days -> 1: low rating, detractor: -2
    "k4": (C1, 100, 200_000, 4, 8),  # 2,000 points -> 3; 100 days -> 2: high rating: +5
    "k5": (C2, 20, 10_000, 3, 7),  # rating 3 and 7: neither band -> neutral, not counted
    "k6": (C3, 35, 100_000, 5, 10),  # 1,000 points -> 3; 35 days -> 2: +5
}
# P = 7 + 4 + 5 + 5 = 21, N = 2: 21 / 23 = 91.3 % -> 91, from 5 contracts and 3 clients.
EXPECTED_WEIGHTS = {"k1": 7, "k2": 4, "k3": 2, "k4": 5, "k5": 0, "k6": 5}
EXPECTED_OUTCOMES = {
    "k1": "positive",
    "k2": "positive",
    "k3": "negative",
    "k4": "positive",
    "k5": "neutral",
    "k6": "positive",
}


def build_history(h) -> dict[str, list[str]]:
    """Escrow's story of six contracts, the client's feedback on each, the windows closed.
    Returns the escrow event ids behind each contract."""
    h.register(F, ["freelancer"], START - 400 * DAY)
    for client in (C1, C2, C3):
        h.register(client, ["client"], START - 500 * DAY)
    sources = {}
    for cid, (client, days, gross, _, _) in HISTORY.items():
        sources[cid] = [
            h.open_contract(cid, client, F, ENDED - days * DAY),
            h.release(cid, client, F, gross, ENDED - DAY),
            h.end(cid, client, F, ENDED),
        ]
    for cid, (client, _, _, rating, recommend) in HISTORY.items():
        h.call(
            "leave_feedback",
            client,
            "client",
            **feedback(cid, FREELANCER_CRITERIA, rating=rating, recommend=recommend),
        )
    h.call("leave_feedback", F, "freelancer", **feedback("k1", CLIENT_CRITERIA, rating=4))
    manual_clock.set(ENDED + 14 * DAY)  # every window closes: the clients' feedback shows
    assert h.fire_deadlines() == len(HISTORY)
    return sources


def score(h, user=F, *roles, **kw):
    return h.call("get_score", user, *(roles or ("freelancer",)), freelancer_id=F, **kw)


def test_score_badge_and_explanation_on_a_fixed_history(reputation):
    h = reputation
    sources = build_history(h)

    got = score(h)
    assert got["score"] == 91 and got["shown"] is True
    assert (got["counted_contracts"], got["distinct_clients"]) == (5, 3)
    # 15,650 points in 12 months, 414 days old, score >= 90, never suspended
    assert got["badge"] == "top_rated_plus"

    explained = h.call("explain_score", F, "freelancer", freelancer_id=F)
    assert (explained["positive_weight"], explained["negative_weight"]) == (21, 2)
    rows = {row["contract_id"]: row for row in explained["contracts"]}
    assert set(rows) == set(HISTORY)
    assert {c: r["weight"] for c, r in rows.items()} == EXPECTED_WEIGHTS
    assert {c: r["outcome"] for c, r in rows.items()} == EXPECTED_OUTCOMES
    assert {c for c, r in rows.items() if r["counted"]} == {"k1", "k2", "k3", "k4", "k6"}
    assert rows["k3"]["negative_signals"] == ["low_rating", "not_recommended"]
    for cid, row in rows.items():
        assert sorted(row["source_event_ids"]) == sorted(sources[cid])
        # the contract's facts, the client's feedback and its reveal; not the freelancer's
        behind = [
            event_id
            for event_id, type_, data in h.stream(f"feedback-{cid}")
            if type_ in ("ContractTracked", "FeedbackWindowOpened", "PaymentNoted")
            or (type_ == "FeedbackSubmitted" and data["side"] == "client")
            or (type_ == "FeedbackRevealed" and "client" in data["sides"])
        ]
        assert sorted(row["event_ids"]) == sorted(behind)
    criteria = explained["badges"]["criteria"]["top_rated_plus"]
    assert all(c["passed"] for c in criteria)
    rising = {c["name"]: c for c in explained["badges"]["criteria"]["rising_talent"]}
    assert rising["negative_outcomes"]["actual"] == 1 and not rising["negative_outcomes"]["passed"]

    # as of a moment before the windows closed only k1's feedback was revealed (both sides
    # had submitted): one positive contract, no score yet, and the Rising Talent badge
    before = score(h, as_of=iso(ENDED + 13 * DAY))
    assert before["score"] is None and before["counted_contracts"] == 1
    assert before["badge"] == "rising_talent"
    with pytest.raises(ValidationError) as err:
        score(h, as_of=iso(START + 30 * DAY))
    assert "as_of" in err.value.fields

    # the stored score follows the events as they arrived
    stored = h.rows("SELECT score, counted_contracts, badge FROM reputation_scores")
    assert stored == [(91, 5, "top_rated_plus")]

    # client stats of C1: two hires, 14,000.00 USD spent, ratings given on paid contracts
    stats = h.call("client_stats", F, "freelancer", client_id=C1)
    assert stats["hires"] == 2 and stats["total_spent"] == [
        {"amount": 1_400_000, "currency": "USD"}
    ]
    assert stats["rating_given"] == {"count": 2, "sum": 9, "average_hundredths": 450}
    assert stats["rating_received"] == {"count": 1, "sum": 4, "average_hundredths": 400}
    assert stats["member_since"] == iso(START - 500 * DAY)

    listed = h.call("list_feedback", C2, "client", user_id=F, about_role="freelancer")
    assert listed["total"] == 6 and {i["contract_id"] for i in listed["items"]} == set(HISTORY)


def test_explain_score_is_for_the_freelancer_and_staff(reputation):
    h = reputation
    h.register(F, ["freelancer"], START - 10 * DAY)
    with pytest.raises(Forbidden):
        h.call("explain_score", C1, "client", freelancer_id=F)
    assert h.call("explain_score", "auditor-1", "auditor", freelancer_id=F)["contracts"] == []
    assert h.call("explain_score", F, "freelancer", freelancer_id=F)["score"] is None


def snapshot(h) -> dict[str, list[tuple]]:
    return {
        table: h.rows(f"SELECT * FROM {table} ORDER BY 1, 2")
        for table in ReputationReadModel.tables
    }


def test_rebuilding_the_read_models_and_consuming_escrow_twice_change_nothing(reputation):
    h = reputation
    build_history(h)
    live = snapshot(h)
    scored = score(h)
    explained = h.call("explain_score", F, "freelancer", freelancer_id=F)
    length = h.log_length()

    # every escrow event delivered again to its consumer: skipped, nothing written
    for envelope in [e for e in h.published if e["source"] == "escrow"]:
        assert h.redeliver(envelope) is False
    assert h.log_length() == length
    assert snapshot(h) == live

    # truncate every read model and replay the whole log through the projection
    store = PostgresEventStore.connect(h.dsn, projections=[])
    projection = ReputationReadModel()
    try:
        with psycopg.connect(h.dsn) as conn:
            conn.execute(f"TRUNCATE {', '.join(ReputationReadModel.tables)}")
            cur = conn.cursor()
            for event in store.iter_all():
                projection.apply(cur, event)
            conn.commit()
    finally:
        store.close()
    assert snapshot(h) == live
    assert all(live.values())  # every table had rows to compare
    assert score(h) == scored
    assert h.call("explain_score", F, "freelancer", freelancer_id=F) == explained
