"""Who sees which feedback, when: the double-blind rule as a pure function.

- The author always sees their own feedback, private part included.
- The other party sees it, public part only, once it is revealed.
- Anyone else sees the public part once revealed, and only if money was paid on the
  contract (feedback on an unpaid contract stays off public profiles).
- Operators and auditors see everything, private feedback to the platform included.
"""

from __future__ import annotations

from datetime import datetime

from services.reputation.domain import SIDES
from services.reputation.projections import ContractHistory, FeedbackFact
from shared.clock import iso, parse_time

STAFF_ROLES = frozenset({"operator", "auditor"})


def _public(fact: FeedbackFact, as_of: datetime) -> dict:
    body = {
        "side": fact.side,
        "author_id": fact.author_id,
        "subject_id": fact.subject_id,
        "rating": fact.rating,
        "criteria": dict(fact.criteria),
        "comment": fact.comment,
        "submitted_at": iso(fact.submitted_at),
        "revealed_at": iso(fact.revealed_at) if fact.revealed_by(as_of) else None,
        "reply": None,
    }
    if fact.reply is not None and parse_time(fact.reply["replied_at"]) <= as_of:
        body["reply"] = dict(fact.reply)
    return body


def feedback_view(
    history: ContractHistory,
    viewer_id: str | None,
    viewer_roles: frozenset[str] | set[str],
    as_of: datetime,
) -> dict:
    """The feedback of one contract as ``viewer_id`` may see it at ``as_of``.

    Each side is ``{"status": "pending" | "submitted" | "revealed", "feedback": dict|None}``;
    the status itself is not secret (knowing the other side submitted is part of the flow).
    """
    staff = bool(STAFF_ROLES & set(viewer_roles))
    party = viewer_id in (history.client_id, history.freelancer_id)
    paid = history.paid_by(as_of)
    sides = {}
    for side in SIDES:
        fact = history.feedback.get(side)
        if fact is None or fact.submitted_at > as_of:
            sides[side] = {"status": "pending", "feedback": None}
            continue
        revealed = fact.revealed_by(as_of)
        status = "revealed" if revealed else "submitted"
        shown = None
        if staff or fact.author_id == viewer_id:
            shown = _public(fact, as_of)
            shown["private"] = dict(fact.private)
        elif revealed and (party or paid):
            shown = _public(fact, as_of)
        sides[side] = {"status": status, "feedback": shown}
    return {
        "contract_id": history.contract_id,
        "as_of": iso(as_of),
        "ended_at": iso(history.ended_at) if history.ended_by(as_of) else None,
        "window_closes_at": iso(history.closes_at) if history.ended_by(as_of) else None,
        "paid": paid,
        "sides": sides,
    }


def public_feedback_about(
    user_id: str,
    histories: list[ContractHistory],
    as_of: datetime,
    about_role: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> dict:
    """``list_feedback``: revealed feedback about ``user_id`` on paid contracts, newest
    reveal first (ties by contract id), as anyone may see it at ``as_of``."""
    found = []
    for history in histories:
        if not history.paid_by(as_of):
            continue
        for fact in history.feedback.values():
            if fact.subject_id != user_id or not fact.revealed_by(as_of):
                continue
            role = "freelancer" if user_id == history.freelancer_id else "client"
            if about_role is not None and role != about_role:
                continue
            found.append((fact.revealed_at, history.contract_id, fact))
    found.sort(key=lambda item: (item[0], item[1]), reverse=True)
    page = found[offset : offset + limit]
    items = [dict(_public(fact, as_of), contract_id=cid) for _, cid, fact in page]
    return {"user_id": user_id, "total": len(found), "items": items}
