"""Fast regression tests for bugs the crash and restart scenarios found (those scenarios are
slow-marked; these run in ``make test``)."""

from __future__ import annotations

from datetime import timedelta

import eventlet

from shared.auth import KeySet
from shared.clock import manual_clock
from tests.bidding.test_bidding_service import (
    bidding,  # noqa: F401 - a fixture
    proposal_args,
)


def test_callers_meeting_an_unknown_key_at_once_all_wait_for_the_one_fetch(token_mint):
    """After a restart the first requests arrive together with a key id not yet fetched:
    each must get the key (one fetch), none refused as if the token were bad."""
    fetches = []

    def fetch() -> dict:
        fetches.append(1)
        eventlet.sleep(0.1)  # identity answering over RPC
        return token_mint.jwks()

    keys = KeySet(fetch=fetch, min_interval=5.0)
    pool = eventlet.GreenPool()
    found = list(pool.imap(lambda _: keys.get(token_mint.kid), range(8)))
    assert all(key is not None for key in found)
    assert len(fetches) == 1


def test_a_new_freelancers_first_proposal_counts_the_connects_granted_with_it(bidding, monkeypatch):  # noqa: F811
    """With a clock that moves between two readings (any real clock), the monthly connects
    granted on first use were stamped a moment after the moment the proposal judged the
    balance at, so they did not count yet: every first proposal was refused."""
    job = bidding.job(amount=300_00)
    readings = iter(range(1, 1_000_000))
    start = manual_clock.now()
    monkeypatch.setattr(manual_clock, "now", lambda: start + timedelta(microseconds=next(readings)))
    result = bidding.freelancer("submit_proposal", **proposal_args(job))
    assert result["connects_spent"] == 4 and result["balance"] == 10 - 4


def test_a_refusal_caused_by_a_twin_under_the_same_key_answers_with_the_twins_result(databases):
    """A request redelivered after a crash and the caller's retry run under one key: the
    one that loses finds the twin's effect already there and refuses it ("offer not
    pending"); it must answer with the twin's stored result instead."""
    from shared.errors import Conflict
    from shared.eventstore import PostgresEventStore
    from shared.storage import Storage

    store = PostgresEventStore.connect(databases.create("bidding"), max_size=4)
    try:
        storage = Storage(store, {})

        def twin(uow):
            return {"status": "accepted"}

        def loser(uow):
            # the twin commits while this attempt runs, then this attempt meets its effect
            storage.command(
                "accept_offer", {"offer_id": "o-1"}, twin, idempotency_key="k", actor="f"
            )
            raise Conflict("offer o-1 is not pending")

        result = storage.command(
            "accept_offer", {"offer_id": "o-1"}, loser, idempotency_key="k", actor="f"
        )
        assert result == {"status": "accepted"}
    finally:
        store.close()
