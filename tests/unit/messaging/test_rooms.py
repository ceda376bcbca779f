"""Rooms: opened from other services' events exactly once, direct rooms, read-only, review."""

from __future__ import annotations

import pytest

from services.messaging.domain import (
    Room,
    contract_room_id,
    direct_room_id,
    interview_room_id,
)
from services.messaging.settings import MessagingSettings
from shared.clock import iso
from shared.errors import Conflict, Forbidden, NotFound, ValidationError

from .helpers import (
    AUDITOR_ID,
    CLIENT,
    CONTRACT,
    FREELANCER,
    JOB,
    OPERATOR_ID,
    PROPOSAL,
    SECOND,
    SETTINGS,
    STRANGER,
    T0,
    access_granted,
    contract_room,
    given,
    pending,
    read_only_event,
    room_opened,
)


class TestInterviewRoom:
    def test_proposal_messaged_opens_the_interview_room(self):
        room = Room(interview_room_id(PROPOSAL))
        room.open_interview(
            proposal_id=PROPOSAL, job_id=JOB, client_id=CLIENT, freelancer_id=FREELANCER, now=T0
        )
        assert pending(room) == [room_opened("interview")]

    def test_a_repeated_event_records_nothing(self):
        room = given(Room, interview_room_id(PROPOSAL), room_opened("interview"))
        room.open_interview(
            proposal_id=PROPOSAL, job_id=JOB, client_id=FREELANCER, freelancer_id=CLIENT, now=T0
        )
        assert pending(room) == []

    def test_the_same_proposal_with_other_people_is_a_conflict(self):
        room = given(Room, interview_room_id(PROPOSAL), room_opened("interview"))
        with pytest.raises(Conflict):
            room.open_interview(
                proposal_id=PROPOSAL,
                job_id=JOB,
                client_id=CLIENT,
                freelancer_id=STRANGER,
                now=T0,
            )

    def test_client_and_freelancer_must_differ(self):
        room = Room(interview_room_id(PROPOSAL))
        with pytest.raises(ValidationError):
            room.open_interview(
                proposal_id=PROPOSAL, job_id=JOB, client_id=CLIENT, freelancer_id=CLIENT, now=T0
            )
        assert pending(room) == []

    def test_a_room_loaded_under_another_id_is_a_wiring_error(self):
        with pytest.raises(ValueError):
            Room("some-other-id").open_interview(
                proposal_id=PROPOSAL,
                job_id=JOB,
                client_id=CLIENT,
                freelancer_id=FREELANCER,
                now=T0,
            )


class TestContractRoom:
    def test_contract_started_opens_the_contract_room(self):
        room = Room(contract_room_id(CONTRACT))
        room.open_contract(
            contract_id=CONTRACT, job_id=JOB, client_id=CLIENT, freelancer_id=FREELANCER, now=T0
        )
        assert pending(room) == [room_opened("contract")]

    def test_contract_started_twice_opens_once(self):
        room = contract_room()
        room.open_contract(
            contract_id=CONTRACT, job_id=JOB, client_id=CLIENT, freelancer_id=FREELANCER, now=T0
        )
        assert pending(room) == []

    def test_room_ids_are_deterministic_and_distinct_per_source(self):
        assert contract_room_id("x") == contract_room_id("x")
        assert contract_room_id("x") != interview_room_id("x")
        assert direct_room_id("a", "b") == direct_room_id("b", "a")

    def test_contract_ended_makes_the_room_read_only(self):
        room = contract_room()
        room.end_contract(contract_id=CONTRACT, now=T0 + SECOND)
        assert pending(room) == [read_only_event(T0 + SECOND)]
        assert room.read_only

    def test_contract_ended_twice_records_once(self):
        room = contract_room(read_only_event())
        room.end_contract(contract_id=CONTRACT, now=T0)
        assert pending(room) == []

    def test_contract_ended_before_started_asks_for_a_retry(self):
        with pytest.raises(NotFound):
            Room(contract_room_id(CONTRACT)).end_contract(contract_id=CONTRACT, now=T0)

    def test_read_only_room_refuses_writing_but_still_reads(self):
        room = contract_room(read_only_event())
        with pytest.raises(Conflict, match="read-only"):
            room.ensure_can_write(CLIENT)
        room.ensure_can_read(CLIENT, (), T0)


class TestDirectRoom:
    def test_users_who_share_a_job_open_a_direct_room(self):
        room = Room(direct_room_id(CLIENT, FREELANCER))
        room.open_direct(
            actor_id=FREELANCER,
            other_user_id=CLIENT,
            shared_job_ids={"job-b", "job-a"},
            now=T0,
        )
        assert pending(room) == [
            (
                "RoomOpened",
                {
                    "room_id": room.id,
                    "kind": "direct",
                    "participants": sorted([CLIENT, FREELANCER]),
                    "job_id": "job-a",
                    "proposal_id": None,
                    "contract_id": None,
                    "opened_by": FREELANCER,
                    "opened_at": iso(T0),
                },
            )
        ]

    def test_strangers_cannot_open_a_direct_room(self):
        room = Room(direct_room_id(CLIENT, STRANGER))
        with pytest.raises(Forbidden):
            room.open_direct(actor_id=STRANGER, other_user_id=CLIENT, shared_job_ids=(), now=T0)
        assert pending(room) == []

    def test_opening_again_from_either_side_is_a_no_op(self):
        room = Room(direct_room_id(CLIENT, FREELANCER))
        room.open_direct(actor_id=CLIENT, other_user_id=FREELANCER, shared_job_ids={JOB}, now=T0)
        room.take_pending()
        room.open_direct(actor_id=FREELANCER, other_user_id=CLIENT, shared_job_ids=(), now=T0)
        assert pending(room) == []

    def test_a_room_with_oneself_is_refused(self):
        with pytest.raises(ValidationError):
            Room(direct_room_id(CLIENT, CLIENT)).open_direct(
                actor_id=CLIENT, other_user_id=CLIENT, shared_job_ids={JOB}, now=T0
            )


