"""Email verification: a code mailed through the outgoing mail, checked against the clock."""

from __future__ import annotations

import re
from datetime import timedelta

import psycopg
import pytest

from shared.errors import Conflict, NotAuthenticated, ValidationError


def mailed_code(client, user_id: str) -> str:
    with psycopg.connect(client.dsn, autocommit=True) as conn:
        body = conn.execute(
            "SELECT body FROM outgoing_mail WHERE user_id = %s ORDER BY id DESC LIMIT 1",
            (user_id,),
        ).fetchone()[0]
    return re.search(r"^    (\S+)$", body, re.MULTILINE).group(1)


def test_a_mailed_code_verifies_the_email(client):
    me = client.signed_up(roles=["client"])
    with pytest.raises(NotAuthenticated):
        client.call("request_email_verification")
    client.call("request_email_verification", me["access_token"])
    code = mailed_code(client, me["user_id"])
    # the code is mailed, never logged: only its digest is in the event
    assert (
        client.scalar("SELECT count(*) FROM events WHERE data::text LIKE %s", (f"%{code}%",)) == 0
    )

    before = client.log_length()
    with pytest.raises(ValidationError) as wrong:
        client.call("verify_email", user_id=me["user_id"], code="not-the-code")
    assert "code" in wrong.value.details and client.log_length() == before

    done = client.call("verify_email", user_id=me["user_id"], code=code)
    assert done["verified"]["by"] == me["user_id"]
    account = client.call("me", me["access_token"])
    assert account["verifications"]["email"] is not None
    assert account["completeness"]["client"]["percent"] == 20
    with pytest.raises(Conflict):
        client.call("request_email_verification", me["access_token"])


def test_a_code_expires_at_the_end_of_its_window(client, clock):
    me = client.signed_up()
    client.call("request_email_verification", me["access_token"])
    code = mailed_code(client, me["user_id"])
    clock.advance(timedelta(hours=24))
    with pytest.raises(ValidationError) as expired:
        client.call("verify_email", user_id=me["user_id"], code=code)
    assert "expired" in str(expired.value.details["code"])

    fresh = client.login(me["email"])
    client.call("request_email_verification", fresh["access_token"])
    newer = mailed_code(client, me["user_id"])
    clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    assert client.call("verify_email", user_id=me["user_id"], code=newer)["verified"]
