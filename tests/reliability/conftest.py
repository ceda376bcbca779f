"""The security reliability suite's platform: all six services, each in its own container
with its own throwaway database, on one RabbitMQ vhost for the whole package, identity's real
tokens everywhere (the other services fetch its public keys), the manual clock, and a small
world made through the services' own RPCs: a job, proposals, a pending offer, a contract, a
room with a message and an attachment.

Building the platform once for the package keeps the suite inside its time budget; each test
module only reads the world or acts on its own objects, and the matrix runs first.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import eventlet
import psycopg
import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from services.bidding.service import BiddingService
from services.escrow.service import EscrowService
from services.identity.service import IdentityService
from services.jobs.service import JobsService
from services.messaging.service import MessagingService
from services.reputation.service import ReputationService
from shared.auth import bearer
from shared.clock import manual_clock

# the six services in-process on fresh databases and a per-test vhost (the e2e fixture), for
# the duplicates and poison scenarios
from tests.e2e.conftest import market  # noqa: F401
from tests.service_configs import service_config as shared_service_config

# Monday 6 April 2026, 09:00 UTC.
START = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)
PASSWORD = "reliability passphrase 1"
STAFF_PASSWORD = "staff passphrase for tests"

SERVICE_CLASSES = {
    "identity": IdentityService,
    "jobs": JobsService,
    "bidding": BiddingService,
    "escrow": EscrowService,
    "messaging": MessagingService,
    "reputation": ReputationService,
}

# who calls, in the matrix's words
ROLES = (
    "anonymous",
    "client",
    "freelancer",
    "other_client",
    "other_freelancer",
    "operator",
    "auditor",
)


# -- the session report ---------------------------------------------------------------------


@dataclass
class SecurityTally:
    """What the suite tried, for the report printed at the end of the session."""

    methods: set[str] = field(default_factory=set)
    role_cases: Counter = field(default_factory=Counter)  # outcome -> count
    bad_inputs: Counter = field(default_factory=Counter)  # outcome -> count
    token_cases: Counter = field(default_factory=Counter)
    let_through: list[str] = field(default_factory=list)


TALLY = SecurityTally()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    _crash_summary(terminalreporter)
    if not (TALLY.methods or TALLY.role_cases or TALLY.bad_inputs or TALLY.token_cases):
        return
    write = terminalreporter.write_line
    terminalreporter.section("security reliability report")
    write(f"RPC methods checked: {len(TALLY.methods)}")
    write(
        f"role cases tried: {sum(TALLY.role_cases.values())} "
        + ", ".join(f"{k}={v}" for k, v in sorted(TALLY.role_cases.items()))
    )
    write(
        f"bad inputs tried: {sum(TALLY.bad_inputs.values())} "
        + ", ".join(f"{k}={v}" for k, v in sorted(TALLY.bad_inputs.items()))
    )
    write(
        f"token cases tried: {sum(TALLY.token_cases.values())} "
        + ", ".join(f"{k}={v}" for k, v in sorted(TALLY.token_cases.items()))
    )
    if TALLY.let_through:
        write(f"LET THROUGH ({len(TALLY.let_through)}):")
        for line in TALLY.let_through[:50]:
            write(f"  {line}")
    else:
        write("nothing let through")


def _crash_summary(terminalreporter) -> None:
    """The crash and restart scenarios' part of the report (tests/reliability/platform.py)."""
    import sys

    platform_module = sys.modules.get("tests.reliability.platform")
    if platform_module is None:
        return
    t = platform_module.CRASH_TALLY
    if not (t.flows or t.duplicates_delivered or t.poison_parked):
        return
    write = terminalreporter.write_line
    terminalreporter.section("crash and restart reliability report")
    write(f"flows run: {t.flows}, completed: {t.flows_completed}")
    write(
        f"kills survived: {sum(t.kills.values())} "
        + ", ".join(f"{k}={v}" for k, v in sorted(t.kills.items()))
    )
    write(
        "outages survived: "
        + (", ".join(f"{k}={v}" for k, v in sorted(t.outages.items())) or "none run")
    )
    write(f"consumed events checked: {t.events_checked}")
    write(
        f"step failures met and retried with the same key: {sum(t.failures.values())} "
        + ", ".join(f"{k}={v}" for k, v in sorted(t.failures.items()))
    )
    write(f"duplicate or reordered deliveries: {t.duplicates_delivered}")
    write(f"poison messages parked: {t.poison_parked}")
    if t.lost:
        write(f"LOST ({len(t.lost)}):")
        for line in t.lost[:50]:
            write(f"  {line}")
    else:
        write("nothing lost, nothing moved twice")


