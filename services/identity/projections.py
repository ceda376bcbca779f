"""Read models of the identity service, kept in the append's transaction.

- ``user_profiles``: one row per account, folded by ``views.apply_event`` (which serves
  ``me`` and ``get_profile``).
- ``suspended_users``: the shared table that ``shared.auth.CallerProvider`` consults. Other
  services fill theirs from identity's published events; identity is the source of those
  events, so it keeps its own copy here, and a suspended user's access token is refused by
  identity's own entrypoints at once.
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from shared.eventstore import Projection
from shared.eventstore.records import RecordedEvent

from .domain import User
from .views import apply_event

USER_STREAM_PREFIX = f"{User.stream_prefix}-"


class UserProfiles(Projection):
    """Every event of a ``user-<id>`` stream folded into that account's row."""

    name = "identity.user_profiles"
    tables = ("user_profiles", "suspended_users")

    def handles(self, event_type: str) -> bool:
        return True

    def apply(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        if not event.stream.startswith(USER_STREAM_PREFIX):
            return
        user_id = event.stream[len(USER_STREAM_PREFIX) :]
        found = cur.execute(
            "SELECT row FROM user_profiles WHERE user_id = %s FOR UPDATE", (user_id,)
        ).fetchone()
        row = apply_event(found[0] if found else None, event.type, event.data)
        cur.execute(
            "INSERT INTO user_profiles (user_id, email, status, roles, row, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (user_id) DO UPDATE SET email = excluded.email,"
            " status = excluded.status, roles = excluded.roles, row = excluded.row,"
            " updated_at = excluded.updated_at",
            (user_id, row["email"], row["status"], row["roles"], Jsonb(row), row["updated_at"]),
        )
        if event.type == "UserSuspended":
            cur.execute(
                "INSERT INTO suspended_users (user_id, reason, suspended_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (user_id) DO UPDATE SET reason = excluded.reason,"
                " suspended_at = excluded.suspended_at",
                (user_id, event.data["reason"], event.recorded_at),
            )
        elif event.type == "UserReinstated":
            cur.execute("DELETE FROM suspended_users WHERE user_id = %s", (user_id,))


PROJECTIONS = [UserProfiles()]
