"""How RPC messages travel (``shared.rpc``, ``shared.channel``): calls through its ``RpcProxy``
and the replies are transient and unconfirmed, written on a channel of the container's own;
a call to a service that was never there still fails at once; a caller takes its replies
without acks; a channel whose connection the broker closed reconnects before it writes. On
a real broker with real nameko containers."""

from __future__ import annotations

import time

import pytest
from amqp.channel import Channel
from nameko.exceptions import RemoteError
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from shared.channel import PublishChannel, amqp_connection
from shared.rpc import RpcProxy


class Target:
    name = "target"

    @rpc
    def double(self, n):
        return 2 * n


class Late:
    name = "late"

    @rpc
    def hello(self):
        return "here"


class Caller:
    name = "caller"

    target = RpcProxy("target")
    absent = RpcProxy("absent")
    late = RpcProxy("late")

    @rpc
    def twice_doubled(self, n):
        return self.target.double(n=self.target.double(n=n))

    @rpc
    def ask_absent(self):
        return self.absent.anything()

    @rpc
    def ask_late(self):
        return self.late.hello()


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


def test_calls_and_replies_are_transient_and_unconfirmed(cluster, published):
    assert cluster.caller.twice_doubled(n=5) == 20

    calls = [p for p in published if p["routing_key"] == "target.double"]
    assert len(calls) == 2
    assert all(p["delivery_mode"] == 1 and not p["confirmed"] for p in calls), calls

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
    assert time.monotonic() - started < 5  # the queue look-up tells, not the caller's timeout


def test_a_service_that_was_absent_is_found_once_it_runs(cluster, container_factory, rabbit_config):
    """Only services that are there are remembered: one that starts later can be called."""
    with pytest.raises(RemoteError) as refused:
        cluster.caller.ask_late()
    assert refused.value.exc_type == "UnknownService"
    container_factory(Late, rabbit_config).start()
    assert cluster.caller.ask_late() == "here"


def _connection_named(rabbit_manager, vhost, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for conn in rabbit_manager.get_connections():
            if conn.get("vhost") == vhost and conn.get("peer_port") == port:
                return conn["name"]
        time.sleep(0.2)
    raise AssertionError(f"no broker connection from port {port}")


def test_a_channel_whose_connection_the_broker_closed_reconnects_before_writing(
    rabbit_config, rabbit_manager
):
    """Without confirms a message written into a closed connection would vanish: the
    channel sees the close on its socket and writes on a new connection instead."""
    uri, vhost = rabbit_config["AMQP_URI"], rabbit_config["vhost"]
    reader = amqp_connection(uri)
    try:
        inbox = reader.channel()
        inbox.queue_declare("inbox", durable=False, auto_delete=False)
        channel = PublishChannel(uri)
        channel.publish(b"one", exchange="", routing_key="inbox", delivery_mode=1)
        port = channel._conn.sock.getsockname()[1]
        rabbit_manager.delete_connection(_connection_named(rabbit_manager, vhost, port))
        time.sleep(1.0)  # the broker's close reaches the idle socket
        channel.publish(b"two", exchange="", routing_key="inbox", delivery_mode=1)
        assert channel._conn.sock.getsockname()[1] != port

        bodies = []
        deadline = time.monotonic() + 10
        while len(bodies) < 2 and time.monotonic() < deadline:
            message = inbox.basic_get("inbox", no_ack=True)
            if message is None:
                time.sleep(0.05)
            else:
                bodies.append(message.body)
        assert bodies == [b"one", b"two"]
        channel.close()
    finally:
        reader.close()


def test_a_channel_tells_whether_a_queue_exists(rabbit_config):
    channel = PublishChannel(rabbit_config["AMQP_URI"])
    try:
        assert channel.queue_exists("no-such-queue") is False
        helper = amqp_connection(rabbit_config["AMQP_URI"])
        helper.channel().queue_declare("some-queue", durable=False, auto_delete=False)
        helper.close()
        assert channel.queue_exists("some-queue") is True
    finally:
        channel.close()
