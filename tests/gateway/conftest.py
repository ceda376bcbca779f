"""The whole marketplace behind the gateway: each service in its own nameko container with
its own throwaway database, on one per-test RabbitMQ vhost, the manual clock shared by all,
identity's real tokens (the other services fetch its public keys over RPC), and the gateway
on a free port, called over HTTP with ``requests``."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import eventlet
import psycopg
import pytest

from services.bidding.service import BiddingService
from services.escrow.service import EscrowService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.jobs.service import JobsService
from services.messaging.service import MessagingService
from services.reputation.service import ReputationService
from shared.clock import manual_clock
from tests.service_configs import service_config as shared_service_config

# Monday 2 March 2026, 09:00 UTC.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PASSWORD = "a long gateway passphrase"
OPERATOR = {"email": "ops@gateway.test", "password": "operator passphrase 42"}
LOGIN_CAPACITY = 6
PROPOSAL_CAPACITY = 4

SERVICE_CLASSES = {
    "identity": IdentityService,
    "jobs": JobsService,
    "bidding": BiddingService,
    "escrow": EscrowService,
    "messaging": MessagingService,
    "reputation": ReputationService,
}


def wait_until(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        eventlet.sleep(0.05)
    raise AssertionError(f"{what} not met in {timeout}s")


def service_config(service: str, amqp_uri: str, dsn: str, tmp_path) -> dict:
    staff = [{**OPERATOR, "display_name": "Ops", "roles": ["operator"]}]
    return shared_service_config(
        service, amqp_uri, dsn, tmp_path / "blobs", staff, "gateway-test-secret"
    )


class Api:
    """HTTP calls to the gateway, as a user when given their token."""

    def __init__(self, session, platform: Platform):
        self.session = session
        self.platform = platform

    def request(self, method: str, path: str, token: str | None = None, headers=None, **kwargs):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, path, headers=headers, timeout=30, **kwargs)

    def get(self, path, token=None, **kwargs):
        return self.request("GET", path, token, **kwargs)

    def post(self, path, token=None, **kwargs):
        return self.request("POST", path, token, **kwargs)

    def ok(self, method: str, path: str, token=None, status=None, **kwargs):
        """The JSON body of a successful call (asserting the status)."""
        response = self.request(method, path, token, **kwargs)
        expected = status or (200, 201)
        expected = expected if isinstance(expected, tuple) else (expected,)
        assert response.status_code in expected, (method, path, response.status_code, response.text)
        return response.json()

    def user(self, *roles: str, name: str = "Someone") -> dict:
        """Register through the gateway and log in: ``{user_id, token, email}``."""
        email = f"{uuid.uuid4().hex[:12]}@gateway.test"
        registered = self.ok(
            "POST",
            "/v1/users",
            json={"email": email, "password": PASSWORD, "display_name": name, "roles": list(roles)},
        )
        return {**registered, "email": email, "token": self.login(email, PASSWORD)}

    def login(self, email: str, password: str) -> str:
        # straight to identity: the gateway's own login bucket is for the tests of limits
        with self.platform.rpc() as rpc:
            return rpc.identity.login(email=email, password=password)["access_token"]

    def operator(self) -> str:
        return self.login(OPERATOR["email"], OPERATOR["password"])


class Platform:
    def __init__(self, containers: dict, dsns: dict, amqp_uri: str):
        self.containers = containers
        self.dsns = dsns
        self.amqp_uri = amqp_uri

    def rpc(self, context_data=None):
        from nameko.standalone.rpc import ClusterRpcProxy

        return ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, context_data=context_data)

    def log_heads(self) -> dict[str, int]:
        """Each service's log head: how many events it has (nothing deletes from a log)."""
        heads = {}
        for service, dsn in self.dsns.items():
            with psycopg.connect(dsn, autocommit=True) as conn:
                heads[service] = conn.execute(
                    "SELECT coalesce(max(position), 0) FROM events"
                ).fetchone()[0]
        return heads

    def execute(self, service: str, sql: str, params=None):
        with psycopg.connect(self.dsns[service], autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else None


@pytest.fixture
def platform(rabbit_config, databases, web_config, tmp_path, container_factory):
    manual_clock.set(START)
    amqp_uri = rabbit_config["AMQP_URI"]
    containers, dsns = {}, {}
    for service, cls in SERVICE_CLASSES.items():
        dsns[service] = databases.create(service)
        containers[service] = container_factory(
            cls, service_config(service, amqp_uri, dsns[service], tmp_path)
        )
    gateway_config = {
        **web_config,
        "AMQP_URI": amqp_uri,
        "RATE_LIMITS": {
            "login": {"CAPACITY": LOGIN_CAPACITY, "PERIOD_SECONDS": 3600},
            "proposals": {"CAPACITY": PROPOSAL_CAPACITY, "PERIOD_SECONDS": 3600},
        },
    }
    containers["gateway"] = container_factory(GatewayService, gateway_config)
    for container in containers.values():
        container.start()
    yield Platform(containers, dsns, amqp_uri)
    # each container takes a second or so to stop; stopping them side by side saves the sum
    pool = eventlet.GreenPool()
    for container in containers.values():
        pool.spawn(container.stop)
    pool.waitall()


@pytest.fixture
def api(platform, web_session):
    return Api(web_session, platform)


def usd(amount: int) -> dict:
    return {"amount": amount, "currency": "USD"}


def fixed_job(**overrides) -> dict:
    """A valid ``POST /v1/jobs`` body for a fixed-price job, published at once."""
    body = {
        "title": "Build a Django booking site",
        "description": "We need a booking site for a small chain of yoga studios, with payments.",
        "category": "web-mobile-software-dev",
        "subcategory": "web-development",
        "skills": ["python", "Django"],
        "experience_level": "intermediate",
        "project_length": "1_to_3_months",
        "budget": {"type": "fixed", "amount": usd(500_00)},
        "visibility": "public",
        "publish": True,
    }
    body.update(overrides)
    return body


def proposal_on_a_new_job(api: Api, keyword: str = "booking") -> dict:
    """A client with a published job and a freelancer who proposed on it."""
    client, freelancer = api.user("client", name="Cleo"), api.user("freelancer", name="Fred")
    job = api.ok(
        "POST",
        "/v1/jobs",
        client["token"],
        json=fixed_job(title=f"Build a {keyword} site for studios"),
    )
    quote = {"job_id": job["job_id"], "bid": usd(450_00)}
    # bidding learns of the job from its event; quoting costs nothing, so it is the probe
    wait_until(
        lambda: api.post("/v1/proposals/quote", freelancer["token"], json=quote).ok,
        what="job listed in bidding",
    )
    proposal = api.ok(
        "POST",
        "/v1/proposals",
        freelancer["token"],
        json={
            "job_id": job["job_id"],
            "cover_letter": "I have built sites like this for three studio chains.",
            "bid": usd(450_00),
            "estimated_duration": "1_to_3_months",
        },
    )
    return {
        "client": client,
        "freelancer": freelancer,
        "job_id": job["job_id"],
        "proposal_id": proposal["proposal_id"],
    }
