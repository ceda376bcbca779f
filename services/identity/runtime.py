"""What the identity service needs besides the store: its settings from config, the
password hasher, the skills taxonomy, the signing-key ring, and the start-up seeding.

Config (every value optional; see ``config.yaml``):
``ACCESS_TOKEN_LIFETIME_SECONDS``, ``REFRESH_TOKEN_LIFETIME_SECONDS``,
``EMAIL_VERIFICATION_LIFETIME_SECONDS``, ``KEY_RETIREMENT_GRACE_SECONDS``,
``PASSWORD_MIN_LENGTH``, ``PASSWORD_MAX_LENGTH``, ``ARGON2_TIME_COST``,
``ARGON2_MEMORY_COST`` (KiB), ``ARGON2_PARALLELISM``, and ``SEED_STAFF``: a list (or its JSON)
of ``{"email", "password_hash" (argon2id), "display_name", "roles", "user_id"?}``.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from nameko.extensions import DependencyProvider

from shared.auth import CallerProvider
from shared.errors import ConcurrencyError, Conflict
from shared.storage import EventStore, Storage, retry_on_conflict

from .domain import CONFIG_SEED, EmailReservation, SigningKeys, User, email_key, seed_staff_account
from .passwords import PasswordHasher, PasswordPolicy
from .settings import IdentitySettings
from .skills import SkillsTaxonomy, seeded_taxonomy
from .tokens import KeyRing, SigningKey

log = logging.getLogger(__name__)

# The id of this deployment's key ring: stream ``signing-keys-identity``.
KEY_RING_ID = "identity"
# Namespace of the user ids given to seeded staff accounts, so every replica agrees.
STAFF_NAMESPACE = uuid.UUID("5d0c8a63-2f4e-4c59-9f5e-3a7f4b8f2e11")


def settings_from_config(config: dict) -> IdentitySettings:
    """``IdentitySettings`` with the lifetimes and limits the config overrides."""
    defaults = IdentitySettings()

    def lifetime(key: str, default: timedelta) -> timedelta:
        value = config.get(key)
        return default if value in (None, "") else timedelta(seconds=int(value))

    def number(key: str, default: int) -> int:
        value = config.get(key)
        return default if value in (None, "") else int(value)

    return IdentitySettings(
        access_token_lifetime=lifetime(
            "ACCESS_TOKEN_LIFETIME_SECONDS", defaults.access_token_lifetime
        ),
        refresh_token_lifetime=lifetime(
            "REFRESH_TOKEN_LIFETIME_SECONDS", defaults.refresh_token_lifetime
        ),
        email_verification_lifetime=lifetime(
            "EMAIL_VERIFICATION_LIFETIME_SECONDS", defaults.email_verification_lifetime
        ),
        key_retirement_grace=lifetime(
            "KEY_RETIREMENT_GRACE_SECONDS", defaults.key_retirement_grace
        ),
        password_min_length=number("PASSWORD_MIN_LENGTH", defaults.password_min_length),
        password_max_length=number("PASSWORD_MAX_LENGTH", defaults.password_max_length),
    )


def hasher_from_config(config: dict) -> PasswordHasher:
    """argon2id with the configured cost (production defaults; tests configure it cheap)."""
    return PasswordHasher(
        time_cost=int(config.get("ARGON2_TIME_COST") or 3),
        memory_cost=int(config.get("ARGON2_MEMORY_COST") or 65536),
        parallelism=int(config.get("ARGON2_PARALLELISM") or 4),
    )


def staff_from_config(config: dict) -> list[dict]:
    value = config.get("SEED_STAFF") or []
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if not isinstance(value, list):
        raise ValueError("SEED_STAFF must be a list of staff accounts")
    return value


@dataclass(frozen=True)
class Identity:
    """Handed to workers: the rules' settings and tools, and the current key ring."""

    settings: IdentitySettings
    hasher: PasswordHasher
    policy: PasswordPolicy
    taxonomy: SkillsTaxonomy

    def key_ring(self, storage: Storage) -> KeyRing:
        return storage.store.load(SigningKeys, KEY_RING_ID).ring


def _storage_of(container) -> Storage:
    stores = [d for d in container.dependencies if isinstance(d, EventStore)]
    if not stores or stores[0].store is None:
        raise RuntimeError("the identity service needs its EventStore set up first")
    return Storage(stores[0].store, {"actor": CONFIG_SEED})


class IdentityRuntime(DependencyProvider):
    """Builds ``Identity`` from config; at start-up seeds the first signing key (when the
    ring is empty) and the staff accounts of ``SEED_STAFF`` (those not there yet)."""

    def setup(self):
        config = self.container.config
        settings = settings_from_config(config)
        self.identity = Identity(
            settings=settings,
            hasher=hasher_from_config(config),
            policy=PasswordPolicy.from_settings(settings),
            taxonomy=seeded_taxonomy(),
        )
        self.staff = staff_from_config(config)

    def start(self):
        storage = _storage_of(self.container)
        seed_signing_key(storage, self.identity.settings)
        for account in self.staff:
            seed_staff(storage, account)

    def get_dependency(self, worker_ctx) -> Identity:
        return self.identity


def seed_signing_key(storage: Storage, settings: IdentitySettings) -> bool:
    """Activate a first signing key if the ring is empty; True if this call did it."""
    try:
        with storage.transaction() as uow:
            keys = uow.load(SigningKeys, KEY_RING_ID)
            if keys.exists:
                return False
            keys.rotate(
                new_key=SigningKey.generate(),
                actor_id=CONFIG_SEED,
                actor_roles=[],
                now=storage.clock.now(),
                settings=settings,
            )
            uow.save(keys)
            return True
    except ConcurrencyError:
        return False  # another replica seeded it at the same moment


def seed_staff(storage: Storage, account: dict) -> bool:
    """Open one staff account from config unless its email is already taken."""
    email = account["email"]
    user_id = account.get("user_id") or str(uuid.uuid5(STAFF_NAMESPACE, email.strip().lower()))

    def attempt() -> bool:
        with storage.transaction() as uow:
            reservation = uow.load(EmailReservation, email_key(email))
            if reservation.exists:
                return False
            user = uow.load(User, user_id)
            seed_staff_account(
                user,
                reservation,
                email=email,
                password_hash=account["password_hash"],
                display_name=account.get("display_name") or email,
                roles=list(account.get("roles") or ["operator"]),
                now=storage.clock.now(),
            )
            uow.save(user, reservation)
            return True

    try:
        return retry_on_conflict(attempt)
    except Conflict:
        log.warning("staff account %s was not seeded: it exists already", email)
        return False


class OwnKeysCaller(CallerProvider):
    """``CallerProvider`` verifying with identity's own key ring, read from its store.

    ``shared.auth`` takes ``local_keys`` as a function of no arguments; this subclass binds
    it to the container's store, which only exists once the container is set up.
    """

    def __init__(self):
        super().__init__(local_keys=self._own_public_keys)

    def _own_public_keys(self) -> dict:
        storage = _storage_of(self.container)
        ring = storage.store.load(SigningKeys, KEY_RING_ID).ring
        return ring.public_keys(storage.clock.now())
