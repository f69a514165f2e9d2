"""Moderator accounts, login sessions, CSRF tokens and the login throttle.

Accounts come from ``REPLIK_MODERATORS`` (name -> name of the environment
variable holding the password hash made by ``replik passwd NAME``), so no
password or hash ever sits in a committed file. A session is a row in the state
file (``state.py``) named by a random id in Flask's signed cookie (HttpOnly,
SameSite=Strict, Secure over https): it ends after ``REPLIK_DESK_IDLE_MINUTES``
without activity, ``REPLIK_DESK_SESSION_HOURS`` after login, or at logout, and
then a copied cookie is worth nothing. Login attempts are counted in the state
file too, before the password is checked (``state.LoginAttempts``); a refused
attempt is answered at once with 429 and Retry-After, never by sleeping in the
worker.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from flask import Flask, Request, abort, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.security import check_password_hash, generate_password_hash

from ..i18n import gettext_for
from ..settings import Settings, secret
from ..state import open_state
from ..tokens import SECRET_ENV

log = logging.getLogger("replik.auth")

CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
HASH_METHOD = "scrypt"
# Checked for unknown names so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16), method=HASH_METHOD)


def make_hash(password: str) -> str:
    return generate_password_hash(password, method=HASH_METHOD)


_warned: set[tuple[str, str]] = set()


def moderator_variables(settings: Settings) -> dict[str, str]:
    """Name -> variable from REPLIK_MODERATORS in the settings, plus the environment's
    ``REPLIK_MODERATORS="anna:REPLIK_PASSWORD_ANNA,bert:REPLIK_PASSWORD_BERT"`` (for a
    local ``make serve`` without editing pelicanconf.py; the settings win)."""
    found: dict[str, str] = {}
    for item in secret("REPLIK_MODERATORS").split(","):
        name, colon, variable = item.strip().partition(":")
        if colon and name.strip() and variable.strip():
            found[name.strip()] = variable.strip()
    found.update(settings.moderators)
    return found


def accounts(settings: Settings) -> dict[str, str]:
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


def check_password(settings: Settings, name: str, password: str) -> bool:
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


def _session_limits(settings: Settings) -> dict[str, float]:
    return {"idle": settings.desk_idle_minutes * 60, "lifetime": settings.desk_session_hours * 3600}


def current_user() -> str | None:
    """The logged-in moderator, or None (also when the session has ended).

    Asked once per request: the answer is kept for the rest of it.
    """
    if "replik_user" in g:
        return g.replik_user
    user: str | None = None
    session_id = session.get("sid")
    if session_id:
        settings = current_app.config["REPLIK"]
        user, why = open_state(settings).sessions.use(str(session_id),
                                                      **_session_limits(settings))
        if user is not None and user not in accounts(settings):
            log_out()  # the account is gone
            user = None
        elif user is None:
            session.clear()
            if why in ("idle", "lifetime"):
                session["expired"] = why
    g.replik_user = user
    return user


def log_in(name: str) -> None:
    # A fresh session (and CSRF token) at login: nothing from before carries over.
    settings = current_app.config["REPLIK"]
    session.clear()
    session["sid"] = open_state(settings).sessions.start(name, **_session_limits(settings))
    session["csrf"] = secrets.token_urlsafe(32)
    g.replik_user = name


def log_out() -> None:
    """End the session on the server, so that a copy of the cookie no longer works."""
    session_id = session.get("sid")
    if session_id:
        open_state(current_app.config["REPLIK"]).sessions.end(str(session_id))
    session.clear()
    g.replik_user = None


def csrf_token() -> str:
    return str(session.setdefault("csrf", secrets.token_urlsafe(32)))


def desk_text(text: str) -> str:
    """``text`` in the desk's language (the site's, as the desk's pages)."""
    return gettext_for(current_app.config["REPLIK"])(text)


def require_csrf() -> None:
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not (expected and hmac.compare_digest(str(expected).encode(), given.encode())):
        log.warning("replik: refused a desk request without a valid CSRF token from %s",
                    request.remote_addr)
        abort(403, description=desk_text(
            "The form was stale or not sent by the desk. Reload the page and try again."))


def safe_next(target: str | None, prefix: str) -> str | None:
    """Only redirect after login to a page of the desk itself (no open redirect)."""
    if not target or not target.startswith(prefix + "/") and target != prefix:
        return None
    if target.startswith("//") or "\\" in target or "\n" in target or "\r" in target:
        return None
    return target

