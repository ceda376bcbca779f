"""The RPC client: signs in through identity, calls as the user, refreshes an expiring
token, and signs in again when its session is gone; plus the gateway's documents over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.gateway.client import MarketplaceClient
from services.gateway.openapi import openapi_document
from services.gateway.routes import ROUTES
from services.gateway.service import GatewayService
from shared.clock import manual_clock
from shared.errors import Forbidden
from tests.gateway.conftest import PASSWORD, START, fixed_job


def test_the_client_calls_as_the_user_and_keeps_its_token_fresh(api, platform):
    config = {"AMQP_URI": platform.amqp_uri}
    email = "ada@gateway.test"
    registered = MarketplaceClient.register(
        config, email=email, password=PASSWORD, display_name="Ada", roles=["client"]
    )
    clock = lambda: manual_clock.now().timestamp()  # noqa: E731 - the services' clock
    with MarketplaceClient(config, email, PASSWORD, clock=clock) as rpc:
        assert rpc.client.user_id == registered["user_id"]
        assert rpc.identity.me()["user_id"] == registered["user_id"]
        job = rpc.jobs.create_job(**fixed_job(), idempotency_key="client-job")
        assert rpc.jobs.get_job(job_id=job["job_id"])["client_id"] == registered["user_id"]
        with pytest.raises(Forbidden):  # typed errors come back as themselves
            rpc.bidding.submit_proposal(
                job_id=job["job_id"],
                cover_letter="A client cannot propose.",
                bid={"amount": 100_00, "currency": "USD"},
                estimated_duration="1_to_3_months",
            )

        first = rpc.client.access_token
        manual_clock.set(START + timedelta(minutes=20))  # past the 15 minute access token
        assert rpc.identity.me()["user_id"] == registered["user_id"]
        refreshed = rpc.client.access_token
        assert refreshed != first

        manual_clock.set(START + timedelta(days=40))  # past the 30 day session too
        assert rpc.identity.me()["user_id"] == registered["user_id"]
        assert rpc.client.access_token not in (first, refreshed)


@pytest.fixture
def gateway_alone(rabbit_config, web_config, container_factory, web_session):
    container = container_factory(
        GatewayService,
        {**web_config, "AMQP_URI": rabbit_config["AMQP_URI"], "MAX_UPLOAD_BYTES": 1000},
    )
    container.start()
    return web_session


def test_the_openapi_document_and_docs_page_are_served(gateway_alone):
    served = gateway_alone.get("/openapi.json")
    assert served.status_code == 200 and served.headers["Content-Type"] == "application/json"
    assert served.json() == openapi_document()
    page = gateway_alone.get("/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    for route in ROUTES:
        assert f"<code>{route.path}</code>" in html
    # self-contained: nothing to fetch from anywhere
    assert "<script" not in html and "src=" not in html and "http://" not in html
    assert "https://" not in html and "<link" not in html


def test_a_service_that_is_not_running_is_a_503(gateway_alone):
    response = gateway_alone.get("/v1/jobs")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


def test_an_upload_over_the_gateway_limit_is_a_413(gateway_alone):
    response = gateway_alone.post(
        "/v1/rooms/room-1/attachments", files={"file": ("big.bin", b"x" * 5000)}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_entity_too_large"
