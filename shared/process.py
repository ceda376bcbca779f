"""Process-wide settings a service applies once its container has started.

Declared on every service class next to its other dependencies::

    collector = CollectorTuning()

CPython's cyclic garbage collector walks every tracked object of a generation when it
collects that generation. A service process holds 80-100k long-lived objects once nameko,
kombu, psycopg, marshmallow and the service's modules are imported and its extensions set
up, and each full collection walked all of them: measured in the gateway under 200
requests/s on two shared cores, one full collection every ~10 s stalling the eventlet hub
for 56-100 ms, every request in flight caught behind it. On start, after one full
collection, the survivors are moved to the permanent generation (``gc.freeze()``), which
the collector no longer walks: full collections in that run then took 3-13 ms. What the
requests allocate is collected as before.

Config ``GC_FREEZE_ON_START`` (default true). Applied once per process: a test process
starts many containers, and freezing at each start would keep whatever each test left
alive for the rest of the run.
"""

from __future__ import annotations

import gc
import logging

from nameko.extensions import DependencyProvider

from shared.config import flag

log = logging.getLogger(__name__)

_frozen = False


def freeze_startup_objects() -> int:
    """Collect, then move every surviving object to the permanent generation; how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class CollectorTuning(DependencyProvider):
    """Freezes the objects the service started with, once per process, when the container
    starts (see the module's documentation)."""

    def start(self) -> None:
        global _frozen
        if _frozen or not flag(self.container.config, "GC_FREEZE_ON_START"):
            return
        _frozen = True
        log.info("garbage collector: %d start-up objects frozen", freeze_startup_objects())

    def get_dependency(self, worker_ctx) -> None:
        return None
