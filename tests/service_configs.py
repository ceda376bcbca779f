"""nameko config for running the real services together in one test process.

Used by the end-to-end, gateway and reliability suites: the manual clock, fast relays and
retries, timers left to the tests (they fire deadlines after moving the clock), cheap argon2
and seeded staff for identity, and the other services fetching identity's public keys.
"""

from __future__ import annotations

from services.identity.passwords import PasswordHasher


def service_config(
    service: str,
    amqp_uri: str,
    dsn: str,
    blob_root,
    staff: list[dict] | tuple = (),
    cursor_secret: str = "test-cursor-secret",
) -> dict:
    """Config of ``service``; ``staff`` holds ``{email, password, display_name, roles}``."""
    config = {
        "AMQP_URI": amqp_uri,
        "DB_DSN": dsn,
        "CLOCK": "manual",
        "RELAY_POLL_INTERVAL": 0.1,
        "CONSUMER_RETRY_DELAYS_MS": "100,200",
        "TIMER_INTERVAL": 3600,
        "AUTH_FETCH_KEYS": "true",
    }
    if service == "identity":
        hasher = PasswordHasher.cheap()
        config.update(
            {
                "AUTH_FETCH_KEYS": "false",  # identity checks tokens against its own key ring
                "ARGON2_TIME_COST": 1,
                "ARGON2_MEMORY_COST": 8,
                "ARGON2_PARALLELISM": 1,
                "SEED_STAFF": [
                    {
                        "email": member["email"],
                        "password_hash": hasher.hash(member["password"]),
                        "display_name": member["display_name"],
                        "roles": list(member["roles"]),
                    }
                    for member in staff
                ],
            }
        )
    if service == "jobs":
        config["SEARCH_CURSOR_SECRET"] = cursor_secret
    if service == "messaging":
        config["BLOBSTORE"] = {"KIND": "local", "ROOT": str(blob_root)}
    return config
