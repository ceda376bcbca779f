"""What a container's publishing channel connects with (``shared.rpc``, ``shared.channel``),
without a broker: the connection is refused by a stand-in before any socket is opened."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from shared import channel as channel_module
from shared.rpc import ReplyChannel, RequestChannel


class Refused(Exception):
    pass


@pytest.fixture
def connections(monkeypatch):
    seen: list[tuple[str, dict]] = []

    def refuse(amqp_uri, **options):
        seen.append((amqp_uri, options))
        raise Refused("no broker in a unit test")

    monkeypatch.setattr(channel_module, "amqp_connection", refuse)
    return seen


@pytest.mark.parametrize("extension", [ReplyChannel, RequestChannel])
def test_the_channel_connects_as_nameko_would(extension, connections):
    """nameko's AMQP_SSL and LOGIN_METHOD settings reach the connection RPC replies and
    requests are written on, as they reach nameko's own publishers."""
    channel = extension()
    channel.container = SimpleNamespace(
        config={
            "AMQP_URI": "pyamqp://guest:guest@broker.example:5671/",
            "AMQP_SSL": {"ca_certs": "/etc/ssl/broker.pem"},
            "LOGIN_METHOD": "PLAIN",
        }
    )
    channel.setup()
    with pytest.raises(Refused):
        channel.channel.publish(b"x", exchange="", routing_key="nowhere")
    ((uri, options),) = connections
    assert uri == "pyamqp://guest:guest@broker.example:5671/"
    assert options["ssl"] == {"ca_certs": "/etc/ssl/broker.pem"}
    assert options["login_method"] == "PLAIN"
    # and it only ever publishes: the broker's blocked notices are not asked for
    assert "connection.blocked" not in options["client_properties"]["capabilities"]


def test_without_tls_settings_none_are_passed(connections):
    channel = RequestChannel()
    channel.container = SimpleNamespace(config={"AMQP_URI": "pyamqp://guest:guest@localhost/"})
    channel.setup()
    with pytest.raises(Refused):
        channel.channel.publish(b"x", exchange="", routing_key="nowhere")
    ((_, options),) = connections
    assert "ssl" not in options and "login_method" not in options
