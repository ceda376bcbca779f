"""The identity read model, as pure functions over the user's events.

``apply_event`` folds one event of a ``user-<id>`` stream into a row (a JSON dict); the
wiring stores that row in a table in the same transaction as the append, and a rebuild
from position 0 folds the same events into the same rows. ``profile_view`` and ``me_view``
shape a row for a caller; ``completeness`` says how complete a profile is and what is missing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from shared.errors import NotAuthenticated, NotFound

from .domain import AUDITOR, CLIENT, FREELANCER, OPERATOR
from .profile import empty_profile

# Event types of a user stream that leave the read model as it is (secrets only).
_IGNORED = frozenset({"PasswordChanged", "PasswordRehashed", "EmailVerificationRequested"})

OVERVIEW_MIN_LENGTH = 100
MIN_SKILLS = 3

# (field, weight, hint): each role's weights sum to 100.
FREELANCER_ITEMS = (
    ("freelancer.title", 10, "Add a professional title."),
    ("freelancer.overview", 15, f"Write an overview of at least {OVERVIEW_MIN_LENGTH} characters."),
    ("freelancer.hourly_rate", 10, "Set an hourly rate."),
    ("freelancer.skills", 15, f"List at least {MIN_SKILLS} skills."),
    ("freelancer.portfolio", 10, "Add a portfolio item."),
    ("freelancer.employment", 10, "Add your employment history."),
    ("freelancer.education", 5, "Add your education."),
    ("freelancer.languages", 10, "Add the languages you speak."),
    ("freelancer.certifications", 5, "Add a certification."),
    ("freelancer.availability", 5, "Say how available you are."),
    ("verifications.email", 5, "Verify your email address."),
)
CLIENT_ITEMS = (
    ("client.company_name", 20, "Add your company name."),
    ("client.company_size", 15, "Say how large your company is."),
    ("client.location", 20, "Add your location."),
    ("verifications.email", 20, "Verify your email address."),
    ("verifications.payment_method", 25, "Verify a payment method."),
)


def apply_event(row: dict | None, event_type: str, data: dict) -> dict:
    """The row after one event of the user's stream (a new dict; ``row`` is untouched)."""
    if event_type == "UserRegistered":
        return {
            "user_id": data["user_id"],
            "email": None,
            "roles": list(data["roles"]),
            "registered_at": data["registered_at"],
            "status": "active",
            "suspension": None,
            "verifications": {"email": None, "identity": None, "payment_method": None},
            "profile": empty_profile(data["display_name"]),
            "updated_at": data["registered_at"],
        }
    if row is None:
        raise ValueError(f"{event_type} before UserRegistered")
    row = copy.deepcopy(row)
    if event_type == "CredentialsRecorded":
        row["email"] = data["email"]
    elif event_type == "RoleAdded":
        row["roles"] = sorted({*row["roles"], data["role"]})
        row["updated_at"] = data["added_at"]
    elif event_type == "EmailVerified":
        row["verifications"]["email"] = {"by": data["by"], "at": data["verified_at"]}
    elif event_type == "IdentityVerified":
        row["verifications"]["identity"] = {"by": data["by"], "at": data["verified_at"]}
    elif event_type == "PaymentMethodVerified":
        row["verifications"]["payment_method"] = {"by": data["by"], "at": data["verified_at"]}
    elif event_type == "ProfileUpdated":
        row["profile"] = copy.deepcopy(data["profile"])
        row["updated_at"] = data["updated_at"]
    elif event_type == "UserSuspended":
        row["status"] = "suspended"
        row["suspension"] = {"reason": data["reason"], "by": data["by"], "at": data["suspended_at"]}
    elif event_type == "UserReinstated":
        row["status"] = "active"
        row["suspension"] = None
    elif event_type not in _IGNORED:
        raise ValueError(f"the user read model does not know {event_type}")
    return row


def build_row(events: Iterable) -> dict | None:
    """Fold a whole user stream (objects with ``.type`` and ``.data``) into its row."""
    row = None
    for event in events:
        row = apply_event(row, event.type, event.data)
    return row


def completeness(row: dict) -> dict:
    """Per marketplace role held: ``{"percent": 0..100, "missing": [{field, hint, weight}]}``.

    Staff accounts have no marketplace profile, so they get an empty dict.
    """
    result = {}
    for role, items in ((CLIENT, CLIENT_ITEMS), (FREELANCER, FREELANCER_ITEMS)):
        if role not in row["roles"]:
            continue
        missing = [
            {"field": field, "hint": hint, "weight": weight}
            for field, weight, hint in items
            if not _filled(row, field)
        ]
        result[role] = {"percent": 100 - sum(m["weight"] for m in missing), "missing": missing}
    return result


def _filled(row: dict, field: str) -> bool:
    head, name = field.split(".")
    if head == "verifications":
        return row["verifications"][name] is not None
    value = row["profile"][head][name]
    if field == "freelancer.overview":
        return value is not None and len(value) >= OVERVIEW_MIN_LENGTH
    if field == "freelancer.skills":
        return len(value) >= MIN_SKILLS
    return bool(value)


def _is_staff(roles: list[str]) -> bool:
    return OPERATOR in roles or AUDITOR in roles


def profile_view(row: dict | None, *, viewer_id: str | None, viewer_roles: list[str]) -> dict:
    """The profile as ``viewer_id`` may see it (None for an anonymous caller).

    Visibility: ``public`` to anyone, ``signed_in`` to any signed-in caller (an anonymous
    one gets NotAuthenticated), ``private`` to the holder and staff only. A suspended
    account's profile is hidden from everyone but its holder and staff. Hidden profiles are
    NotFound, so their existence is not disclosed. Completeness is shown to the holder and
    staff only.
    """
    if row is None:
        raise NotFound("no such profile")
    own_or_staff = viewer_id == row["user_id"] or _is_staff(viewer_roles)
    profile = row["profile"]
    if not own_or_staff:
        if row["status"] == "suspended" or profile["visibility"] == "private":
            raise NotFound("no such profile")
        if profile["visibility"] == "signed_in" and viewer_id is None:
            raise NotAuthenticated("sign in to see this profile")
    view = {
        "user_id": row["user_id"],
        "display_name": profile["display_name"],
        "roles": [r for r in row["roles"] if r in (CLIENT, FREELANCER)],
        "visibility": profile["visibility"],
        "member_since": row["registered_at"],
        "verified": {name: v is not None for name, v in row["verifications"].items()},
    }
    if FREELANCER in row["roles"]:
        view["freelancer"] = copy.deepcopy(profile["freelancer"])
    if CLIENT in row["roles"]:
        view["client"] = copy.deepcopy(profile["client"])
    if own_or_staff:
        view["status"] = row["status"]
        view["completeness"] = completeness(row)
    return view


def me_view(row: dict) -> dict:
    """Everything the account holder sees about their own account."""
    return {
        "user_id": row["user_id"],
        "email": row["email"],
        "roles": list(row["roles"]),
        "status": row["status"],
        "suspension": copy.deepcopy(row["suspension"]),
        "registered_at": row["registered_at"],
        "verifications": copy.deepcopy(row["verifications"]),
        "profile": copy.deepcopy(row["profile"]),
        "completeness": completeness(row),
    }