@pytest.fixture(scope="session")
def tally() -> SecurityTally:
    return TALLY


# -- the platform ---------------------------------------------------------------------------


def wait_until(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # not there yet (NotFound while an event travels)
            value = None
        if value:
            return value
        eventlet.sleep(0.05)
    raise AssertionError(f"{what} not met in {timeout}s")


def service_config(service: str, amqp_uri: str, dsn: str, blob_root) -> dict:
    staff = [
        {
            "email": "ops@reliability.test",
            "password": STAFF_PASSWORD,
            "display_name": "Ops",
            "roles": ["operator"],
        },
        {
            "email": "audit@reliability.test",
            "password": STAFF_PASSWORD,
            "display_name": "Audit",
            "roles": ["auditor"],
        },
    ]
    return shared_service_config(service, amqp_uri, dsn, blob_root, staff, "reliability-secret")


class Platform:
    def __init__(self, containers: dict, dsns: dict, amqp_uri: str):
        self.containers = containers
        self.dsns = dsns
        self.amqp_uri = amqp_uri
        self._proxies: dict[str, tuple] = {}

    def rpc(self, context_data: dict | None = None) -> ClusterRpcProxy:
        return ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, context_data=context_data, timeout=30)

    def caller(self, name: str, context_data: dict | None):
        """A started cluster proxy kept for the package, calling with ``context_data``.

        The dict is the proxy's own context: tests may set ``correlation_id`` in it per call.
        """
        if name not in self._proxies:
            data = dict(context_data or {})
            proxy = self.rpc(data)
            self._proxies[name] = (proxy, proxy.start(), data)
        return self._proxies[name][1], self._proxies[name][2]

    def scalar(self, service: str, sql: str, params=None):
        with psycopg.connect(self.dsns[service], autocommit=True) as conn:
            return conn.execute(sql, params).fetchone()[0]

    def close(self) -> None:
        for proxy, _, _ in self._proxies.values():
            proxy.stop()
        self._proxies.clear()


@pytest.fixture(scope="package")
def platform(request, vhost_pipeline, databases, tmp_path_factory):
    from urllib.parse import urlparse

    manual_clock.set(START)
    uri = urlparse(request.config.getoption("RABBIT_AMQP_URI"))
    blob_root = tmp_path_factory.mktemp("blobs")
    with vhost_pipeline.get() as vhost:
        amqp_uri = f"{uri.scheme}://{uri.netloc}/{vhost}"
        containers, dsns = {}, {}
        for service, cls in SERVICE_CLASSES.items():
            dsns[service] = databases.create(service)
            containers[service] = ServiceContainer(
                cls, service_config(service, amqp_uri, dsns[service], blob_root)
            )
        for container in containers.values():
            container.start()
        found = Platform(containers, dsns, amqp_uri)
        try:
            yield found
        finally:
            found.close()
            # each container takes a second or so to stop: side by side saves the sum
            pool = eventlet.GreenPool()
            for container in containers.values():
                pool.spawn(container.stop)
            pool.waitall()


# -- the world ------------------------------------------------------------------------------


def usd(amount: int) -> dict:
    return {"amount": amount, "currency": "USD"}


def job_details(title: str) -> dict:
    return {
        "title": title,
        "description": "A booking site for a small chain of yoga studios, with online payments.",
        "category": "web-mobile-software-dev",
        "subcategory": "web-development",
        "skills": ["python", "Django"],
        "experience_level": "intermediate",
        "project_length": "1_to_3_months",
        "budget": {"type": "fixed", "amount": usd(90_00)},
        "visibility": "public",
        "publish": True,
    }


@dataclass
class World:
    """Ids of what the fixture world holds, and each role's user and context data."""

    users: dict[str, dict]
    contexts: dict[str, dict]
    ids: dict[str, str]

    def uid(self, role: str) -> str:
        return self.users[role]["user_id"]


def _user(platform: Platform, *roles: str, name: str) -> dict:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@reliability.test"
    with platform.rpc() as rpc:
        made = rpc.identity.register(
            email=email, password=PASSWORD, display_name=name, roles=list(roles)
        )
        tokens = rpc.identity.login(email=email, password=PASSWORD)
    return {**made, "email": email, "token": tokens["access_token"], "tokens": tokens}


def _staff(platform: Platform, email: str) -> dict:
    with platform.rpc() as rpc:
        tokens = rpc.identity.login(email=email, password=STAFF_PASSWORD)
    return {"user_id": tokens["user_id"], "email": email, "token": tokens["access_token"]}


