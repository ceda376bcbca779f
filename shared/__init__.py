"""Common library of the marketplace services: event store, relay, consumers, money, auth.

psycopg's C wait function blocks the eventlet hub, so the pure-Python selector wait is
chosen here, before any module of this package imports psycopg.
"""

import os

os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_selector")
