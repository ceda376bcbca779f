"""The identity domain: accounts, email reservations, sessions and signing keys.

Pure Python, no I/O. Each aggregate is one event stream:

- ``User`` (``user-<user id>``): registration, roles, credentials, verification, profile,
  suspension.
- ``EmailReservation`` (``email-<sha256 of the normalised email>``): makes an email unique
  across accounts; appended in the same transaction as ``UserRegistered`` with expected
  version 0, so two registrations of one email cannot both commit. Its ``user_id`` is also
  how login finds the account for an email.
- ``Session`` (``session-<session id>``): one refresh-token family, rotated on each refresh.
- ``SigningKeys`` (``signing-keys-<ring id>``): the Ed25519 keys that sign access tokens.

Secrets (password hashes, token and code digests, private keys, the email address) only
appear in the event types of ``PRIVATE_EVENT_TYPES``, which the relay never publishes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import datetime, timedelta

from shared.clock import iso, parse_time
from shared.domain import Aggregate
from shared.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationError

from .passwords import PasswordHasher, PasswordPolicy
from .profile import apply_profile_changes, empty_profile
from .settings import IdentitySettings, seconds
from .skills import SkillsTaxonomy
from .tokens import KeyRing, SigningKey

CLIENT = "client"
FREELANCER = "freelancer"
OPERATOR = "operator"
AUDITOR = "auditor"
# Roles anyone may take at registration or later; one account may hold both.
MARKETPLACE_ROLES = frozenset({CLIENT, FREELANCER})
# Roles only an operator command or the configuration seed may grant.
STAFF_ROLES = frozenset({OPERATOR, AUDITOR})
ALL_ROLES = MARKETPLACE_ROLES | STAFF_ROLES

# Who recorded a staff account seeded from configuration rather than by an operator.
CONFIG_SEED = "config-seed"

IDENTITY_METHODS = ("government_id", "video_call", "manual_review")

# Events carrying secrets or personal data; the relay publishes every other type.
PRIVATE_EVENT_TYPES = frozenset(
    {
        "CredentialsRecorded",
        "PasswordChanged",
        "PasswordRehashed",
        "EmailVerificationRequested",
        "EmailReserved",
        "SessionStarted",
        "RefreshTokenRotated",
        "SessionRevoked",
        "SigningKeyActivated",
    }
)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,63}$")


def normalise_email(email: str) -> str:
    """The form of an email that uniqueness is decided on: NFKC, trimmed, lower case.

    Raises a ValidationError on ``email`` when it is not an address.
    """
    normalised = unicodedata.normalize("NFKC", email).strip().lower()
    if len(normalised) > 254 or not _EMAIL.match(normalised):
        raise ValidationError("invalid email", {"email": ["Not a valid email address."]})
    return normalised


def email_key(email: str) -> str:
    """The id of an email's reservation stream: SHA-256 hex of the normalised address."""
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def _same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def _check_roles(roles: list[str], field: str = "roles") -> list[str]:
    chosen = sorted(set(roles))
    if not chosen:
        raise ValidationError("invalid roles", {field: ["Choose at least one role."]})
    unknown = set(chosen) - ALL_ROLES
    if unknown:
        raise ValidationError("invalid roles", {field: [f"Unknown role {sorted(unknown)[0]}."]})
    if set(chosen) & STAFF_ROLES and set(chosen) & MARKETPLACE_ROLES:
        raise ValidationError(
            "invalid roles",
            {field: ["A staff account cannot also be a client or freelancer."]},
        )
    return chosen


def _require_operator(actor_roles: list[str], what: str) -> None:
    if OPERATOR not in actor_roles:
        raise Forbidden(f"only an operator may {what}")


class EmailReservation(Aggregate):
    """Holds one normalised email for one account, forever."""

    stream_prefix = "email"

    def __init__(self, id: str):
        super().__init__(id)
        self.user_id: str | None = None

    def ensure_free(self) -> None:
        """Conflict (naming ``email``) when an account already holds this email."""
        if self.exists:
            raise Conflict(
                "email already registered",
                {"email": ["An account with this email already exists."]},
            )

    def reserve(self, user_id: str, now: datetime) -> None:
        """Reserve the email for ``user_id``; Conflict when another account holds it."""
        self.ensure_free()
        self.record("EmailReserved", user_id=user_id, reserved_at=iso(now))

    def on_EmailReserved(self, data: dict) -> None:
        self.user_id = data["user_id"]


