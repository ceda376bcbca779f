"""Who is calling: verification of identity's access tokens, and the caller object.

identity signs access tokens (EdDSA JWTs, key id in the header) and publishes its public
keys as a JWKS through ``identity.public_keys``. Other services verify tokens locally with
those keys, fetching the set again only when a token names a key they have not seen (at
most every few seconds), so there is no call to identity per request. Expiry is judged by
the service's injected clock. A user suspended by an operator is refused once the
``UserSuspended`` event has reached the service (see ``shared.access``).

The token travels in the nameko context data as ``authorization: Bearer <token>``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field

import jwt
from nameko.extensions import DependencyProvider

from shared.clock import Clock, clock_from_config
from shared.config import flag
from shared.errors import Forbidden, NotAuthenticated

log = logging.getLogger(__name__)

ISSUER = "marketplace-identity"
AUDIENCE = "marketplace"
ROLES = ("client", "freelancer", "operator", "auditor")


@dataclass(frozen=True)
class Caller:
    """The verified caller of one request (or the anonymous one)."""

    user_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    session_id: str | None = None
    token_id: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def require_role(self, *roles: str) -> Caller:
        if not self.has_role(*roles):
            raise Forbidden(f"this needs the role {' or '.join(roles)}")
        return self

    def require_user(self, *user_ids: str | None) -> Caller:
        """The caller must be one of ``user_ids`` (e.g. the owner or a party)."""
        if self.user_id is None or self.user_id not in user_ids:
            raise Forbidden("you are not a party to this")
        return self

    def to_dict(self) -> dict:
        return {"user_id": self.user_id, "roles": sorted(self.roles)}


ANONYMOUS = Caller()


class KeySet:
    """Public keys by key id, refreshed from a fetch function on an unknown key id."""

    def __init__(
        self,
        fetch: Callable[[], dict] | None = None,
        jwks: dict | None = None,
        min_interval: float = 5.0,
    ):
        self._fetch = fetch
        self._keys: dict[str, jwt.PyJWK] = {}
        self._lock = threading.Lock()
        self._fetch_lock = threading.Lock()
        self._last_fetch = float("-inf")
        self.min_interval = min_interval
        if jwks:
            self.load(jwks)

    def load(self, jwks: dict) -> None:
        keys = {}
        for entry in jwks.get("keys", []):
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry)
            except (KeyError, jwt.PyJWKError) as exc:
                log.warning("ignoring unusable public key %s: %s", entry.get("kid"), exc)
        with self._lock:
            self._keys.update(keys)

    def get(self, kid: str) -> jwt.PyJWK | None:
        key = self._keys.get(kid)
        if key is not None or self._fetch is None:
            return key
        # Callers that meet the same unknown key id at once (the first requests after a
        # start) wait for the one fetch in flight and then look again; before, they found
        # the fetch "recent", skipped it, and refused valid tokens as NotAuthenticated.
        with self._fetch_lock:
            key = self._keys.get(kid)
            if key is None and time.monotonic() - self._last_fetch >= self.min_interval:
                self._last_fetch = time.monotonic()
                try:
                    self.load(self._fetch())
                except Exception as exc:  # identity unreachable: refuse this token, try later
                    log.warning("could not fetch identity's public keys: %s", exc)
                key = self._keys.get(kid)
        return key


class TokenVerifier:
    """Checks identity's access tokens.

    A client sends the same token with every call until it expires, and the signature check
    is the costliest part of most small RPCs; so the claims of tokens whose signature,
    issuer and audience checked out are remembered (least recently used out, ``cache_size``
    of them). Expiry is judged again on every call, and keys are only ever added to the key
    set, so a remembered token is exactly as valid as a freshly checked one.
    """

    def __init__(self, keys: KeySet, clock: Clock, cache_size: int = 4096):
        self.keys = keys
        self.clock = clock
        self.cache_size = cache_size
        self._verified: OrderedDict[str, dict] = OrderedDict()

    def verify(self, token: str) -> dict:
        """The token's claims, or NotAuthenticated saying why not."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._check_signature(token)
            self._verified[token] = claims
            if len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        else:
            with suppress(KeyError):  # another thread may have just let it go
                self._verified.move_to_end(token)
        if not isinstance(claims.get("exp"), int) or self.clock.now().timestamp() >= claims["exp"]:
            raise NotAuthenticated("token expired")
        return claims

    def _check_signature(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise NotAuthenticated("malformed token") from None
        kid = header.get("kid")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise NotAuthenticated("token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "sub", "iss", "aud"],
                },
            )
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"invalid token: {exc}") from None
        return claims

    def caller(
        self, authorization: str | None, is_suspended: Callable[[str], bool] = lambda _: False
    ) -> Caller:
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("expected 'Bearer <token>'")
        claims = self.verify(token.strip())
        user_id = str(claims["sub"])
        if is_suspended(user_id):
            raise NotAuthenticated("this account is suspended")
        roles = claims.get("roles") or []
        return Caller(
            user_id=user_id,
            roles=frozenset(r for r in roles if r in ROLES),
            session_id=claims.get("sid"),
            token_id=claims.get("jti"),
        )