class TestParticipantsOnly:
    def test_participants_read_and_write(self):
        room = contract_room()
        for user in (CLIENT, FREELANCER):
            room.ensure_can_read(user, ("client",), T0)
            room.ensure_can_write(user)

    def test_others_neither_read_nor_write(self):
        room = contract_room()
        with pytest.raises(Forbidden):
            room.ensure_can_read(STRANGER, ("freelancer",), T0)
        with pytest.raises(Forbidden):
            room.ensure_can_write(STRANGER)

    def test_an_operator_without_a_recorded_access_cannot_read(self):
        with pytest.raises(Forbidden):
            contract_room().ensure_can_read(OPERATOR_ID, ("operator",), T0)

    def test_an_unknown_room_is_not_found(self):
        with pytest.raises(NotFound):
            Room("nope").ensure_can_read(CLIENT, (), T0)


class TestReviewAccess:
    def test_an_operator_reads_for_a_dispute_and_the_access_is_an_event(self):
        room = contract_room()
        room.grant_review_access(
            actor_id=OPERATOR_ID,
            roles=("operator",),
            reason="dispute over milestone 1",
            dispute_id="dispute-1",
            settings=SETTINGS,
            now=T0,
        )
        assert pending(room) == [access_granted()]
        room.ensure_can_read(OPERATOR_ID, ("operator",), T0)
        room.ensure_can_see_history(OPERATOR_ID, ("operator",), T0)

    def test_an_operator_must_name_a_dispute(self):
        room = contract_room()
        with pytest.raises(ValidationError) as err:
            room.grant_review_access(
                actor_id=OPERATOR_ID,
                roles=("operator",),
                reason="curious",
                dispute_id=None,
                settings=SETTINGS,
                now=T0,
            )
        assert "dispute_id" in err.value.fields
        assert pending(room) == []

    def test_an_auditor_reads_for_an_audit(self):
        room = contract_room()
        room.grant_review_access(
            actor_id=AUDITOR_ID,
            roles=("auditor",),
            reason="dispute over milestone 1",
            dispute_id=None,
            settings=SETTINGS,
            now=T0,
        )
        assert pending(room) == [access_granted(AUDITOR_ID, "auditor")]

    @pytest.mark.parametrize("roles", [(), ("client",), ("freelancer",)])
    def test_other_roles_cannot_ask(self, roles):
        with pytest.raises(Forbidden):
            contract_room().grant_review_access(
                actor_id=STRANGER,
                roles=roles,
                reason="let me in",
                dispute_id="dispute-1",
                settings=SETTINGS,
                now=T0,
            )

    def test_a_reason_is_required(self):
        with pytest.raises(ValidationError):
            contract_room().grant_review_access(
                actor_id=AUDITOR_ID,
                roles=("auditor",),
                reason="   ",
                dispute_id=None,
                settings=SETTINGS,
                now=T0,
            )

    def test_participants_do_not_need_review_access(self):
        with pytest.raises(Conflict):
            contract_room().grant_review_access(
                actor_id=CLIENT,
                roles=("client", "operator"),
                reason="x",
                dispute_id="d",
                settings=SETTINGS,
                now=T0,
            )

    def test_participants_do_not_see_the_history(self):
        with pytest.raises(Forbidden):
            contract_room().ensure_can_see_history(CLIENT, ("client",), T0)

    @pytest.mark.parametrize(
        ("offset", "allowed"), [(-1, True), (0, True), (1, False)], ids=["T-1s", "T", "T+1s"]
    )
    def test_access_lasts_the_recorded_window(self, offset, allowed):
        room = contract_room(access_granted(seconds=3600))
        at = T0 + 3600 * SECOND + offset * SECOND
        assert room.can_read(OPERATOR_ID, ("operator",), at) is allowed

    def test_the_recorded_window_holds_after_the_configuration_changes(self):
        room = contract_room()
        room.grant_review_access(
            actor_id=OPERATOR_ID,
            roles=("operator",),
            reason="dispute",
            dispute_id="dispute-1",
            settings=MessagingSettings(review_access_seconds=60),
            now=T0,
        )
        replayed = contract_room(*pending(room))
        # A longer window configured today does not extend yesterday's grant.
        assert replayed.can_read(OPERATOR_ID, ("operator",), T0 + 60 * SECOND)
        assert not replayed.can_read(OPERATOR_ID, ("operator",), T0 + 61 * SECOND)

    def test_losing_the_role_ends_the_access(self):
        room = contract_room(access_granted())
        assert not room.can_read(OPERATOR_ID, ("client",), T0)

    def test_access_is_personal(self):
        room = contract_room(access_granted())
        assert not room.can_read("operator-2", ("operator",), T0)