class User(Aggregate):
    """An account: its roles, credentials, verifications, profile and standing."""

    stream_prefix = "user"

    def __init__(self, id: str):
        super().__init__(id)
        self.roles: list[str] = []
        self.email: str | None = None
        self.password_hash: str | None = None
        self.registered_at: str | None = None
        self.suspended = False
        self.suspension: dict | None = None
        self.verifications: dict[str, dict | None] = {
            "email": None,
            "identity": None,
            "payment_method": None,
        }
        self.email_code: dict | None = None
        self.profile: dict = empty_profile("")

    # -- registration -----------------------------------------------------------------

    def register(
        self,
        *,
        email: str,
        password_hash: str,
        display_name: str,
        roles: list[str],
        now: datetime,
        by: str,
    ) -> None:
        """Open the account. Role policy (who may grant staff roles) is the caller's:
        use ``register_user``, ``create_staff_account`` or ``seed_staff_account``."""
        if self.exists:
            raise Conflict("account already exists", {"user_id": ["Already registered."]})
        roles = _check_roles(roles)
        email = normalise_email(email)
        name = display_name.strip()
        if not name:
            raise ValidationError("invalid name", {"display_name": ["Must not be blank."]})
        self.record(
            "UserRegistered",
            user_id=self.id,
            roles=roles,
            display_name=name,
            registered_at=iso(now),
            by=by,
        )
        self.record(
            "CredentialsRecorded",
            user_id=self.id,
            email=email,
            password_hash=password_hash,
            recorded_at=iso(now),
        )

    def on_UserRegistered(self, data: dict) -> None:
        self.roles = list(data["roles"])
        self.registered_at = data["registered_at"]
        self.profile = empty_profile(data["display_name"])

    def on_CredentialsRecorded(self, data: dict) -> None:
        self.email = data["email"]
        self.password_hash = data["password_hash"]

    def _require_exists(self) -> None:
        if not self.exists:
            raise NotFound(f"no account {self.id}")

    @property
    def is_staff(self) -> bool:
        return bool(set(self.roles) & STAFF_ROLES)

    def add_role(self, role: str, *, actor_id: str, now: datetime) -> None:
        """Let a client also freelance (or a freelancer also hire): owner only."""
        self._require_exists()
        if actor_id != self.id:
            raise Forbidden("only the account holder may add a role")
        if role not in MARKETPLACE_ROLES:
            raise ValidationError("invalid role", {"role": ["Must be client or freelancer."]})
        if self.is_staff:
            raise Conflict("a staff account cannot take marketplace roles")
        if role in self.roles:
            raise Conflict(f"the account already holds the {role} role")
        self.record("RoleAdded", user_id=self.id, role=role, added_at=iso(now), by=actor_id)

    def on_RoleAdded(self, data: dict) -> None:
        self.roles = sorted({*self.roles, data["role"]})

    # -- signing in -------------------------------------------------------------------

    def sign_in(self, password: str, hasher: PasswordHasher, now: datetime) -> None:
        """Check the password and standing before a session starts.

        A wrong password is NotAuthenticated with the same message an unknown email gets;
        a suspended account is Forbidden (only after a correct password, so suspension is
        not disclosed to someone guessing). A hash made with old parameters is upgraded by
        recording ``PasswordRehashed``.
        """
        if not self.exists:
            hasher.verify_decoy(password)
            raise NotAuthenticated("wrong email or password")
        if not hasher.verify(self.password_hash, password):
            raise NotAuthenticated("wrong email or password")
        self.ensure_can_sign_in()
        if hasher.needs_rehash(self.password_hash):
            self.record(
                "PasswordRehashed",
                user_id=self.id,
                password_hash=hasher.hash(password),
                rehashed_at=iso(now),
            )

    def on_PasswordRehashed(self, data: dict) -> None:
        self.password_hash = data["password_hash"]

    def ensure_can_sign_in(self) -> None:
        """NotAuthenticated for a missing account, Forbidden for a suspended one."""
        if not self.exists:
            raise NotAuthenticated("account not found")
        if self.suspended:
            raise Forbidden("account suspended", {"reason": self.suspension["reason"]})

    def change_password(
        self,
        *,
        current_password: str,
        new_password: str,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        actor_id: str,
        now: datetime,
    ) -> None:
        """Replace the password: owner only, proving the current one."""
        self._require_exists()
        if actor_id != self.id:
            raise Forbidden("only the account holder may change the password")
        if not hasher.verify(self.password_hash, current_password):
            raise ValidationError(
                "wrong password", {"current_password": ["Does not match your password."]}
            )
        problems = policy.problems(new_password, self.email)
        if new_password == current_password:
            problems.append("Must differ from the current password.")
        if problems:
            raise ValidationError("password does not meet the policy", {"new_password": problems})
        self.record(
            "PasswordChanged",
            user_id=self.id,
            password_hash=hasher.hash(new_password),
            changed_at=iso(now),
        )

    def on_PasswordChanged(self, data: dict) -> None:
        self.password_hash = data["password_hash"]

    # -- verification -----------------------------------------------------------------

    def request_email_verification(
        self, code_digest: str, now: datetime, settings: IdentitySettings
    ) -> None:
        """Start a verification window for a code emailed to the user (digest recorded).

        A new request replaces the previous code.
        """
        self._require_exists()
        if self.verifications["email"] is not None:
            raise Conflict("email already verified")
        lifetime = settings.email_verification_lifetime
        self.record(
            "EmailVerificationRequested",
            user_id=self.id,
            code_digest=code_digest,
            requested_at=iso(now),
            expires_at=iso(now + lifetime),
            lifetime_seconds=seconds(lifetime),
        )

    def on_EmailVerificationRequested(self, data: dict) -> None:
        self.email_code = {"digest": data["code_digest"], "expires_at": data["expires_at"]}

    def verify_email(self, code_digest: str, now: datetime) -> None:
        """Accept the latest emailed code while ``now`` is before its ``expires_at``."""
        self._require_exists()
        if self.verifications["email"] is not None:
            raise Conflict("email already verified")
        if self.email_code is None:
            raise Conflict("no verification code was sent; request one first")
        if not _same_digest(code_digest, self.email_code["digest"]):
            raise ValidationError("wrong code", {"code": ["The code is not the one we sent."]})
        if now >= parse_time(self.email_code["expires_at"]):
            raise ValidationError(
                "expired code", {"code": ["The code expired; request a new one."]}
            )
        self.record("EmailVerified", user_id=self.id, verified_at=iso(now), by=self.id)

    def on_EmailVerified(self, data: dict) -> None:
        self.verifications["email"] = {"by": data["by"], "at": data["verified_at"]}
        self.email_code = None

    def verify_identity(
        self, *, actor_id: str, actor_roles: list[str], method: str, now: datetime
    ) -> None:
        """An operator confirms who the account holder is."""
        _require_operator(actor_roles, "verify an identity")
        self._require_exists()
        if method not in IDENTITY_METHODS:
            raise ValidationError(
                "invalid method", {"method": [f"Must be one of: {', '.join(IDENTITY_METHODS)}."]}
            )
        if self.verifications["identity"] is not None:
            raise Conflict("identity already verified")
        self.record(
            "IdentityVerified", user_id=self.id, method=method, verified_at=iso(now), by=actor_id
        )

    def on_IdentityVerified(self, data: dict) -> None:
        self.verifications["identity"] = {"by": data["by"], "at": data["verified_at"]}

    def verify_payment_method(
        self, *, actor_id: str, actor_roles: list[str], provider_reference: str, now: datetime
    ) -> None:
        """Mark a client's payment method as verified.

        The account holder may record it only with a ``provider_reference`` the service has
        confirmed with the payment provider; an operator may record it by hand.
        """
        self._require_exists()
        if actor_id != self.id and OPERATOR not in actor_roles:
            raise Forbidden("only the account holder or an operator may verify a payment method")
        if CLIENT not in self.roles:
            raise Conflict("only a client account has a payment method to verify")
        if self.verifications["payment_method"] is not None:
            raise Conflict("payment method already verified")
        self.record(
            "PaymentMethodVerified",
            user_id=self.id,
            provider_reference=provider_reference,
            verified_at=iso(now),
            by=actor_id,
        )

    def on_PaymentMethodVerified(self, data: dict) -> None:
        self.verifications["payment_method"] = {"by": data["by"], "at": data["verified_at"]}

    # -- profile ----------------------------------------------------------------------

    def update_profile(
        self,
        changes: dict,
        *,
        actor_id: str,
        actor_roles: list[str],
        now: datetime,
        settings: IdentitySettings,
        taxonomy: SkillsTaxonomy,
    ) -> list[str]:
        """Apply ``changes`` (see ``profile.apply_profile_changes``) by the owner or an
        operator. Records ``ProfileUpdated`` with the whole public profile after the change,
        and returns the changed field names; a change that changes nothing records nothing.
        """
        self._require_exists()
        if actor_id != self.id and OPERATOR not in actor_roles:
            raise Forbidden("only the account holder or an operator may edit this profile")
        if self.suspended and actor_id == self.id:
            raise Forbidden("account suspended")
        profile, changed = apply_profile_changes(
            self.profile, changes, roles=self.roles, now=now, settings=settings, taxonomy=taxonomy
        )
        if changed:
            self.record(
                "ProfileUpdated",
                user_id=self.id,
                profile=profile,
                changed=changed,
                updated_at=iso(now),
                by=actor_id,
            )
        return changed

    def on_ProfileUpdated(self, data: dict) -> None:
        self.profile = data["profile"]

    # -- standing ---------------------------------------------------------------------

    def suspend(self, *, actor_id: str, actor_roles: list[str], reason: str, now: datetime) -> None:
        """An operator suspends the account: it can no longer sign in or refresh."""
        _require_operator(actor_roles, "suspend an account")
        self._require_exists()
        if actor_id == self.id:
            raise Conflict("an operator cannot suspend their own account")
        reason = _reason(reason)
        if self.suspended:
            raise Conflict("account already suspended")
        self.record(
            "UserSuspended", user_id=self.id, reason=reason, by=actor_id, suspended_at=iso(now)
        )

    def on_UserSuspended(self, data: dict) -> None:
        self.suspended = True
        self.suspension = {"reason": data["reason"], "by": data["by"], "at": data["suspended_at"]}

    def reinstate(
        self, *, actor_id: str, actor_roles: list[str], reason: str, now: datetime
    ) -> None:
        """An operator lifts a suspension."""
        _require_operator(actor_roles, "reinstate an account")
        self._require_exists()
        reason = _reason(reason)
        if not self.suspended:
            raise Conflict("account is not suspended")
        self.record(
            "UserReinstated", user_id=self.id, reason=reason, by=actor_id, reinstated_at=iso(now)
        )

    def on_UserReinstated(self, data: dict) -> None:
        self.suspended = False
        self.suspension = None


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("reason required", {"reason": ["Must not be blank."]})
    return reason


