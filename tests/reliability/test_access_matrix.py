"""Who may call what: every RPC method of every service, called as every kind of caller.

The methods are found on the service classes (their nameko ``@rpc`` entrypoints); the
expectations are written down here, one entry per method, so a method added without an
entry fails ``test_every_rpc_method_has_an_expectation``.

Outcomes per caller:
  ok      gets past the access check: a result, or ValidationError / NotFound / Conflict
          about the arguments, never NotAuthenticated or Forbidden.
  deny    NotAuthenticated or Forbidden; never a result, never another error masking it.
  hidden  NotFound: the service hides the thing from this caller by documented design
          (e.g. bidding's ``get_proposal`` for a stranger); never a result.
A caller not named in an entry must be denied.

Forbidden cases run first, on the untouched world; allowed ones run afterwards with the
owners last, so an allowed call that changes state cannot mask a later refusal.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from nameko.exceptions import RemoteError
from nameko.rpc import Rpc

from shared.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationError
from tests.reliability.conftest import (
    PASSWORD,
    ROLES,
    SERVICE_CLASSES,
    START,
    World,
    usd,
    wait_until,
)

ANYONE = frozenset(ROLES)
SIGNED_IN = ANYONE - {"anonymous"}
STAFF = frozenset({"operator", "auditor"})
CLIENTS = frozenset({"client", "other_client"})
FREELANCERS = frozenset({"freelancer", "other_freelancer"})
OPERATOR = frozenset({"operator"})
PARTIES = frozenset({"client", "freelancer"})
CLIENT = frozenset({"client"})
FREELANCER = frozenset({"freelancer"})

# allowed calls run with the owners last
ALLOWED_ORDER = (
    "anonymous",
    "other_client",
    "other_freelancer",
    "auditor",
    "operator",
    "client",
    "freelancer",
)


@dataclass(frozen=True)
class Rule:
    args: Callable[[World, object], dict]
    ok: frozenset[str]
    hidden: frozenset[str] = field(default_factory=frozenset)

    def expect(self, role: str) -> str:
        if role in self.ok:
            return "ok"
        if role in self.hidden:
            return "hidden"
        return "deny"


def rpc_methods(cls) -> list[str]:
    """Names of ``cls``'s nameko RPC entrypoints."""
    return sorted(
        name
        for name, member in inspect.getmembers(cls)
        if any(isinstance(e, Rpc) for e in getattr(member, "nameko_entrypoints", ()) or ())
    )


def fresh_user(platform, *roles: str) -> str:
    email = f"u-{uuid.uuid4().hex[:10]}@reliability.test"
    with platform.rpc() as rpc:
        return rpc.identity.register(
            email=email, password=PASSWORD, display_name="Temp", roles=list(roles) or ["client"]
        )["user_id"]


def fresh_refresh_token(platform, world: World) -> str:
    with platform.rpc() as rpc:
        return rpc.identity.login(email=world.users["bystander"]["email"], password=PASSWORD)[
            "refresh_token"
        ]


def key() -> str:
    return uuid.uuid4().hex


def operations(ok_health=ANYONE) -> dict[str, Rule]:
    return {
        "health": Rule(lambda w, p: {}, ok_health),
        "list_dead_letters": Rule(lambda w, p: {}, OPERATOR),
        "replay_dead_letters": Rule(lambda w, p: {"ids": [987654]}, OPERATOR),
    }


