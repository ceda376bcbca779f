"""nameko's per-call signature check, remembered per argument shape (``shared.rpc``): calls
that bind keep working, calls that do not are refused every time, through a real broker."""

from __future__ import annotations

import pytest
from nameko.exceptions import IncorrectSignature
from nameko.extensions import Entrypoint
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

import shared.rpc  # noqa: F401 - installs the check


class Adder:
    name = "adder"

    @rpc
    def add(self, a, b=1):
        return a + b

    @rpc
    def anything(self, *args, **kwargs):
        return len(args) + len(kwargs)


@pytest.fixture
def adder(container_factory, rabbit_config):
    container = container_factory(Adder, rabbit_config)
    container.start()
    with ClusterRpcProxy(rabbit_config, timeout=10) as proxy:
        yield container, proxy.adder


def _refused(call) -> str:
    """nameko raises its own registered errors as themselves on the caller's side."""
    with pytest.raises(IncorrectSignature) as refused:
        call()
    return type(refused.value).__name__


def test_calls_that_bind_pass_and_those_that_do_not_are_refused_each_time(adder):
    _, proxy = adder
    for _ in range(3):
        assert proxy.add(2) == 3
        assert proxy.add(a=2, b=5) == 7
        # the good shapes are remembered; the bad ones are still checked, every time
        assert _refused(lambda: proxy.add()) == "IncorrectSignature"
        assert _refused(lambda: proxy.add(1, 2, 3)) == "IncorrectSignature"
        assert _refused(lambda: proxy.add(a=1, c=2)) == "IncorrectSignature"
    assert proxy.add(4, b=4) == 8


def test_the_shapes_remembered_per_entrypoint_are_bounded(adder):
    container, proxy = adder
    for i in range(shared.rpc._SHAPES_REMEMBERED + 10):
        assert proxy.anything(**{f"name_{i}": i}) == 1
    (entrypoint,) = [
        e
        for e in container.entrypoints
        if isinstance(e, Entrypoint) and e.method_name == "anything"
    ]
    assert len(entrypoint._shapes_passed) == shared.rpc._SHAPES_REMEMBERED
