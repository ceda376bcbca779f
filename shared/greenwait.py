"""psycopg's wait function, made for eventlet's hub (installed by ``shared``).

psycopg runs every operation as a generator that says when it would block (read, write or
either) and waits for the socket through a module-level wait function. Its C function
blocks the whole process under eventlet; ``wait_selector`` (what ``PSYCOPG_WAIT_FUNC``
picks) is green, but each wait builds a selector, goes through eventlet's green ``select``
and schedules a timer for psycopg's interrupt interval. Measured on one connection under
eventlet, 5,000 prepared one-row SELECTs: 84-110 us of client CPU per statement with
``wait_selector``, 72-78 us waiting on the hub directly, 52-60 us without eventlet.

``wait_green`` waits on the hub directly: a listener for each direction asked, the hub
switched to, the listeners removed. Nothing polls in between: psycopg's interval exists so
that a blocking wait can notice Ctrl-C, and under eventlet the hub delivers that signal
anyway. A wait with a timeout, and every wait in a process eventlet has not patched (the
CLI, the benchmarks' load generators), goes to psycopg's own functions.
"""

from __future__ import annotations

import sys
from typing import Any

from psycopg import waiting
from psycopg.waiting import Ready, Wait

_READ, _WRITE = Wait.R, Wait.W


_patched = False  # once seen patched, a process stays so


def _green() -> bool:
    """Is this process running under eventlet's monkey patching?"""
    global _patched
    if not _patched:
        patcher = sys.modules.get("eventlet.patcher")
        _patched = patcher is not None and patcher.is_monkey_patched("select")
    return _patched


def _not_closed() -> None:
    """eventlet asks each listener what to do when another greenthread closes its fd."""


def _block(hub: Any, current: Any, fileno: int, state: int) -> int:
    """Switch to the hub until ``fileno`` is ready for what ``state`` asks; the Ready."""
    listeners = []
    try:
        if state & _READ:
            listeners.append(
                hub.add(
                    hub.READ, fileno, lambda _: current.switch(Ready.R), current.throw, _not_closed
                )
            )
        if state & _WRITE:
            listeners.append(
                hub.add(
                    hub.WRITE, fileno, lambda _: current.switch(Ready.W), current.throw, _not_closed
                )
            )
        return hub.switch()
    finally:
        for listener in listeners:
            hub.remove(listener)


def wait_green(gen: Any, fileno: int, interval: float = 0.0, timeout: float | None = None) -> Any:
    """Drive psycopg's generator ``gen`` on ``fileno`` to its end; what it returns.

    The signature of psycopg's wait functions (``psycopg.waiting.wait``)."""
    if timeout is not None or not (_patched or _green()):
        return _fallback(gen, fileno, interval, timeout)
    hub, current = _get_hub(), _getcurrent()
    if hub.greenlet is current:
        raise RuntimeError("psycopg waits in a greenthread, never in eventlet's hub")
    try:
        state = next(gen)
        while True:
            state = gen.send(_block(hub, current, fileno, state))
    except StopIteration as done:
        return done.value


def _fallback(gen: Any, fileno: int, interval: float, timeout: float | None) -> Any:
    if _green():
        return waiting.wait_selector(gen, fileno, interval, timeout)
    # the C function where psycopg has it: blocking is right outside eventlet
    blocking = getattr(waiting, "wait_c", None) or waiting.wait_selector
    return blocking(gen, fileno, interval, timeout)


def _get_hub():
    global _get_hub
    from eventlet.hubs import get_hub

    _get_hub = get_hub
    return get_hub()


def _getcurrent():
    global _getcurrent
    from greenlet import getcurrent

    _getcurrent = getcurrent
    return getcurrent()


def install() -> None:
    """Make ``wait_green`` the function psycopg waits with (it looks it up per call)."""
    waiting.wait = wait_green