IDENTITY = {
    "register": Rule(
        lambda w, p: {
            "email": f"r-{key()[:10]}@reliability.test",
            "password": PASSWORD,
            "display_name": "New",
            "roles": ["client"],
        },
        ANYONE,
    ),
    "login": Rule(
        lambda w, p: {"email": w.users["bystander"]["email"], "password": PASSWORD}, ANYONE
    ),
    "refresh": Rule(lambda w, p: {"refresh_token": fresh_refresh_token(p, w)}, ANYONE),
    "logout": Rule(lambda w, p: {"refresh_token": fresh_refresh_token(p, w)}, ANYONE),
    "public_keys": Rule(lambda w, p: {}, ANYONE),
    "me": Rule(lambda w, p: {}, SIGNED_IN),
    "get_profile": Rule(lambda w, p: {"user_id": w.uid("freelancer")}, ANYONE),
    "update_profile": Rule(
        lambda w, p: {"user_id": w.uid("freelancer"), "display_name": "Fred F."},
        frozenset({"freelancer", "operator"}),
    ),
    "list_skills": Rule(lambda w, p: {}, ANYONE),
    "add_role": Rule(lambda w, p: {"role": "client"}, SIGNED_IN),
    "change_password": Rule(
        lambda w, p: {"current_password": "not the password", "new_password": PASSWORD + "x"},
        SIGNED_IN,
    ),
    "request_email_verification": Rule(lambda w, p: {}, SIGNED_IN),
    "verify_email": Rule(lambda w, p: {"user_id": w.uid("bystander"), "code": "123456"}, ANYONE),
    "create_staff_account": Rule(
        lambda w, p: {
            "email": f"s-{key()[:10]}@reliability.test",
            "password": PASSWORD,
            "display_name": "Staff",
            "roles": ["auditor"],
        },
        OPERATOR,
    ),
    "verify_identity": Rule(
        lambda w, p: {"user_id": w.uid("bystander"), "method": "government_id"}, OPERATOR
    ),
    "verify_payment_method": Rule(
        lambda w, p: {"user_id": w.uid("bystander"), "provider_reference": "ref-1"}, OPERATOR
    ),
    "suspend": Rule(lambda w, p: {"user_id": fresh_user(p), "reason": "spam"}, OPERATOR),
    "reinstate": Rule(lambda w, p: {"user_id": w.uid("bystander"), "reason": "ok"}, OPERATOR),
    "rotate_keys": Rule(lambda w, p: {}, OPERATOR),
    **operations(),
}

JOBS = {
    "create_job": Rule(
        lambda w, p: {
            "title": "Another site",
            "description": "A small site for a bakery, with an online order form.",
            "category": "web-mobile-software-dev",
            "subcategory": "web-development",
            "skills": ["python"],
            "experience_level": "entry",
            "project_length": "less_than_1_month",
            "budget": {"type": "fixed", "amount": usd(50_00)},
        },
        CLIENTS,
    ),
    "update_job": Rule(
        lambda w, p: {"job_id": w.ids["job2"], "changes": {"title": "Second booking site, v2"}},
        frozenset({"client"}),
    ),
    "publish_job": Rule(lambda w, p: {"job_id": w.ids["draft_job"]}, frozenset({"client"})),
    "close_job": Rule(
        lambda w, p: {"job_id": w.ids["draft_job"], "reason": "cancelled"},
        frozenset({"client", "operator"}),
    ),
    "get_job": Rule(lambda w, p: {"job_id": w.ids["job2"]}, ANYONE),
    "job_history": Rule(lambda w, p: {"job_id": w.ids["job2"]}, ANYONE),
    "list_my_jobs": Rule(lambda w, p: {}, CLIENTS),
    "list_categories": Rule(lambda w, p: {}, ANYONE),
    "invite_freelancer": Rule(
        lambda w, p: {"job_id": w.ids["job2"], "freelancer_id": w.uid("other_freelancer")},
        frozenset({"client"}),
    ),
    # acts on the caller's own invitation: anyone else simply has none (NotFound)
    "decline_invitation": Rule(lambda w, p: {"job_id": w.ids["job2"]}, SIGNED_IN),
    "search_jobs": Rule(lambda w, p: {"keywords": "booking"}, ANYONE),
    "recommend_jobs": Rule(lambda w, p: {}, FREELANCERS),
    "save_search": Rule(lambda w, p: {"name": f"s {key()[:6]}", "query": {}}, SIGNED_IN),
    "list_saved_searches": Rule(lambda w, p: {}, SIGNED_IN),
    # acts on the caller's own saved searches: someone else's id is not found
    "delete_saved_search": Rule(
        lambda w, p: {"search_id": w.ids["search"]},
        frozenset({"client"}),
        hidden=SIGNED_IN - {"client"},
    ),
    **operations(),
}