def register_user(
    user: User,
    reservation: EmailReservation,
    *,
    email: str,
    password: str,
    display_name: str,
    roles: list[str],
    now: datetime,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
) -> None:
    """Self-service registration as client and/or freelancer.

    ``reservation`` is the ``EmailReservation`` loaded for ``email_key(email)``; append the
    pending events of both aggregates in one transaction.
    """
    normalised = normalise_email(email)
    if set(roles) - MARKETPLACE_ROLES:
        raise ValidationError("invalid roles", {"roles": ["Choose client and/or freelancer."]})
    policy.check(password, normalised)
    reservation.ensure_free()
    user.register(
        email=normalised,
        password_hash=hasher.hash(password),
        display_name=display_name,
        roles=roles,
        now=now,
        by=user.id,
    )
    reservation.reserve(user.id, now)


def create_staff_account(
    user: User,
    reservation: EmailReservation,
    *,
    actor_id: str,
    actor_roles: list[str],
    email: str,
    password: str,
    display_name: str,
    roles: list[str],
    now: datetime,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
) -> None:
    """An operator opens an operator and/or auditor account."""
    _require_operator(actor_roles, "create staff accounts")
    _register_staff(
        user,
        reservation,
        email=email,
        password=password,
        display_name=display_name,
        roles=roles,
        now=now,
        hasher=hasher,
        policy=policy,
        by=actor_id,
    )


