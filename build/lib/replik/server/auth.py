"""Moderator accounts, login sessions, CSRF tokens and the login lockout.

Accounts come from ``REPLIK_MODERATORS`` (name -> name of the environment
variable holding the password hash made by ``replik passwd NAME``), so no
password or hash ever sits in a committed file. Sessions are Flask's signed
cookie (HttpOnly, SameSite=Strict, Secure over https) with an idle timeout.
Failed logins are counted per account and per client address in a small file
in the cache folder, shared by all server processes: each failure makes the
next answer slower, and after ``REPLIK_LOGIN_MAX_FAILURES`` the account or
address is locked for ``REPLIK_LOGIN_LOCK_MINUTES``.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import wraps
from typing import Any

from flask import Flask, Request, abort, current_app, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.security import check_password_hash, generate_password_hash

from ..settings import cache_path, secret

log = logging.getLogger("replik.auth")

SECRET_ENV = "REPLIK_SECRET_KEY"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
HASH_METHOD = "scrypt"
# Checked for unknown names so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16), method=HASH_METHOD)


def make_hash(password: str) -> str:
    return generate_password_hash(password, method=HASH_METHOD)


def _conf(app_or_settings: Any, key: str, default: Any) -> Any:
    settings = app_or_settings if isinstance(app_or_settings, dict) else \
        app_or_settings.config["REPLIK"]
    value = settings.get(key)
    return default if value is None else value


_warned: set[tuple[str, str]] = set()


def moderator_variables(settings: dict[str, Any]) -> dict[str, str]:
    """Name -> variable from REPLIK_MODERATORS in the settings, plus the environment's
    ``REPLIK_MODERATORS="anna:REPLIK_PASSWORD_ANNA,bert:REPLIK_PASSWORD_BERT"`` (for a
    local ``make serve`` without editing pelicanconf.py; the settings win)."""
    found: dict[str, str] = {}
    for item in secret("REPLIK_MODERATORS").split(","):
        name, colon, variable = item.strip().partition(":")
        if colon and name.strip() and variable.strip():
            found[name.strip()] = variable.strip()
    found.update({str(k): str(v) for k, v in dict(settings.get("REPLIK_MODERATORS") or {}).items()})
    return found


def accounts(settings: dict[str, Any]) -> dict[str, str]:
    """Moderator name -> password hash, for accounts whose variable is set."""
    found: dict[str, str] = {}
    for name, variable in moderator_variables(settings).items():
        value = secret(str(variable))
        if value:
            found[str(name)] = value
        elif (name, variable) not in _warned:
            _warned.add((name, variable))
            log.warning("replik: moderator %r cannot log in: %s is not set", name, variable)
    return found


def check_password(settings: dict[str, Any], name: str, password: str) -> bool:
    stored = accounts(settings).get(name)
    ok = check_password_hash(stored or _DUMMY_HASH, password)
    return ok and stored is not None


# -- sessions -----------------------------------------------------------------
class _SessionInterface(SecureCookieSessionInterface):
    """Marks the cookie Secure whenever the request came over https.

    Flask opens and saves the session on every request, the readers' comment
    POSTs included, which never carry the desk's cookie. Without a cookie there
    is nothing to verify, so no signing serializer is built (it was rebuilt per
    request); an untouched empty session is saved without work. Both give what
    Flask's own interface gives, only cheaper.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure

    def open_session(self, app: Flask, request: Request) -> Any:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if not session and not session.modified and not session.accessed:
            return  # nothing to set, delete or vary on (Flask would return too)
        super().save_session(app, session, response)


def init_sessions(app: Flask) -> None:
    key = secret(SECRET_ENV)
    if not key:
        key = secrets.token_hex(32)
        log.warning(
            "replik: %s is not set; using a random session key, so moderators are logged"
            " out whenever the server restarts (and with several workers, on every"
            " switch between them). Set it to a long random string.", SECRET_ENV,
        )
    if not app.secret_key:
        app.secret_key = key
    app.config.update(
        SESSION_COOKIE_NAME="replik_desk",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
    )
    app.session_interface = _SessionInterface()