PROPOSAL_READERS = frozenset({"client", "freelancer"}) | STAFF
BIDDING = {
    "connects_balance": Rule(
        lambda w, p: {"freelancer_id": w.uid("freelancer")}, FREELANCER | STAFF
    ),
    "purchase_connects": Rule(lambda w, p: {"bundle": 10}, FREELANCERS),
    "quote_proposal": Rule(lambda w, p: {"job_id": w.ids["job2"]}, FREELANCERS),
    "submit_proposal": Rule(
        lambda w, p: {
            "job_id": w.ids["job2"],
            "cover_letter": "I can do this well and quickly.",
            "bid": usd(70_00),
            "estimated_duration": "less_than_1_month",
        },
        FREELANCERS,
    ),
    "withdraw_proposal": Rule(
        lambda w, p: {"proposal_id": w.ids["other_proposal"], "reason": "other"},
        frozenset({"other_freelancer"}),
    ),
    "get_proposal": Rule(
        lambda w, p: {"proposal_id": w.ids["proposal2"]},
        PROPOSAL_READERS,
        hidden=SIGNED_IN - PROPOSAL_READERS,
    ),
    "list_proposals": Rule(
        lambda w, p: {"job_id": w.ids["job2"]},
        frozenset({"client"}) | STAFF,
    ),
    "my_proposals": Rule(lambda w, p: {}, SIGNED_IN),
    "shortlist_proposal": Rule(
        lambda w, p: {"proposal_id": w.ids["proposal2"]},
        frozenset({"client"}),
    ),
    "archive_proposal": Rule(
        lambda w, p: {"proposal_id": w.ids["proposal2"]},
        frozenset({"client"}),
    ),
    "decline_proposal": Rule(
        lambda w, p: {"proposal_id": w.ids["other_proposal"], "reason": "other"},
        frozenset({"client"}),
    ),
    "message_proposal": Rule(
        lambda w, p: {"proposal_id": w.ids["proposal2"]},
        frozenset({"client"}),
    ),
    "send_offer": Rule(
        lambda w, p: {
            "job_id": w.ids["job2"],
            "freelancer_id": w.uid("other_freelancer"),
            "kind": "fixed",
            "milestones": [{"title": "All of it", "amount": usd(60_00)}],
            "start_date": START.date().isoformat(),
        },
        frozenset({"client"}),
    ),
    "withdraw_offer": Rule(lambda w, p: {"offer_id": w.ids["offer"]}, frozenset({"client"})),
    "accept_offer": Rule(lambda w, p: {"offer_id": w.ids["offer"]}, frozenset({"freelancer"})),
    "decline_offer": Rule(
        lambda w, p: {"offer_id": w.ids["offer"], "reason": "other"}, frozenset({"freelancer"})
    ),
    "get_offer": Rule(
        lambda w, p: {"offer_id": w.ids["offer"]},
        PARTIES | STAFF,
        hidden=SIGNED_IN - PARTIES - STAFF,
    ),
    "list_offers": Rule(lambda w, p: {}, SIGNED_IN),
    **operations(),
}


def contract_args(**extra):
    return lambda w, p: {"contract_id": w.ids["contract"], **extra}


def milestone_args(**extra):
    return lambda w, p: {
        "contract_id": w.ids["contract"],
        "milestone_id": w.ids["milestone"],
        **extra,
    }