def seed_staff_account(
    user: User,
    reservation: EmailReservation,
    *,
    email: str,
    password_hash: str,
    display_name: str,
    roles: list[str],
    now: datetime,
) -> None:
    """Open a staff account from configuration (the first operator has no operator to
    create it). Configuration carries an argon2id hash, never a plain password."""
    if not set(roles) <= STAFF_ROLES:
        raise ValidationError("invalid roles", {"roles": ["Choose operator and/or auditor."]})
    reservation.ensure_free()
    user.register(
        email=email,
        password_hash=password_hash,
        display_name=display_name,
        roles=roles,
        now=now,
        by=CONFIG_SEED,
    )
    reservation.reserve(user.id, now)


def _register_staff(
    user, reservation, *, email, password, display_name, roles, now, hasher, policy, by
) -> None:
    normalised = normalise_email(email)
    if not roles or not set(roles) <= STAFF_ROLES:
        raise ValidationError("invalid roles", {"roles": ["Choose operator and/or auditor."]})
    policy.check(password, normalised)
    reservation.ensure_free()
    user.register(
        email=normalised,
        password_hash=hasher.hash(password),
        display_name=display_name,
        roles=roles,
        now=now,
        by=by,
    )
    reservation.reserve(user.id, now)


class RefreshTokenReused(NotAuthenticated):
    """A refresh token that was already rotated away came back: the family is revoked.

    Raised *after* ``SessionRevoked`` is recorded: the service must append the session's
    pending events before passing the error on.
    """


