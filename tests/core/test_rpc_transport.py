"""How RPC messages travel (``shared.rpc``): calls through its ``RpcProxy`` are transient and
confirmed, replies are transient and unconfirmed, and a caller takes its replies without
acks, on a real broker with real nameko containers."""

from __future__ import annotations

import time

import pytest
from amqp.channel import Channel
from nameko.exceptions import RemoteError
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from shared.rpc import RpcProxy


class Target:
    name = "target"

    @rpc
    def double(self, n):
        return 2 * n


class Caller:
    name = "caller"

    target = RpcProxy("target")
    absent = RpcProxy("absent")

    @rpc
    def twice_doubled(self, n):
        return self.target.double(n=self.target.double(n=n))

    @rpc
    def ask_absent(self):
        return self.absent.anything()


@pytest.fixture
def published(monkeypatch):
    """Every message published in this process: routing key, delivery mode, and whether its
    channel waits for publisher confirms."""
    seen: list[dict] = []
    original = Channel._basic_publish

    def spy(self, msg, exchange="", routing_key="", *args, **kwargs):
        seen.append(
            {
                "routing_key": routing_key,
                "delivery_mode": msg.properties.get("delivery_mode"),
                "confirmed": self._confirm_selected,
            }
        )
        return original(self, msg, exchange, routing_key, *args, **kwargs)

    monkeypatch.setattr(Channel, "_basic_publish", spy)
    monkeypatch.setattr(Channel, "basic_publish", spy)
    return seen


@pytest.fixture
def cluster(container_factory, rabbit_config):
    for service in (Target, Caller):
        container_factory(service, rabbit_config).start()
    with ClusterRpcProxy(rabbit_config, timeout=10) as proxy:
        yield proxy


def _consumers(rabbit_manager, vhost, queue_prefix, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        found = [
            c
            for c in rabbit_manager._get("consumers", vhost)
            if c["queue"]["name"].startswith(queue_prefix)
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_calls_are_transient_and_confirmed_and_replies_transient_and_unconfirmed(
    cluster, published
):
    assert cluster.caller.twice_doubled(n=5) == 20

    calls = [p for p in published if p["routing_key"] == "target.double"]
    assert len(calls) == 2
    assert all(p["delivery_mode"] == 1 and p["confirmed"] for p in calls), calls

    # the caller's reply listener routes by a uuid; the target answers there twice
    replies = [p for p in published if "." not in p["routing_key"]]
    # the target's two to the caller, the caller's one to this test's proxy
    assert len(replies) == 3
    assert all(p["delivery_mode"] == 1 and not p["confirmed"] for p in replies), replies


def test_a_caller_takes_its_replies_without_acks_and_services_ack_their_calls(
    cluster, rabbit_config, rabbit_manager
):
    assert cluster.caller.twice_doubled(n=1) == 4
    vhost = rabbit_config["vhost"]

    reply_consumers = _consumers(rabbit_manager, vhost, "rpc.reply-caller-")
    assert len(reply_consumers) == 1
    assert reply_consumers[0]["ack_required"] is False

    # a request is only acked once its reply is out: a service that dies mid-call gets the
    # call again
    call_consumers = _consumers(rabbit_manager, vhost, "rpc-target")
    assert call_consumers and all(c["ack_required"] for c in call_consumers)


def test_a_call_to_a_service_that_is_not_running_fails_at_once(cluster):
    started = time.monotonic()
    with pytest.raises(RemoteError) as refused:
        cluster.caller.ask_absent()
    assert refused.value.exc_type == "UnknownService"
    assert time.monotonic() - started < 5  # the confirm tells, not the caller's timeout