ESCROW = {
    "deposit": Rule(lambda w, p: {"amount": usd(10_00)}, SIGNED_IN),
    "withdraw": Rule(lambda w, p: {"amount": usd(10_00)}, SIGNED_IN),
    "wallet": Rule(lambda w, p: {}, SIGNED_IN),
    "confirm_provider_payment": Rule(
        lambda w, p: {"operation": "deposit", "operation_id": str(uuid.uuid4())}, OPERATOR
    ),
    "provider_notification": Rule(
        lambda w, p: {
            "operation": "deposit",
            "operation_id": str(uuid.uuid4()),
            "user_id": w.uid("client"),
            "currency": "USD",
            "status": "confirmed",
            "provider_reference": "ref-x",
            "amount": usd(10_00),
        },
        OPERATOR,
    ),
    "get_contract": Rule(contract_args(), PARTIES | STAFF),
    "list_contracts": Rule(lambda w, p: {}, SIGNED_IN),
    "add_milestone": Rule(contract_args(title="Extra", amount=usd(5_00)), CLIENT),
    "fund_milestone": Rule(milestone_args(), CLIENT),
    "submit_work": Rule(milestone_args(message="done"), FREELANCER),
    "request_changes": Rule(milestone_args(message="more"), CLIENT),
    "approve_milestone": Rule(milestone_args(), CLIENT),
    "request_refund": Rule(milestone_args(amount=usd(1_00), reason="late"), CLIENT),
    "accept_refund": Rule(contract_args(refund_id=str(uuid.uuid4())), FREELANCER),
    "log_time": Rule(
        contract_args(start=START.isoformat(), end=START.replace(hour=10).isoformat()),
        FREELANCER,
    ),
    "delete_time": Rule(contract_args(segment_id=str(uuid.uuid4())), FREELANCER),
    "pay_invoice": Rule(contract_args(week_start=START.isoformat()), CLIENT),
    "pay_bonus": Rule(contract_args(amount=usd(1_00), reason="thanks"), CLIENT),
    "pause_contract": Rule(contract_args(reason="break"), CLIENT),
    "resume_contract": Rule(contract_args(), CLIENT),
    "open_dispute": Rule(
        lambda w, p: {
            "contract_id": w.ids["contract"],
            "target_kind": "milestone",
            "target_id": w.ids["milestone"],
            "reason": "not delivered",
        },
        CLIENT,  # a milestone is disputed by the client; the freelancer disputes refunds
    ),
    "resolve_dispute": Rule(
        contract_args(dispute_id=str(uuid.uuid4()), refund=usd(0), release=usd(0)), OPERATOR
    ),
    "withdraw_dispute": Rule(contract_args(dispute_id=str(uuid.uuid4())), PARTIES),
    "ledger": Rule(
        lambda w, p: {"account": f"contract_escrow:{w.ids['contract']}"}, PARTIES | STAFF
    ),
    "audit_verify": Rule(lambda w, p: {}, STAFF),
    "audit_as_of": Rule(
        lambda w, p: {"table": "escrow_contracts", "at": "2026-01-01T00:00:00+00:00"}, STAFF
    ),
    # runs last among escrow's methods (see LAST)
    "end_contract": Rule(contract_args(reason="done"), PARTIES),
    **operations(),
}