class Session(Aggregate):
    """One refresh-token family: started at login, rotated on refresh, revoked at logout
    or when an old token is reused."""

    stream_prefix = "session"

    def __init__(self, id: str):
        super().__init__(id)
        self.user_id: str | None = None
        self.current_digest: str | None = None
        self.expires_at: datetime | None = None
        self.used_digests: set[str] = set()
        self.revoked: dict | None = None

    def start(
        self, *, user_id: str, token_digest: str, now: datetime, settings: IdentitySettings
    ) -> None:
        """Open the family with its first refresh token (digest only)."""
        if self.exists:
            raise Conflict("session already started")
        lifetime = settings.refresh_token_lifetime
        self.record(
            "SessionStarted",
            session_id=self.id,
            user_id=user_id,
            refresh_token_digest=token_digest,
            started_at=iso(now),
            expires_at=iso(now + lifetime),
            refresh_token_lifetime_seconds=seconds(lifetime),
        )

    def on_SessionStarted(self, data: dict) -> None:
        self.user_id = data["user_id"]
        self.current_digest = data["refresh_token_digest"]
        self.expires_at = parse_time(data["expires_at"])

    def refresh(
        self, *, presented_digest: str, new_digest: str, now: datetime, settings: IdentitySettings
    ) -> None:
        """Swap the presented refresh token for a new one.

        - the current token, before its ``expires_at``: rotated (``RefreshTokenRotated``);
        - a token already rotated away: the whole family is revoked (``SessionRevoked``,
          reason ``refresh_token_reused``) and ``RefreshTokenReused`` raised;
        - anything else (unknown, expired, revoked family): NotAuthenticated, nothing recorded.
        """
        if not self.exists:
            raise NotAuthenticated("unknown refresh token")
        if self.revoked is not None:
            raise NotAuthenticated("session ended; sign in again")
        if any(_same_digest(presented_digest, used) for used in self.used_digests):
            self.record(
                "SessionRevoked",
                session_id=self.id,
                user_id=self.user_id,
                reason="refresh_token_reused",
                revoked_at=iso(now),
                by=self.user_id,
            )
            raise RefreshTokenReused("refresh token already used; every session token revoked")
        if not _same_digest(presented_digest, self.current_digest):
            raise NotAuthenticated("unknown refresh token")
        if now >= self.expires_at:
            raise NotAuthenticated("refresh token expired; sign in again")
        lifetime = settings.refresh_token_lifetime
        self.record(
            "RefreshTokenRotated",
            session_id=self.id,
            user_id=self.user_id,
            previous_digest=presented_digest,
            refresh_token_digest=new_digest,
            rotated_at=iso(now),
            expires_at=iso(now + lifetime),
            refresh_token_lifetime_seconds=seconds(lifetime),
        )

    def on_RefreshTokenRotated(self, data: dict) -> None:
        self.used_digests.add(data["previous_digest"])
        self.current_digest = data["refresh_token_digest"]
        self.expires_at = parse_time(data["expires_at"])

    def revoke(
        self, *, actor_id: str, actor_roles: list[str], now: datetime, reason: str = "logout"
    ) -> bool:
        """End the session (logout by its holder, or an operator). Returns False, recording
        nothing, when it has already ended, so logging out twice is harmless."""
        if not self.exists:
            raise NotFound(f"no session {self.id}")
        if actor_id != self.user_id and OPERATOR not in actor_roles:
            raise Forbidden("only the session's holder or an operator may end it")
        if self.revoked is not None:
            return False
        self.record(
            "SessionRevoked",
            session_id=self.id,
            user_id=self.user_id,
            reason=reason,
            revoked_at=iso(now),
            by=actor_id,
        )
        return True

    def on_SessionRevoked(self, data: dict) -> None:
        self.revoked = {"reason": data["reason"], "at": data["revoked_at"], "by": data["by"]}

    @property
    def active(self) -> bool:
        return self.exists and self.revoked is None


