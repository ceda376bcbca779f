"""The identity service: accounts, profiles, verification, suspension and tokens.

Entrypoints only: each validates its arguments (``@validated``), checks the caller, runs the
domain (``domain.py``) inside one store transaction and returns plain JSON. Errors are the
typed ``shared.errors`` (ValidationError with field messages, NotAuthenticated, Forbidden,
NotFound, Conflict).

Run: ``nameko run --config services/identity/config.yaml services.identity.service``
"""

from __future__ import annotations

import hmac
import uuid

from nameko.rpc import rpc

from shared import rpc as platform
from shared.clock import iso
from shared.errors import NotAuthenticated, NotFound, ValidationError
from shared.observability import LogContext, Metrics
from shared.process import CollectorTuning
from shared.relay import Relay
from shared.rpc import validated
from shared.storage import EventStore

from . import schemas
from .domain import (
    PRIVATE_EVENT_TYPES,
    EmailReservation,
    RefreshTokenReused,
    Session,
    SigningKeys,
    User,
    create_staff_account,
    email_key,
    register_user,
)
from .mail import queue_verification_code
from .projections import PROJECTIONS
from .runtime import KEY_RING_ID, IdentityRuntime, OwnKeysCaller
from .tokens import (
    SigningKey,
    issue_access_token,
    new_email_code,
    new_refresh_token,
    session_of_refresh_token,
    token_digest,
)
from .views import completeness, me_view, profile_view

NO_ACCOUNT = "no-account"  # the user id looked up when an email has no account