MESSAGING = {
    # the client asking for a room with themself is a ValidationError, past the check
    "open_room": Rule(lambda w, p: {"other_user_id": w.uid("client")}, PARTIES),
    "list_rooms": Rule(lambda w, p: {}, SIGNED_IN),
    "get_room": Rule(lambda w, p: {"room_id": w.ids["room"]}, PARTIES),
    "request_room_access": Rule(
        lambda w, p: {"room_id": w.ids["room"], "reason": "audit sample"},
        # participants already read the room: a Conflict that grants nothing
        STAFF | PARTIES,
    ),
    "send_message": Rule(lambda w, p: {"room_id": w.ids["room"], "body": "hi"}, PARTIES),
    "edit_message": Rule(
        lambda w, p: {"message_id": w.ids["message"], "body": "Hello again"}, FREELANCER
    ),
    "list_messages": Rule(lambda w, p: {"room_id": w.ids["room"]}, PARTIES),
    # auditors, and operators only with access recorded for a dispute
    "message_history": Rule(lambda w, p: {"message_id": w.ids["message"]}, frozenset({"auditor"})),
    "mark_read": Rule(
        lambda w, p: {"room_id": w.ids["room"], "message_id": w.ids["message"]}, PARTIES
    ),
    "upload_attachment": Rule(
        lambda w, p: {"room_id": w.ids["room"], "filename": "a.txt", "content": "aGVsbG8="},
        PARTIES,
    ),
    "get_attachment": Rule(lambda w, p: {"attachment_id": w.ids["attachment"]}, FREELANCER),
    "delete_message": Rule(lambda w, p: {"message_id": w.ids["message"]}, FREELANCER),
    **operations(),
}

REPUTATION = {
    "leave_feedback": Rule(
        contract_args(
            rating=5,
            criteria={"communication": 5, "cooperation": 4},
            private_feedback={"end_reason": "work_completed", "would_recommend": 9},
        ),
        PARTIES,
    ),
    "reply_to_feedback": Rule(contract_args(text="Thank you"), PARTIES),
    "get_feedback": Rule(contract_args(), SIGNED_IN),
    "list_feedback": Rule(lambda w, p: {"user_id": w.uid("freelancer")}, SIGNED_IN),
    "get_score": Rule(lambda w, p: {"freelancer_id": w.uid("freelancer")}, SIGNED_IN),
    "explain_score": Rule(lambda w, p: {"freelancer_id": w.uid("freelancer")}, FREELANCER | STAFF),
    "client_stats": Rule(lambda w, p: {"client_id": w.uid("client")}, SIGNED_IN),
    **operations(),
}

EXPECTATIONS: dict[str, dict[str, Rule]] = {
    "identity": IDENTITY,
    "jobs": JOBS,
    "bidding": BIDDING,
    "escrow": ESCROW,
    "messaging": MESSAGING,
    "reputation": REPUTATION,
}

# calls that change what other entries rely on run after the rest of their service
LAST = {"rotate_keys", "end_contract", "delete_message", "accept_offer", "decline_offer"}

DENIED = (NotAuthenticated, Forbidden)
ARGUMENT_ERRORS = (ValidationError, NotFound, Conflict)


def call(platform, world: World, role: str, service: str, method: str, args: dict):
    """The outcome of one call: ('result', value) or ('error', exception)."""
    proxy, _ = platform.caller(role, world.contexts[role])
    try:
        return "result", getattr(getattr(proxy, service), method)(**args)
    except Exception as exc:  # classified by the caller
        return "error", exc


def judge(expected: str, outcome: tuple) -> str | None:
    """None when the outcome fits ``expected``, else why not."""
    kind, value = outcome
    if isinstance(value, RemoteError) or (kind == "error" and not isinstance(value, Exception)):
        return f"untyped error {value!r}"
    if expected == "deny":
        if kind == "error" and isinstance(value, DENIED):
            return None
        return f"expected refusal, got {kind} {value!r}"[:300]
    if expected == "hidden":
        if kind == "error" and isinstance(value, NotFound):
            return None
        return f"expected NotFound (hidden), got {kind} {value!r}"[:300]
    if kind == "result" or isinstance(value, ARGUMENT_ERRORS):
        return None
    return f"expected to pass the access check, got {value!r}"[:300]


def test_every_rpc_method_has_an_expectation():
    for service, cls in SERVICE_CLASSES.items():
        methods = set(rpc_methods(cls))
        table = set(EXPECTATIONS[service])
        assert methods - table == set(), f"{service}: methods with no expectation"
        assert table - methods == set(), f"{service}: expectations for no method"


def ordered(service: str) -> list[str]:
    names = list(EXPECTATIONS[service])
    return [n for n in names if n not in LAST] + [n for n in names if n in LAST]