class SigningKeys(Aggregate):
    """The ring of access-token signing keys. One stream per service deployment
    (``signing-keys-identity``); the private keys live only in its private events."""

    stream_prefix = "signing-keys"

    def __init__(self, id: str):
        super().__init__(id)
        self.ring = KeyRing()
        self.activated_at: datetime | None = None

    def rotate(
        self,
        *,
        new_key: SigningKey,
        actor_id: str,
        actor_roles: list[str],
        now: datetime,
        settings: IdentitySettings,
    ) -> None:
        """Sign with ``new_key`` from now on; the old key stays published until every token
        it signed has expired (``previous_verify_until``). An operator command, or the
        service itself (actor ``CONFIG_SEED``) when the ring is empty at start-up."""
        if actor_id != CONFIG_SEED:
            _require_operator(actor_roles, "rotate signing keys")
        elif self.exists:
            raise Conflict("the key ring is already seeded; rotation is an operator command")
        if new_key.private_key is None:
            raise ValidationError("invalid key", {"key": ["A signing key needs its private part."]})
        if any(k.kid == new_key.kid for k in self.ring.verification_keys(now)):
            raise Conflict("that key is already in the ring")
        previous = self.ring.current
        lifetime = settings.access_token_lifetime
        grace = settings.key_retirement_grace
        self.record(
            "SigningKeyActivated",
            kid=new_key.kid,
            private_key_pem=new_key.private_pem(),
            activated_at=iso(now),
            by=actor_id,
            previous_kid=previous.kid if previous else None,
            previous_verify_until=iso(now + lifetime + grace) if previous else None,
            access_token_lifetime_seconds=seconds(lifetime),
            retirement_grace_seconds=seconds(grace),
        )

    def on_SigningKeyActivated(self, data: dict) -> None:
        self.activated_at = parse_time(data["activated_at"])
        self.ring = self.ring.rotate(
            SigningKey.from_private_pem(data["private_key_pem"]),
            self.activated_at,
            timedelta(seconds=data["access_token_lifetime_seconds"]),
            timedelta(seconds=data["retirement_grace_seconds"]),
        )