class CallerContext:
    """Handed to workers; verifies the token on first use, so anonymous methods pay nothing."""

    def __init__(
        self,
        verifier: TokenVerifier,
        authorization: str | None,
        is_suspended: Callable[[str], bool],
    ):
        self._verifier = verifier
        self._authorization = authorization
        self._is_suspended = is_suspended
        self._caller: Caller | None = None

    @property
    def current(self) -> Caller:
        if self._caller is None:
            self._caller = self._verifier.caller(self._authorization, self._is_suspended)
        return self._caller

    @property
    def authorization(self) -> str | None:
        return self._authorization

    def authenticated(self) -> Caller:
        caller = self.current
        if caller.is_anonymous:
            raise NotAuthenticated("sign in first")
        return caller

    def require_role(self, *roles: str) -> Caller:
        return self.authenticated().require_role(*roles)


def _fetch_from_identity(config: dict) -> Callable[[], dict]:
    def fetch() -> dict:
        from nameko.standalone.rpc import ClusterRpcProxy

        with ClusterRpcProxy(config, timeout=5) as rpc:
            return rpc.identity.public_keys()

    return fetch


class CallerProvider(DependencyProvider):
    """``caller = CallerProvider()`` on a service; ``self.caller.authenticated()`` in entrypoints.

    Config: ``AUTH_PUBLIC_KEYS`` (a JWKS as JSON, optional: otherwise fetched from identity),
    ``AUTH_FETCH_KEYS`` (default true). Suspensions come from the service's
    ``suspended_users`` table, fed by identity's events.
    """

    def __init__(self, local_keys: Callable[[], dict] | None = None):
        # identity itself passes a function reading its own key ring
        self.local_keys = local_keys

    def setup(self):
        config = self.container.config
        static = config.get("AUTH_PUBLIC_KEYS")
        jwks = (
            json.loads(static) if isinstance(static, str) and static.strip() else (static or None)
        )
        fetch = self.local_keys
        if fetch is None and flag(config, "AUTH_FETCH_KEYS"):
            fetch = _fetch_from_identity(config)
        min_interval = 0.0 if self.local_keys is not None else 5.0
        self.keys = KeySet(fetch=fetch, jwks=jwks, min_interval=min_interval)
        self.verifier = TokenVerifier(self.keys, clock_from_config(config))

    def _suspension_check(self) -> Callable[[str], bool]:
        from shared.storage import EventStore

        stores = [d for d in self.container.dependencies if isinstance(d, EventStore)]
        if not stores or stores[0].store is None:
            return lambda _: False
        pool = stores[0].store.pool

        from shared.storage import read_connection

        def is_suspended(user_id: str) -> bool:
            with read_connection(pool) as conn:
                return (
                    conn.execute(
                        "SELECT 1 FROM suspended_users WHERE user_id = %s", (user_id,)
                    ).fetchone()
                    is not None
                )

        return is_suspended

    def get_dependency(self, worker_ctx) -> CallerContext:
        return CallerContext(
            self.verifier, worker_ctx.data.get("authorization"), self._suspension_check()
        )


def bearer(token: str) -> dict:
    """Context data that makes a nameko RPC proxy call as the holder of ``token``."""
    return {"authorization": f"Bearer {token}"}


def roles_of(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v for v in values if v in ROLES)