class IdentityService(platform.Operations):  # module import: `nameko run` lists classes
    """Who everyone is. Anonymous callers may only ``register``, ``login``, ``refresh``,
    ``logout`` with a refresh token, ``get_profile`` of a public profile, ``public_keys``,
    ``list_skills`` and ``health``."""

    name = "identity"

    store = EventStore(projections=PROJECTIONS)
    relay = Relay(private_types=PRIVATE_EVENT_TYPES)
    identity = IdentityRuntime()
    caller = OwnKeysCaller()
    metrics = Metrics()  # /metrics and /health on METRICS_PORT
    log_context = LogContext()  # correlation id, caller, entrypoint in log lines
    collector = CollectorTuning()  # start-up objects out of the GC's way

    # -- accounts -----------------------------------------------------------------------

    @rpc
    @validated(schemas.RegisterSchema)
    def register(self, args) -> dict:
        """Open a client and/or freelancer account. Anyone may call.

        Arguments: ``email``, ``password`` (the password policy), ``display_name``,
        ``roles`` (non-empty subset of client, freelancer), ``idempotency_key``.
        Result: ``{"user_id", "roles"}``.
        Errors: ValidationError (``email``, ``password``, ``display_name``, ``roles``),
        Conflict (``email`` already registered, or the idempotency key reused with other
        arguments). A replay under the same key with the same email, name and roles returns
        the first result (the password is left out of the stored request digest).
        """
        return self._open_account("register", args, register_user)

    @rpc
    @validated(schemas.CreateStaffAccountSchema)
    def create_staff_account(self, args) -> dict:
        """An operator opens an operator and/or auditor account.

        Arguments: ``email``, ``password``, ``display_name``, ``roles`` (subset of operator,
        auditor), ``idempotency_key``. Result: ``{"user_id", "roles"}``.
        Errors: NotAuthenticated, Forbidden (not an operator), ValidationError, Conflict.
        """
        caller = self.caller.require_role("operator")
        return self._open_account(
            "create_staff_account",
            args,
            create_staff_account,
            actor=caller.user_id,
            actor_id=caller.user_id,
            actor_roles=sorted(caller.roles),
        )

    def _open_account(self, method: str, args: dict, open_account, actor=None, **extra) -> dict:
        """A new user and its email reservation, appended together; ``open_account`` is the
        domain command (``register_user`` or ``create_staff_account``). The password stays
        out of the stored request digest."""
        runtime = self.identity

        def run(uow):
            user = User.fresh(str(uuid.uuid4()))
            reservation = uow.load(EmailReservation, email_key(args["email"]))
            open_account(
                user,
                reservation,
                email=args["email"],
                password=args["password"],
                display_name=args["display_name"],
                roles=args["roles"],
                now=self.store.clock.now(),
                hasher=runtime.hasher,
                policy=runtime.policy,
                **extra,
            )
            uow.save(user, reservation)
            return {"user_id": user.id, "roles": list(user.roles)}

        return self.store.command(
            method,
            _without(args, "password", "idempotency_key"),
            run,
            idempotency_key=args["idempotency_key"],
            actor=actor,
        )

    @rpc
    @validated(schemas.AddRoleSchema)
    def add_role(self, args) -> dict:
        """The caller also becomes a client or a freelancer.

        Arguments: ``role``, ``idempotency_key``. Result: ``{"user_id", "roles"}`` (sign in
        again, or refresh, for a token carrying the new role).
        Errors: NotAuthenticated, ValidationError (``role``), Conflict (already held, or a
        staff account).
        """
        caller = self.caller.authenticated()

        def run(uow):
            user = uow.load(User, caller.user_id, must_exist=True)
            user.add_role(args["role"], actor_id=caller.user_id, now=self.store.clock.now())
            uow.save(user)
            return {"user_id": user.id, "roles": list(user.roles)}

        return self._command("add_role", args, run, caller.user_id)

    @rpc
    @validated(schemas.ChangePasswordSchema)
    def change_password(self, args) -> dict:
        """The caller replaces their password, proving the current one.

        Arguments: ``current_password``, ``new_password``, ``idempotency_key``.
        Result: ``{"user_id", "changed": true}``.
        Errors: NotAuthenticated, ValidationError (``current_password`` wrong,
        ``new_password`` against the policy or unchanged).
        """
        caller = self.caller.authenticated()
        runtime = self.identity

        def run(uow):
            user = uow.load(User, caller.user_id, must_exist=True)
            user.change_password(
                current_password=args["current_password"],
                new_password=args["new_password"],
                hasher=runtime.hasher,
                policy=runtime.policy,
                actor_id=caller.user_id,
                now=self.store.clock.now(),
            )
            uow.save(user)
            return {"user_id": user.id, "changed": True}

        return self.store.command(
            "change_password",
            {"user_id": caller.user_id},
            run,
            idempotency_key=args["idempotency_key"],
            actor=caller.user_id,
        )

    # -- sessions and tokens ------------------------------------------------------------

    @rpc
    @validated(schemas.LoginSchema)
    def login(self, args) -> dict:
        """Sign in with email and password. Anyone may call; no idempotency key (the
        result holds secrets that are never stored).

        Arguments: ``email``, ``password``.
        Result: ``{"access_token", "token_type": "Bearer", "expires_at", "expires_in",
        "refresh_token", "refresh_expires_at", "session_id", "user_id", "roles"}``.
        Errors: ValidationError (malformed input), NotAuthenticated ("wrong email or
        password", the same for an unknown email), Forbidden (account suspended, with the
        reason in ``details``).
        """
        runtime = self.identity

        def run(uow):
            now = self.store.clock.now()
            reservation = uow.load(EmailReservation, email_key(args["email"]))
            user = uow.load(User, reservation.user_id or NO_ACCOUNT)
            user.sign_in(args["password"], runtime.hasher, now)
            session = Session.fresh(str(uuid.uuid4()))
            refresh_token = new_refresh_token(session.id)
            session.start(
                user_id=user.id,
                token_digest=token_digest(refresh_token),
                now=now,
                settings=runtime.settings,
            )
            tokens = self._tokens(uow, user, session, refresh_token, now)
            uow.save(user, session)
            return tokens

        return self.store.command("login", {}, run)

    @rpc
    @validated(schemas.RefreshSchema)
    def refresh(self, args) -> dict:
        """Trade a refresh token for a new access token and a new refresh token (rotation).
        Anyone holding the refresh token may call; no idempotency key.

        Arguments: ``refresh_token``. Result: as ``login``.
        Errors: NotAuthenticated (unknown, expired or revoked token; a token already rotated
        away revokes the whole session, ``details={"reason": "refresh_token_reused"}``),
        Forbidden (account suspended).
        """
        runtime = self.identity
        presented = args["refresh_token"]
        session_id = session_of_refresh_token(presented)

        def run(uow):
            now = self.store.clock.now()
            session = uow.load(Session, session_id)
            if not session.exists:
                raise NotAuthenticated("unknown refresh token")
            user = uow.load(User, session.user_id)
            user.ensure_can_sign_in()
            rotated = new_refresh_token(session.id)
            try:
                session.refresh(
                    presented_digest=token_digest(presented),
                    new_digest=token_digest(rotated),
                    now=now,
                    settings=runtime.settings,
                )
            except RefreshTokenReused as exc:
                # the revocation must commit before the caller hears about it
                uow.save(session)
                return {"reused": str(exc)}
            tokens = self._tokens(uow, user, session, rotated, now)
            uow.save(session)
            return tokens

        result = self.store.command("refresh", {}, run)
        if "reused" in result:
            raise NotAuthenticated(result["reused"], {"reason": "refresh_token_reused"})
        return result

    @rpc
    @validated(schemas.LogoutSchema)
    def logout(self, args) -> dict:
        """End a session: the one of ``refresh_token`` (which proves who is asking), or else
        the one of the caller's access token.

        Arguments: ``refresh_token`` (optional), ``idempotency_key``.
        Result: ``{"session_id", "revoked": bool}`` (false when it had already ended).
        Errors: NotAuthenticated (no valid token of the session), Forbidden (another user's
        session, unless an operator).
        """
        presented = args["refresh_token"]
        if presented:
            session_id = session_of_refresh_token(presented)
            caller = None
        else:
            caller = self.caller.authenticated()
            if not caller.session_id:
                raise NotAuthenticated("this token names no session")
            session_id = caller.session_id

        def run(uow):
            session = uow.load(Session, session_id)
            if not session.exists:
                raise NotAuthenticated("unknown session")
            if caller is None:
                if not hmac.compare_digest(
                    token_digest(presented).encode(), (session.current_digest or "").encode()
                ):
                    raise NotAuthenticated("unknown refresh token")
                actor_id, actor_roles = session.user_id, []
            else:
                actor_id, actor_roles = caller.user_id, sorted(caller.roles)
            revoked = session.revoke(
                actor_id=actor_id, actor_roles=actor_roles, now=self.store.clock.now()
            )
            uow.save(session)
            return {"session_id": session.id, "revoked": revoked}

        return self.store.command(
            "logout",
            {"session_id": session_id},
            run,
            idempotency_key=args["idempotency_key"],
            actor=caller.user_id if caller else None,
        )

    @rpc
    @validated(schemas.PublicKeysSchema)
    def public_keys(self, args) -> dict:
        """The JWKS of the keys access tokens may be signed with now: the current key first,
        then retired keys until every token they signed has expired. Anyone may call.

        Result: ``{"keys": [{"kty": "OKP", "crv": "Ed25519", "x", "kid", "alg", "use"}]}``.
        """
        ring = self.identity.key_ring(self.store)
        return ring.public_keys(self.store.clock.now())

    @rpc
    @validated(schemas.RotateKeysSchema)
    def rotate_keys(self, args) -> dict:
        """An operator makes a new key sign from now on; the old one stays published until
        the tokens it signed have expired, so nobody is logged out.

        Arguments: ``idempotency_key``. Result: ``{"kid", "previous_kid"}``.
        Errors: NotAuthenticated, Forbidden (not an operator).
        """
        caller = self.caller.require_role("operator")
        runtime = self.identity

        def run(uow):
            keys = uow.load(SigningKeys, KEY_RING_ID)
            previous = keys.ring.current
            keys.rotate(
                new_key=SigningKey.generate(),
                actor_id=caller.user_id,
                actor_roles=sorted(caller.roles),
                now=self.store.clock.now(),
                settings=runtime.settings,
            )
            uow.save(keys)
            return {
                "kid": keys.ring.current.kid,
                "previous_kid": previous.kid if previous else None,
            }

        return self._command("rotate_keys", args, run, caller.user_id)

    # -- profiles -----------------------------------------------------------------------

    @rpc
    @validated(schemas.MeSchema)
    def me(self, args) -> dict:
        """The caller's own account: email, roles, status, verifications, profile and
        completeness (per role: ``{"percent", "missing": [{"field", "hint", "weight"}]}``).

        Errors: NotAuthenticated (no token, or the account is suspended), NotFound.
        """
        caller = self.caller.authenticated()
        row = self._row(caller.user_id)
        if row is None:
            raise NotFound("no such account")
        return me_view(row)

    @rpc
    @validated(schemas.GetProfileSchema)
    def get_profile(self, args) -> dict:
        """One account's profile, as the caller may see it. Anyone may call.

        Arguments: ``user_id``. Result: ``{"user_id", "display_name", "roles", "visibility",
        "member_since", "verified", "freelancer"?, "client"?}``, plus ``status`` and
        ``completeness`` for the holder and staff.
        Errors: NotFound (no account, or hidden: private or suspended, to anyone but the
        holder and staff), NotAuthenticated (a ``signed_in`` profile asked anonymously).
        """
        caller = self.caller.current
        return profile_view(
            self._row(args["user_id"]), viewer_id=caller.user_id, viewer_roles=sorted(caller.roles)
        )

    @rpc
    @validated(schemas.UpdateProfileSchema)
    def update_profile(self, args) -> dict:
        """The holder (or an operator, naming ``user_id``) changes profile fields; each field
        given replaces the stored one and ``null`` clears it.

        Arguments: ``user_id`` (optional, default the caller), ``display_name``,
        ``visibility`` (public, signed_in, private), ``freelancer`` {title, overview,
        hourly_rate {amount, currency}, skills (at most 15, from ``list_skills``), portfolio,
        employment, education, languages, certifications, availability}, ``client``
        {company_name, company_size, location {country, city}}, ``idempotency_key``.
        Result: ``{"user_id", "changed": [dotted field names], "completeness"}``.
        Errors: NotAuthenticated, Forbidden (someone else's profile; a suspended holder),
        NotFound, ValidationError naming each field (e.g. ``freelancer.skills``).
        """
        caller = self.caller.authenticated()
        target = args["user_id"] or caller.user_id
        runtime = self.identity

        def run(uow):
            user = uow.load(User, target, must_exist=True)
            changed = user.update_profile(
                schemas.profile_changes(args),
                actor_id=caller.user_id,
                actor_roles=sorted(caller.roles),
                now=self.store.clock.now(),
                settings=runtime.settings,
                taxonomy=runtime.taxonomy,
            )
            uow.save(user)
            # the projection ran in this transaction: the row already shows the change
            found = uow.execute(
                "SELECT row FROM user_profiles WHERE user_id = %s", (target,)
            ).fetchone()
            return {
                "user_id": target,
                "changed": changed,
                "completeness": completeness(found[0]) if found else {},
            }

        return self.store.command(
            "update_profile",
            {**_without(args, "idempotency_key"), "user_id": target},
            run,
            idempotency_key=args["idempotency_key"],
            actor=caller.user_id,
        )

    @rpc
    @validated(schemas.ListSkillsSchema)
    def list_skills(self, args) -> dict:
        """The skills taxonomy by category (optionally one ``category``). Anyone may call.

        Result: ``{"categories": {name: [skill, ...]}}``. Errors: NotFound (unknown category).
        """
        categories = self.identity.taxonomy.categories()
        if args["category"] is not None:
            if args["category"] not in categories:
                raise NotFound(f"no skill category {args['category']!r}")
            categories = {args["category"]: categories[args["category"]]}
        return {"categories": categories}

    # -- verification and standing ------------------------------------------------------

    @rpc
    @validated(schemas.RequestEmailVerificationSchema)
    def request_email_verification(self, args) -> dict:
        """Email the caller a fresh verification code (it replaces any earlier one).

        Arguments: ``idempotency_key``. Result: ``{"user_id", "expires_at"}``; the code goes
        only to the account's email address.
        Errors: NotAuthenticated, Conflict (email already verified).
        """
        caller = self.caller.authenticated()
        runtime = self.identity

        def run(uow):
            now = self.store.clock.now()
            user = uow.load(User, caller.user_id, must_exist=True)
            code = new_email_code()
            user.request_email_verification(token_digest(code), now, runtime.settings)
            uow.save(user)
            expires_at = now + runtime.settings.email_verification_lifetime
            queue_verification_code(
                uow, user_id=user.id, to=user.email, code=code, expires_at=expires_at, now=now
            )
            return {"user_id": user.id, "expires_at": iso(expires_at)}

        return self._command("request_email_verification", args, run, caller.user_id)

    @rpc
    @validated(schemas.VerifyEmailSchema)
    def verify_email(self, args) -> dict:
        """Confirm an email address with the emailed code. Anyone may call (the emailed
        link carries both values).

        Arguments: ``user_id``, ``code``, ``idempotency_key``.
        Result: ``{"user_id", "verified": {"by", "at"}}``.
        Errors: NotFound, ValidationError (``code`` wrong or expired), Conflict (no code
        requested, or already verified).
        """

        def run(uow):
            user = uow.load(User, args["user_id"], must_exist=True)
            user.verify_email(token_digest(args["code"]), self.store.clock.now())
            uow.save(user)
            return {"user_id": user.id, "verified": user.verifications["email"]}

        return self.store.command(
            "verify_email",
            {"user_id": args["user_id"], "code_digest": token_digest(args["code"])},
            run,
            idempotency_key=args["idempotency_key"],
        )

    @rpc
    @validated(schemas.VerifyIdentitySchema)
    def verify_identity(self, args) -> dict:
        """An operator records that an account holder's identity was checked.

        Arguments: ``user_id``, ``method`` (government_id, video_call, manual_review),
        ``idempotency_key``. Result: ``{"user_id", "verified": {"by", "at"}}``.
        Errors: NotAuthenticated, Forbidden (not an operator), NotFound, Conflict (already
        verified).
        """
        caller = self.caller.require_role("operator")

        def run(uow):
            user = uow.load(User, args["user_id"], must_exist=True)
            user.verify_identity(
                actor_id=caller.user_id,
                actor_roles=sorted(caller.roles),
                method=args["method"],
                now=self.store.clock.now(),
            )
            uow.save(user)
            return {"user_id": user.id, "verified": user.verifications["identity"]}

        return self._command("verify_identity", args, run, caller.user_id)

    @rpc
    @validated(schemas.VerifyPaymentMethodSchema)
    def verify_payment_method(self, args) -> dict:
        """An operator records a client's payment method as verified, with the payment
        provider's reference. (The self-service path waits for the payment-provider port.)

        Arguments: ``user_id``, ``provider_reference``, ``idempotency_key``.
        Result: ``{"user_id", "verified": {"by", "at"}}``.
        Errors: NotAuthenticated, Forbidden (not an operator), ValidationError (``user_id``
        missing), NotFound, Conflict (not a client, or already verified).
        """
        caller = self.caller.require_role("operator")
        if not args["user_id"]:
            raise _missing("user_id")

        def run(uow):
            user = uow.load(User, args["user_id"], must_exist=True)
            user.verify_payment_method(
                actor_id=caller.user_id,
                actor_roles=sorted(caller.roles),
                provider_reference=args["provider_reference"],
                now=self.store.clock.now(),
            )
            uow.save(user)
            return {"user_id": user.id, "verified": user.verifications["payment_method"]}

        return self._command("verify_payment_method", args, run, caller.user_id)

    @rpc
    @validated(schemas.SuspendSchema)
    def suspend(self, args) -> dict:
        """An operator suspends an account, with a reason: it can no longer sign in or
        refresh, its tokens are refused here at once and by other services once they have
        received ``UserSuspended``.

        Arguments: ``user_id``, ``reason``, ``idempotency_key``.
        Result: ``{"user_id", "status": "suspended"}``.
        Errors: NotAuthenticated, Forbidden (not an operator), NotFound, ValidationError
        (``reason`` blank), Conflict (already suspended, or the operator themselves).
        """
        caller = self.caller.require_role("operator")

        def run(uow):
            user = uow.load(User, args["user_id"], must_exist=True)
            user.suspend(
                actor_id=caller.user_id,
                actor_roles=sorted(caller.roles),
                reason=args["reason"],
                now=self.store.clock.now(),
            )
            uow.save(user)
            return {"user_id": user.id, "status": "suspended"}

        return self._command("suspend", args, run, caller.user_id)

    @rpc
    @validated(schemas.ReinstateSchema)
    def reinstate(self, args) -> dict:
        """An operator lifts a suspension, with a reason.

        Arguments: ``user_id``, ``reason``, ``idempotency_key``.
        Result: ``{"user_id", "status": "active"}``.
        Errors: NotAuthenticated, Forbidden (not an operator), NotFound, ValidationError
        (``reason``), Conflict (not suspended).
        """
        caller = self.caller.require_role("operator")

        def run(uow):
            user = uow.load(User, args["user_id"], must_exist=True)
            user.reinstate(
                actor_id=caller.user_id,
                actor_roles=sorted(caller.roles),
                reason=args["reason"],
                now=self.store.clock.now(),
            )
            uow.save(user)
            return {"user_id": user.id, "status": "active"}

        return self._command("reinstate", args, run, caller.user_id)

    # -- helpers ------------------------------------------------------------------------

    def _command(self, method: str, args: dict, run, actor: str):
        return self.store.command(
            method,
            _without(args, "idempotency_key"),
            run,
            idempotency_key=args.get("idempotency_key"),
            actor=actor,
        )

    def _row(self, user_id: str) -> dict | None:
        rows = self.store.query("SELECT row FROM user_profiles WHERE user_id = %s", (user_id,))
        return rows[0][0] if rows else None

    def _tokens(self, uow, user: User, session: Session, refresh_token: str, now) -> dict:
        settings = self.identity.settings
        ring = uow.load(SigningKeys, KEY_RING_ID).ring
        access = issue_access_token(
            ring,
            user_id=user.id,
            roles=user.roles,
            session_id=session.id,
            now=now,
            lifetime=settings.access_token_lifetime,
        )
        return {
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_at": iso(access.expires_at),
            "expires_in": int(settings.access_token_lifetime.total_seconds()),
            "refresh_token": refresh_token,
            "refresh_expires_at": iso(session.expires_at),
            "session_id": session.id,
            "user_id": user.id,
            "roles": list(user.roles),
        }


def _without(args: dict, *names: str) -> dict:
    return {k: v for k, v in args.items() if k not in names}


def _missing(field: str) -> ValidationError:
    return ValidationError("invalid input", {field: ["Missing data for required field."]})