@pytest.fixture(scope="package")
def world(platform) -> World:
    users = {
        "client": _user(platform, "client", name="Cleo"),
        "freelancer": _user(platform, "freelancer", name="Fred"),
        "other_client": _user(platform, "client", name="Olga"),
        "other_freelancer": _user(platform, "freelancer", name="Otto"),
        "operator": _staff(platform, "ops@reliability.test"),
        "auditor": _staff(platform, "audit@reliability.test"),
        # suspended later by the matrix; holds both marketplace roles so no role check hides it
        "suspended": _user(platform, "client", "freelancer", name="Sami"),
        # a target for the operator's suspend / verify calls
        "bystander": _user(platform, "client", "freelancer", name="Bea"),
    }
    contexts = {role: bearer(user["token"]) for role, user in users.items()}
    contexts["anonymous"] = {}
    ids: dict[str, str] = {}

    def as_(role):
        return platform.rpc(contexts[role])

    with as_("client") as rpc:
        ids["job"] = rpc.jobs.create_job(**job_details("Booking site for studios"))["job_id"]
        ids["job2"] = rpc.jobs.create_job(**job_details("Second booking site"))["job_id"]
        ids["draft_job"] = rpc.jobs.create_job(**{**job_details("A draft job"), "publish": False})[
            "job_id"
        ]
        ids["search"] = rpc.jobs.save_search(name="django", query={"keywords": "django"})[
            "search_id"
        ]

    proposal = {
        "cover_letter": "I have built booking sites for three studio chains.",
        "bid": usd(80_00),
        "estimated_duration": "1_to_3_months",
    }
    for role, key, job in (
        ("freelancer", "proposal", "job"),
        ("other_freelancer", "other_proposal", "job"),
        ("freelancer", "proposal2", "job2"),
    ):
        with as_(role) as rpc:
            wait_until(
                lambda rpc=rpc, job=job: rpc.bidding.quote_proposal(job_id=ids[job]),
                what="job listed in bidding",
            )
            ids[key] = rpc.bidding.submit_proposal(job_id=ids[job], **proposal)["proposal_id"]

    offer = {
        "kind": "fixed",
        "milestones": [{"title": "The whole site", "amount": usd(80_00)}],
        "start_date": START.date().isoformat(),
    }
    with as_("client") as rpc:
        ids["hired_offer"] = rpc.bidding.send_offer(
            job_id=ids["job"], proposal_id=ids["proposal"], **offer
        )["offer_id"]
        ids["offer"] = rpc.bidding.send_offer(
            job_id=ids["job2"], proposal_id=ids["proposal2"], **offer
        )["offer_id"]
        rpc.jobs.invite_freelancer(job_id=ids["job2"], freelancer_id=users["freelancer"]["user_id"])
    with as_("freelancer") as rpc:
        rpc.bidding.accept_offer(offer_id=ids["hired_offer"])
        contract = wait_until(
            lambda: rpc.escrow.list_contracts()["contracts"], what="contract opened in escrow"
        )[0]
        ids["contract"] = contract["contract_id"]
        view = rpc.escrow.get_contract(contract_id=ids["contract"])
        ids["milestone"] = view["milestones"][0]["milestone_id"]
        room = wait_until(lambda: rpc.messaging.list_rooms()["rooms"], what="contract room")[0]
        ids["room"] = room["room_id"]
        ids["message"] = rpc.messaging.send_message(room_id=ids["room"], body="Hello Cleo")[
            "message_id"
        ]
        ids["attachment"] = rpc.messaging.upload_attachment(
            room_id=ids["room"],
            filename="notes.txt",
            content=base64.b64encode(b"plain notes").decode(),
        )["attachment_id"]
    with as_("client") as rpc:
        wait_until(
            lambda: rpc.reputation.get_feedback(contract_id=ids["contract"]),
            what="contract tracked by reputation",
        )
    return World(users=users, contexts=contexts, ids=ids)


# -- the crash and restart scenarios --------------------------------------------------------


# the outages cut every connection to the shared broker or database, including those of the
# security suite's package-wide platform: they run after everything else of the session
DISRUPTIVE = {"test_broker_restart.py", "test_database_restart.py"}


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.path.name in DISRUPTIVE)  # stable: the rest keep order


@pytest.fixture
def crash_tally():
    from tests.reliability.platform import CRASH_TALLY

    return CRASH_TALLY


@pytest.fixture
def process_cluster(databases, rabbit_manager, request, tmp_path):
    """The six services as real ``nameko run`` processes on fresh databases and a fresh vhost."""
    from tests.reliability.platform import running_cluster

    with running_cluster(
        databases, rabbit_manager, request.config.getoption("RABBIT_AMQP_URI"), tmp_path
    ) as cluster:
        yield cluster
