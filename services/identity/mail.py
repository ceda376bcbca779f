"""Mail owed to users, queued in the service's database with the event that needs it.

The secret a message carries (an email verification code) never enters the event log: the
event records only its digest. The message itself goes into ``outgoing_mail`` in the same
transaction, so a code is mailed exactly when its request is recorded. The default
``sandbox`` adapter keeps messages there (tests and local runs read them back); a real
provider's delivery adapter sends the unsent rows.
"""

from __future__ import annotations

from datetime import datetime

from shared.clock import iso
from shared.eventstore import UnitOfWork

VERIFY_EMAIL = "verify_email"


def queue_verification_code(
    uow: UnitOfWork, *, user_id: str, to: str, code: str, expires_at: datetime, now: datetime
) -> None:
    """Queue the email carrying ``code`` for ``user_id``'s address ``to``."""
    body = (
        "Confirm your email address for the marketplace with this code:\n\n"
        f"    {code}\n\n"
        f"It works until {iso(expires_at)}. If you did not ask for it, ignore this message."
    )
    uow.execute(
        "INSERT INTO outgoing_mail (user_id, to_address, kind, subject, body, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (user_id, to, VERIFY_EMAIL, "Confirm your email address", body, now),
    )