# escrow last: its allowed ``end_contract`` makes the contract room read-only
@pytest.mark.parametrize(
    "service", ["identity", "jobs", "bidding", "messaging", "reputation", "escrow"]
)
def test_access_matrix(service, platform, world, tally):
    table = EXPECTATIONS[service]
    failures = []
    # phase 1: every refusal on the untouched world
    for method in ordered(service):
        rule = table[method]
        for role in ROLES:
            expected = rule.expect(role)
            if expected == "ok":
                continue
            outcome = call(platform, world, role, service, method, rule.args(world, platform))
            problem = judge(expected, outcome)
            tally.role_cases[expected] += 1
            tally.methods.add(f"{service}.{method}")
            if problem:
                failures.append(f"{service}.{method} as {role}: {problem}")
    # phase 2: the allowed callers, owners last
    for method in ordered(service):
        rule = table[method]
        for role in ALLOWED_ORDER:
            if rule.expect(role) != "ok":
                continue
            outcome = call(platform, world, role, service, method, rule.args(world, platform))
            problem = judge("ok", outcome)
            tally.role_cases["ok"] += 1
            tally.methods.add(f"{service}.{method}")
            if problem:
                failures.append(f"{service}.{method} as {role}: {problem}")
    tally.let_through.extend(f for f in failures if "expected refusal" in f)
    assert not failures, "\n".join(failures)


# -- refusals still hold once the world has moved on -------------------------------------------


GRANTED_BY_THE_MATRIX = {
    ("messaging", "get_room", "auditor"): "ok",
    ("messaging", "list_messages", "auditor"): "ok",
}


def test_refusals_hold_after_the_world_changed(platform, world, tally):
    """The matrix's allowed calls closed a job, answered offers, ended the contract and made
    its room read-only: a caller refused before must still be refused, not told about the
    new state (a Conflict or NotFound in place of Forbidden)."""
    failures = []
    for service, table in EXPECTATIONS.items():
        for method in ordered(service):
            rule = table[method]
            for role in ROLES:
                expected = rule.expect(role)
                if expected == "ok":
                    continue
                # the matrix's own allowed request_room_access recorded the auditor's review
                expected = GRANTED_BY_THE_MATRIX.get((service, method, role), expected)
                outcome = call(platform, world, role, service, method, rule.args(world, platform))
                tally.role_cases[f"{expected}_after_changes"] += 1
                problem = judge(expected, outcome)
                if problem:
                    failures.append(f"{service}.{method} as {role}: {problem}")
    tally.let_through.extend(f for f in failures if "expected refusal" in f)
    assert not failures, "\n".join(failures)


def test_sealed_feedback_is_shown_to_nobody_but_its_author_and_staff(platform, world):
    """Feedback is double-blind: until both sides have written (or the window closes), the
    other party and strangers see that it exists, never what it says (operators and
    auditors see everything, by reputation's documented visibility rules)."""
    client, _ = platform.caller("client", world.contexts["client"])
    secret = f"sealed words {uuid.uuid4().hex}"
    criteria = ("skills", "quality", "availability", "deadlines", "communication", "cooperation")
    # the matrix ended the contract; reputation learns it from escrow's event
    wait_until(
        lambda: client.reputation.leave_feedback(
            contract_id=world.ids["contract"],
            rating=4,
            criteria=dict.fromkeys(criteria, 4),
            comment=secret,
            private_feedback={"end_reason": "work_completed", "would_recommend": 8},
            idempotency_key="sealed-feedback",
        ),
        what="feedback accepted on the ended contract",
    )
    assert secret in repr(client.reputation.get_feedback(contract_id=world.ids["contract"]))
    for role in ("freelancer", "other_client", "other_freelancer"):
        proxy, _ = platform.caller(role, world.contexts[role])
        seen = proxy.reputation.get_feedback(contract_id=world.ids["contract"])
        assert secret not in repr(seen), role
        listed = proxy.reputation.list_feedback(user_id=world.uid("freelancer"))
        assert secret not in repr(listed), role


