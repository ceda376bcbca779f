"""A Python client for RPC callers: ``ClusterRpcProxy`` that signs in and stays signed in.

    from services.gateway.client import MarketplaceClient

    config = {"AMQP_URI": "pyamqp://guest:guest@127.0.0.1:5672/"}
    with MarketplaceClient(config, email="ada@example.com", password="a long passphrase") as rpc:
        me = rpc.identity.me()
        job = rpc.jobs.create_job(title=..., idempotency_key="job-1")

It logs in through ``identity.login`` when entered, sends ``Authorization: Bearer <token>``
in the context data of every call, and before a call whose token is about to expire
(``refresh_margin`` seconds) trades the refresh token for a new pair through
``identity.refresh``, logging in again if the session is gone. Errors arrive as the typed
exceptions of ``shared.errors`` (import it so nameko turns them back into those types).
``MarketplaceClient.register`` makes an account first, for scripts and demos.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from nameko.standalone.rpc import ClusterRpcProxy

import shared.errors  # noqa: F401 - registers the typed errors with nameko
from shared.errors import NotAuthenticated


class MarketplaceClient:
    """Context manager yielding a cluster proxy (``rpc.<service>.<method>(**kwargs)``) that
    calls as the signed-in user.

    ``clock`` returns the current Unix time; token expiry (``expires_at``) is compared with
    it. Pass the clock the services use when it is not the system's (tests).
    """

    def __init__(
        self,
        config: dict,
        email: str,
        password: str,
        refresh_margin: float = 30.0,
        timeout: float | None = 30.0,
        clock: Callable[[], float] = time.time,
    ):
        self.config = config
        self.email = email
        self.password = password
        self.refresh_margin = refresh_margin
        self.timeout = timeout
        self.clock = clock
        # nameko's standalone proxy keeps this very dict as its context data, so a new token
        # written here goes with the next call
        self._context: dict[str, Any] = {}
        self._tokens: dict | None = None
        self._rpc: ClusterRpcProxy | None = None
        self._cluster = None

    # -- the context manager ----------------------------------------------------------

    def __enter__(self) -> _SignedInCluster:
        self._rpc = ClusterRpcProxy(self.config, context_data=self._context, timeout=self.timeout)
        self._cluster = self._rpc.start()
        try:
            self._sign_in()
        except BaseException:
            self._rpc.stop()
            raise
        return _SignedInCluster(self)

    def __exit__(self, *exc_info) -> None:
        if self._rpc is not None:
            self._rpc.stop()
        self._rpc = self._cluster = None

    # -- tokens -----------------------------------------------------------------------

    @property
    def user_id(self) -> str | None:
        return self._tokens["user_id"] if self._tokens else None

    @property
    def access_token(self) -> str | None:
        return self._tokens["access_token"] if self._tokens else None

    def _use(self, tokens: dict) -> None:
        self._tokens = tokens
        self._context["authorization"] = f"Bearer {tokens['access_token']}"

    def _sign_in(self) -> None:
        self._context.pop("authorization", None)
        self._use(self._cluster.identity.login(email=self.email, password=self.password))

    def _expires_at(self) -> float:
        value = self._tokens.get("expires_at") if self._tokens else None
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            return datetime.fromisoformat(value).timestamp()
        return float("-inf")

    def ensure_fresh(self) -> None:
        """Refresh the access token when it expires within ``refresh_margin`` seconds."""
        if self.clock() < self._expires_at() - self.refresh_margin:
            return
        self._context.pop("authorization", None)
        try:
            self._use(self._cluster.identity.refresh(refresh_token=self._tokens["refresh_token"]))
        except NotAuthenticated:
            self._sign_in()  # the session was revoked or ran out: start a new one

    @staticmethod
    def register(config: dict, **arguments) -> dict:
        """``identity.register`` as an anonymous caller (email, password, display_name,
        roles, idempotency_key)."""
        with ClusterRpcProxy(config) as rpc:
            return rpc.identity.register(**arguments)


class _SignedInCluster:
    """``rpc.jobs`` etc.: each method call first makes sure the token is fresh."""

    def __init__(self, client: MarketplaceClient):
        self._client = client

    @property
    def client(self) -> MarketplaceClient:
        return self._client

    def __getattr__(self, service: str) -> _SignedInService:
        if service.startswith("_"):
            raise AttributeError(service)
        return _SignedInService(self._client, service)

    def __getitem__(self, service: str) -> _SignedInService:
        return _SignedInService(self._client, service)


class _SignedInService:
    def __init__(self, client: MarketplaceClient, service: str):
        self._client = client
        self._service = service

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(**kwargs):
            self._client.ensure_fresh()
            return getattr(self._client._cluster[self._service], method)(**kwargs)

        call.__name__ = method
        return call
