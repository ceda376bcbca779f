"""Common library of the marketplace services: event store, relay, consumers, money, auth.

psycopg's C wait function blocks the eventlet hub: the pure-Python selector wait is chosen
here, before any module of this package imports psycopg, and then replaced by
``shared.greenwait.wait_green``, which waits on eventlet's hub directly (and on psycopg's
own functions outside eventlet). JSON for psycopg and kombu goes through orjson
(``shared.jsoncodec``).
"""

import os

os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_selector")

from shared import greenwait, jsoncodec  # noqa: E402 - psycopg must see the variable first

greenwait.install()
jsoncodec.install()
