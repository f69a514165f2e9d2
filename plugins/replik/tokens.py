"""Signed link tokens (itsdangerous, keyed by ``REPLIK_SECRET_KEY``): the one place.

Each purpose (``moderate``, ``confirm``, ``unsubscribe``) signs with a salt of
its own, so no link can be read as another kind. A token may be *bound*: the
bound text (e.g. a reader's address and thread) is not carried in the token but
goes into the salt, so the token verifies only against it and names no address.

A moderator's one-click link names an action, an entry and the state the entry
was in when the mail went out: it acts only while the entry is still there. It
expires after ``REPLIK_LINK_TTL_DAYS`` (7) and works once (``state.links``).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from .settings import Settings, secret
from .state import open_state
from .store import STATES, is_valid_id

SECRET_ENV = "REPLIK_SECRET_KEY"
#: Actions a moderator's one-click link may carry.
LINK_ACTIONS = ("approve", "spam", "trash")
_INVALID = "This link is damaged or was not made by this site."


class TokenError(Exception):
    """A link that cannot be used; ``reason`` is one of invalid, expired, used, nokey."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def enabled() -> bool:
    return bool(secret(SECRET_ENV))


class _Signer(TimestampSigner):
    """A timestamp signer whose clock tests may set (``now``)."""

    def __init__(self, *args: Any, now: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = now

    def get_timestamp(self) -> int:
        return int(time.time() if self.now is None else self.now)


def _serializer(purpose: str, bound: str, now: float | None) -> URLSafeTimedSerializer:
    key = secret(SECRET_ENV)
    if not key:
        raise TokenError("nokey", f"{SECRET_ENV} is not set, so links are off")
    return URLSafeTimedSerializer(key, salt=f"replik {purpose}\0{bound}", signer=_Signer,
                                  signer_kwargs={"now": now})


def sign(purpose: str, payload: Any, bound: str = "", now: float | None = None) -> str:
    return _serializer(purpose, bound, now).dumps(payload)


def peek(purpose: str, token: str) -> Any:
    """The payload, not yet verified (to find what a bound token is bound to)."""
    _valid, payload = _serializer(purpose, "", None).loads_unsafe(token)
    return payload


def verify(purpose: str, token: str, max_age: float, bound: str = "",
           now: float | None = None) -> tuple[Any, int]:
    """``(payload, signed at)`` of a valid, unexpired token; raises TokenError."""
    try:
        payload, signed = _serializer(purpose, bound, now).loads(
            token, max_age=max_age, return_timestamp=True)
    except SignatureExpired:
        raise TokenError("expired", "This link has expired.") from None
    except BadData:
        raise TokenError("invalid", _INVALID) from None
    return payload, int(signed.timestamp())


# -- moderators' one-click links ---------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    action: str
    entry_id: str
    expires: int
    nonce: str
    #: The state the entry was in when the link was made; it acts only from there.
    state: str = "pending"


def make_action(settings: Settings, action: str, entry_id: str, *,
                state: str = "pending", now: float | None = None) -> str:
    """A link token for ``action`` on ``entry_id`` while it is in ``state``."""
    if action not in LINK_ACTIONS or state not in STATES:
        raise ValueError(f"unknown link action or state {action!r}, {state!r}")
    return sign("moderate", [action, entry_id, state, secrets.token_hex(8)], now=now)


def read_action(settings: Settings, token: str, *, now: float | None = None) -> Claim:
    """Check a link's signature, expiry and whether it was used; it stays unused."""
    ttl = settings.link_ttl_days * 86400
    payload, signed = verify("moderate", token, ttl, now=now)
    try:
        action, entry_id, state, nonce = payload
    except (TypeError, ValueError):
        raise TokenError("invalid", _INVALID) from None
    if action not in LINK_ACTIONS or not is_valid_id(entry_id) or state not in STATES:
        raise TokenError("invalid", _INVALID)
    claim = Claim(action, entry_id, int(signed + ttl), nonce, state)
    if open_state(settings).links.spent(claim.nonce, claim.entry_id):
        raise TokenError("used", "This link was used already.")
    return claim


def spend(settings: Settings, claim: Claim) -> None:
    """Mark a link used; only one caller (in any process) can succeed.

    Raises TokenError when it was used already, OSError when that cannot be recorded.
    """
    try:
        spent = open_state(settings).links.spend(claim.nonce, claim.entry_id, claim.expires)
    except sqlite3.Error as exc:  # the callers answer a failed write like the store's
        raise OSError(f"the state file cannot be written: {exc}") from exc
    if not spent:
        raise TokenError("used", "This link was used already.")


def give_back(settings: Settings, claim: Claim) -> None:
    """Make a used link usable again (its decision could not be saved)."""
    open_state(settings).links.give_back(claim.nonce, claim.entry_id)