# -- no private data of another user in any response -----------------------------------------


def test_responses_hold_no_other_users_private_data(platform, world):
    ids = world.ids
    as_ = {r: platform.caller(r, world.contexts[r])[0] for r in ROLES}

    # a freelancer's own listing never shows another freelancer's proposal
    for role in ("freelancer", "other_freelancer"):
        listed = as_[role].bidding.my_proposals()["proposals"]
        assert listed and {p["freelancer_id"] for p in listed} == {world.uid(role)}
        assert {ids["proposal"], ids["proposal2"], ids["other_proposal"]} & {
            p["proposal_id"] for p in listed
        } == (
            {ids["other_proposal"]}
            if role == "other_freelancer"
            else {ids["proposal"], ids["proposal2"]}
        )
    for role in ("other_client", "other_freelancer"):
        offers = as_[role].bidding.list_offers()["offers"]
        assert all(world.uid(role) in (o["client_id"], o["freelancer_id"]) for o in offers)
        assert not {ids["offer"], ids["hired_offer"]} & {o["offer_id"] for o in offers}
        with pytest.raises(DENIED):
            as_[role].escrow.get_contract(contract_id=ids["contract"])
        assert ids["contract"] not in {
            k["contract_id"] for k in as_[role].escrow.list_contracts()["contracts"]
        }
        assert ids["room"] not in {r["room_id"] for r in as_[role].messaging.list_rooms()["rooms"]}
        with pytest.raises(DENIED):
            as_[role].messaging.list_messages(room_id=ids["room"])
        with pytest.raises((*DENIED, NotFound)):
            as_[role].messaging.get_attachment(attachment_id=ids["attachment"])
        with pytest.raises(DENIED):
            as_[role].escrow.ledger(account=f"client_wallet:{world.uid('client')}")
        me = as_[role].identity.me()
        assert me["user_id"] == world.uid(role)
        searches = as_[role].jobs.list_saved_searches()
        assert ids["search"] not in {s["search_id"] for s in searches}
    # another user's wallet is never shown: the wallet is always the caller's own
    assert as_["other_client"].escrow.wallet()["user_id"] == world.uid("other_client")
    # a public profile leaves out the email and the account's private standing
    profile = as_["other_client"].identity.get_profile(user_id=world.uid("freelancer"))
    assert "email" not in profile and "completeness" not in profile
    # the client's inbox for a job shows no fee or connects spent by freelancers
    inbox = as_["client"].bidding.list_proposals(job_id=ids["job"])["proposals"]
    assert inbox and all("connects_spent" not in p and "fee" not in p for p in inbox)


# -- suspension: identity's UserSuspended reaches every service ------------------------------


def test_a_suspended_user_is_refused_by_every_non_anonymous_method(platform, world, tally):
    operator, _ = platform.caller("operator", world.contexts["operator"])
    suspended = world.uid("suspended")
    operator.identity.suspend(user_id=suspended, reason="fraud review")
    for service in SERVICE_CLASSES:
        if service == "identity":
            continue
        wait_until(
            lambda s=service: platform.scalar(
                s, "SELECT count(*) FROM suspended_users WHERE user_id = %s", (suspended,)
            ),
            what=f"{service} learnt of the suspension",
        )
    failures = []
    for service, table in EXPECTATIONS.items():
        for method in ordered(service):
            rule = table[method]
            if rule.expect("anonymous") == "ok":
                continue
            outcome = call(
                platform, world, "suspended", service, method, rule.args(world, platform)
            )
            problem = judge("deny", outcome)
            tally.role_cases["suspended"] += 1
            if problem:
                failures.append(f"{service}.{method} as a suspended user: {problem}")
    tally.let_through.extend(failures)
    assert not failures, "\n".join(failures)
