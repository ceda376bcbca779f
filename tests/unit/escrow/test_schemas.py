"""Input schemas: every RPC argument set and the consumed OfferAccepted event."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.escrow import schemas as s
from shared.errors import ValidationError
from shared.money import Money
from shared.schemas import load

USD = {"amount": 1_000, "currency": "USD"}


def rejects(schema, data, field):
    with pytest.raises(ValidationError) as info:
        load(schema(), data)
    assert field in info.value.fields, info.value.fields


def offer(**changes):
    data = {
        "offer_id": "o-1",
        "proposal_id": None,
        "job_id": "j-1",
        "client_id": "c-1",
        "freelancer_id": "f-1",
        "kind": "fixed",
        "currency": "USD",
        "terms": {"milestones": [{"title": "One", "amount": USD, "due_date": "2026-02-01"}]},
    }
    data.update(changes)
    return data


def test_offer_accepted_loads_money_and_dates():
    loaded = load(s.OfferAcceptedSchema(), offer())
    milestone = loaded["terms"]["milestones"][0]
    assert milestone["amount"] == Money(1_000, "USD")
    assert milestone["due_date"] == date(2026, 2, 1)


def test_offer_currency_may_sit_inside_the_terms():
    data = offer(currency=None)
    del data["currency"]
    data["terms"]["currency"] = "USD"
    assert load(s.OfferAcceptedSchema(), data)["currency"] == "USD"
    data["terms"]["currency"] = "EUR"
    data["currency"] = "USD"
    rejects(s.OfferAcceptedSchema, data, "currency")


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"kind": "retainer"}, "kind"),
        ({"currency": "XYZ"}, "currency"),
        ({"extra": 1}, "extra"),
        ({"offer_id": "x" * 65}, "offer_id"),
        ({"terms": {"milestones": []}}, "terms"),
        (
            {"terms": {"milestones": [{"title": "a", "amount": {"amount": 0, "currency": "USD"}}]}},
            "terms",
        ),
        (
            {"terms": {"milestones": [{"title": "a", "amount": {"amount": 5, "currency": "EUR"}}]}},
            "terms",
        ),
        ({"kind": "hourly", "terms": {"hourly_rate": USD}}, "terms"),
        ({"kind": "hourly", "terms": {"hourly_rate": USD, "weekly_limit_hours": 169}}, "terms"),
    ],
)
def test_bad_offers_are_refused(changes, field):
    rejects(s.OfferAcceptedSchema, offer(**changes), field)


def test_amounts_must_be_positive_integers_of_a_known_currency():
    ok = load(s.DepositSchema(), {"amount": USD, "idempotency_key": "k"})
    assert ok["amount"] == Money(1_000, "USD")
    for bad in (
        {"amount": 0, "currency": "USD"},
        {"amount": -1, "currency": "USD"},
        {"amount": 10.5, "currency": "USD"},
        {"amount": "10", "currency": "USD"},
        {"amount": True, "currency": "USD"},
        {"amount": 10**12, "currency": "USD"},
        {"amount": 10, "currency": "BTC"},
    ):
        rejects(s.DepositSchema, {"amount": bad}, "amount")
    rejects(s.DepositSchema, {"amount": USD, "idempotency_key": ""}, "idempotency_key")


def test_every_mutating_schema_takes_an_optional_idempotency_key():
    mutating = [
        s.DepositSchema,
        s.WithdrawSchema,
        s.AddMilestoneSchema,
        s.FundMilestoneSchema,
        s.SubmitWorkSchema,
        s.RequestChangesSchema,
        s.ApproveMilestoneSchema,
        s.LogTimeSchema,
        s.PayBonusSchema,
        s.PauseContractSchema,
        s.ResumeContractSchema,
        s.EndContractSchema,
        s.OpenDisputeSchema,
        s.ResolveDisputeSchema,
        s.WithdrawDisputeSchema,
        s.RequestRefundSchema,
        s.AcceptRefundSchema,
        s.DeleteTimeSchema,
        s.PayInvoiceSchema,
    ]
    for schema in mutating:
        assert "idempotency_key" in schema().fields, schema.__name__
        assert schema().fields["idempotency_key"].load_default is None


def test_log_time_needs_aware_ordered_times():
    ok = load(
        s.LogTimeSchema(),
        {"contract_id": "c", "start": "2026-01-05T10:00:00+02:00", "end": "2026-01-05T09:00:00Z"},
    )
    assert ok["start"] == datetime(2026, 1, 5, 8, 0, tzinfo=UTC) and ok["manual"] is True
    rejects(
        s.LogTimeSchema,
        {"contract_id": "c", "start": "2026-01-05T10:00:00", "end": "2026-01-05T11:00:00Z"},
        "start",
    )
    rejects(
        s.LogTimeSchema,
        {"contract_id": "c", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T10:00:00Z"},
        "end",
    )
    rejects(
        s.LogTimeSchema,
        {
            "contract_id": "c",
            "start": "2026-01-05T10:00:00Z",
            "end": "2026-01-05T11:00:00Z",
            "memo": "m" * 501,
        },
        "memo",
    )


def test_dispute_and_resolution_schemas():
    rejects(
        s.OpenDisputeSchema,
        {"contract_id": "c", "target_kind": "job", "target_id": "x", "reason": "r"},
        "target_kind",
    )
    rejects(
        s.OpenDisputeSchema,
        {"contract_id": "c", "target_kind": "milestone", "target_id": "x", "reason": ""},
        "reason",
    )
    base = {"contract_id": "c", "dispute_id": "d", "refund": USD}
    assert load(s.ResolveDisputeSchema(), {**base, "release": {"amount": 0, "currency": "USD"}})
    rejects(
        s.ResolveDisputeSchema, {**base, "release": {"amount": -1, "currency": "USD"}}, "release"
    )
    rejects(
        s.ResolveDisputeSchema, {**base, "release": {"amount": 1, "currency": "EUR"}}, "release"
    )


def test_paging_and_ledger_bounds():
    assert load(s.ListContractsSchema(), {})["limit"] == 50
    rejects(s.ListContractsSchema, {"limit": 201}, "limit")
    rejects(s.ListContractsSchema, {"status": "open"}, "status")
    assert load(s.LedgerSchema(), {"account": "client_wallet:u"})["as_of"] is None
    rejects(s.LedgerSchema, {"account": "a", "limit": 0}, "limit")
    rejects(s.LedgerSchema, {}, "account")


def test_provider_notification_needs_an_amount_to_confirm_a_deposit():
    base = {
        "operation": "deposit",
        "operation_id": "d",
        "user_id": "u",
        "currency": "USD",
        "status": "confirmed",
        "provider_reference": "pi_1",
    }
    rejects(s.ProviderNotificationSchema, base, "amount")
    assert load(s.ProviderNotificationSchema(), {**base, "amount": USD})["amount"].amount == 1_000
    assert load(s.ProviderNotificationSchema(), {**base, "status": "failed"})["reason"] == ""