def current_user() -> str | None:
    """The logged-in moderator, or None (also when the session has gone idle)."""
    user = session.get("user")
    if not user:
        return None
    idle = float(_conf(current_app, "REPLIK_DESK_IDLE_MINUTES", 30)) * 60
    seen = float(session.get("seen", 0))
    if time.time() - seen > idle or user not in accounts(current_app.config["REPLIK"]):
        session.clear()
        session["expired"] = True
        return None
    session["seen"] = time.time()
    return str(user)


def log_in(name: str) -> None:
    # A fresh session (and CSRF token) at login: nothing from before carries over.
    session.clear()
    session["user"] = name
    session["seen"] = time.time()
    session["csrf"] = secrets.token_urlsafe(32)


def log_out() -> None:
    session.clear()


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def csrf_ok(req: Request) -> bool:
    expected = session.get("csrf")
    given = req.form.get(CSRF_FIELD) or req.headers.get(CSRF_HEADER) or ""
    return bool(expected) and hmac.compare_digest(str(expected).encode(), given.encode())


def require_csrf() -> None:
    if not csrf_ok(request):
        log.warning("replik: refused a desk request without a valid CSRF token from %s",
                    request.remote_addr)
        abort(403, description="The form was stale or not sent by the desk. Reload the page "
                               "and try again.")


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if request.method != "GET":
                abort(403, description="Your session has ended. Log in again.")
            return redirect(url_for("desk.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


# -- failed logins ----------------------------------------------------------------
class Lockout:
    """Failed logins per account and per address, shared by all processes via a file."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.path = cache_path(settings) / "login-failures.json"
        self.max_failures = int(_conf(settings, "REPLIK_LOGIN_MAX_FAILURES", 5))
        self.lock_seconds = float(_conf(settings, "REPLIK_LOGIN_LOCK_MINUTES", 15)) * 60
        self.base_delay = float(_conf(settings, "REPLIK_LOGIN_DELAY", 0.5))
        self.max_delay = 8.0

    @contextmanager
    def _records(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                text = handle.read()
                try:
                    records = json.loads(text) if text.strip() else {}
                except ValueError:
                    records = {}
                now = time.time()
                # Forget failures older than the lock period.
                records = {k: v for k, v in records.items()
                           if now - float(v.get("last", 0)) < self.lock_seconds}
                yield records
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(records))
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @staticmethod
    def keys(name: str, address: str) -> list[str]:
        return [f"user:{name}", f"ip:{address}"]

    def locked_for(self, name: str, address: str) -> float:
        """Seconds until a login for this account/address is allowed again (0 = now)."""
        with self._records() as records:
            now = time.time()
            waits = [float(r["until"]) - now for key in self.keys(name, address)
                     if (r := records.get(key)) and float(r.get("until", 0)) > now]
        return max(waits, default=0.0)

    def failed(self, name: str, address: str) -> float:
        """Count a failure; returns the delay to impose before answering."""
        count = 0
        with self._records() as records:
            now = time.time()
            for key in self.keys(name, address):
                record = records.setdefault(key, {"count": 0})
                record["count"] = int(record["count"]) + 1
                record["last"] = now
                if record["count"] >= self.max_failures:
                    record["until"] = now + self.lock_seconds
                    log.warning("replik: login locked for %s after %d failed attempts",
                                key, record["count"])
                count = max(count, record["count"])
        log.warning("replik: failed desk login for %r from %s (%d in a row)", name, address,
                    count)
        return min(self.base_delay * 2 ** (count - 1), self.max_delay)

    def succeeded(self, name: str, address: str) -> None:
        with self._records() as records:
            for key in self.keys(name, address):
                records.pop(key, None)


def lockout(app: Flask) -> Lockout:
    return Lockout(app.config["REPLIK"])


def client_address() -> str:
    return request.remote_addr or "unknown"


def safe_next(target: str | None, prefix: str) -> str | None:
    """Only redirect after login to a page of the desk itself (no open redirect)."""
    if not target or not target.startswith(prefix + "/") and target != prefix:
        return None
    if target.startswith("//") or "\\" in target or "\n" in target or "\r" in target:
        return None
    return target


__all__ = [
    "CSRF_FIELD", "Lockout", "accounts", "check_password", "client_address", "csrf_ok",
    "csrf_token", "current_user", "init_sessions", "log_in", "log_out", "login_required",
    "make_hash", "moderator_variables", "require_csrf", "safe_next",
]
