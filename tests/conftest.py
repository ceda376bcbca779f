# eventlet must patch the standard library before anything else imports it, and psycopg
# must see PSYCOPG_WAIT_FUNC (set by ``shared``) before it is first imported.
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet announces its own deprecation on import
    import eventlet

eventlet.monkey_patch()

import shared  # noqa: E402,F401

pytest_plugins = ["shared.testing"]
