"""CollectorTuning: a started container moves the objects alive then out of the collector's
way, once per process, unless configured off."""

import gc

import pytest
from nameko.rpc import rpc

from shared import process
from shared.process import CollectorTuning


class Tuned:
    name = "tuned"
    collector = CollectorTuning()

    @rpc
    def ping(self):
        return "pong"


@pytest.fixture
def fresh_process(monkeypatch):
    """As if no container had started in this process yet; unfrozen before and after."""
    monkeypatch.setattr(process, "_frozen", False)
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_start_freezes_the_objects_alive_then(fresh_process, container_factory, rabbit_config):
    alive_before = {"a": [1, 2, 3]}
    assert gc.is_tracked(alive_before)  # else the check below would hold trivially
    assert gc.get_freeze_count() == 0
    container_factory(Tuned, rabbit_config).start()
    assert gc.get_freeze_count() > 1000
    # frozen: in the permanent generation, which gc.get_objects() (the generations a
    # collection walks) does not list
    assert not any(o is alive_before for o in gc.get_objects())


def test_a_second_container_in_the_process_does_not_freeze_again(
    fresh_process, container_factory, rabbit_config
):
    container_factory(Tuned, rabbit_config).start()
    gc.unfreeze()
    container_factory(Tuned, {**rabbit_config}).start()
    assert gc.get_freeze_count() == 0


def test_configured_off_freezes_nothing(fresh_process, container_factory, rabbit_config):
    container_factory(Tuned, {**rabbit_config, "GC_FREEZE_ON_START": "false"}).start()
    assert gc.get_freeze_count() == 0
