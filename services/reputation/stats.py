"""Client stats: jobs posted, hire rate, total spent, ratings given and received, payment
verification. Pure functions of reputation's histories, as of any moment."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.reputation.domain import CLIENT, FREELANCER, average_centi
from services.reputation.projections import ContractHistory, MemberHistory
from shared.clock import iso


def rating_average(ratings: list[int]) -> dict:
    """Count, sum and the average in hundredths rounded half up (None with no ratings);
    the exact fraction is sum / count."""
    count, total = len(ratings), sum(ratings)
    return {"count": count, "sum": total, "average_hundredths": average_centi(total, count)}


def _client_contracts(
    client_id: str, histories: Iterable[ContractHistory], as_of: datetime | None
) -> list[ContractHistory]:
    return [
        h
        for h in histories
        if h.client_id == client_id
        and h.started_at is not None
        and (as_of is None or h.started_at <= as_of)
    ]


def ratings_exchanged(
    client_id: str, histories: Iterable[ContractHistory], as_of: datetime | None = None
) -> tuple[list[int], list[int]]:
    """(ratings the client gave, ratings the client received): revealed feedback on the
    client's contracts where money was paid, the same feedback the public sees, as of
    ``as_of`` (None: every fact in the log)."""
    given: list[int] = []
    received: list[int] = []
    for history in _client_contracts(client_id, histories, as_of):
        if not (history.payments if as_of is None else history.paid_by(as_of)):
            continue
        mine = history.feedback.get(CLIENT)
        theirs = history.feedback.get(FREELANCER)
        for fact, into in ((mine, given), (theirs, received)):
            if fact is None or fact.revealed_at is None:
                continue
            if as_of is None or fact.revealed_by(as_of):
                into.append(fact.rating)
    return given, received


def client_stats(
    client_id: str,
    member: MemberHistory | None,
    histories: Iterable[ContractHistory],
    as_of: datetime,
) -> dict:
    """A client's stats as of ``as_of``.

    Hire rate counts posted jobs that led to at least one contract. Ratings count only
    revealed feedback on contracts where money was paid, the same feedback the public sees.
    """
    contracts = _client_contracts(client_id, histories, as_of)
    posted = {job: at for job, at in (member.jobs_posted.items() if member else ()) if at <= as_of}
    hired_jobs = {h.job_id for h in contracts if h.job_id in posted}
    spent: dict[str, int] = {}
    for history in contracts:
        for payment in history.payments_by(as_of):
            currency = payment.amount.currency
            spent[currency] = spent.get(currency, 0) + payment.amount.amount
    given, received = ratings_exchanged(client_id, contracts, as_of)
    verified_at = member.payment_verified_at if member else None
    registered_at = member.registered_at if member else None
    return {
        "client_id": client_id,
        "as_of": iso(as_of),
        "jobs_posted": len(posted),
        "hires": len(contracts),
        "hired_jobs": len(hired_jobs),
        "hire_rate_percent": (
            (200 * len(hired_jobs) + len(posted)) // (2 * len(posted)) if posted else None
        ),
        "total_spent": [
            {"amount": amount, "currency": currency} for currency, amount in sorted(spent.items())
        ],
        "rating_given": rating_average(given),
        "rating_received": rating_average(received),
        "payment_verified": verified_at is not None and verified_at <= as_of,
        "member_since": iso(registered_at) if registered_at is not None else None,
    }
