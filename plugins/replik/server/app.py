"""The app factory. Each feature is a blueprint in its own module."""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from flask import Flask, Response, current_app, make_response, request
from markupsafe import escape
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    RequestEntityTooLarge,
    ServiceUnavailable,
)
from werkzeug.middleware.proxy_fix import ProxyFix

from .. import heap
from ..i18n import gettext_for
from ..settings import Settings, load_settings
from .links import link_headers
from .pages import not_found_page
from .responses import json_refusal, wants_json

log = logging.getLogger(__name__)

# Modules that define ``bp`` (a Blueprint) and optionally ``init_app(app)``.
BLUEPRINT_MODULES: list[str] = [
    "replik.server.intake",
    "replik.server.subscribe",
    "replik.server.moderate",
    "replik.server.linkbacks",
]


def create_app(
    settings_path: str | os.PathLike[str] = "pelicanconf.py",
    settings: Settings | None = None,
    **overrides: Any,
) -> Flask:
    """Build the app from the blog's pelicanconf.py (or ready settings), with
    ``overrides`` by setting name."""
    settings = (settings or load_settings(settings_path)).replace(**overrides)
    app = Flask(__name__)
    app.config["REPLIK"] = settings
    configure(app, settings)
    for name in BLUEPRINT_MODULES:
        module = importlib.import_module(name)
        app.register_blueprint(module.bp)
        if hasattr(module, "init_app"):
            module.init_app(app)
    heap.settle()  # everything built so far lives as long as the process
    return app


def configure(app: Flask, settings: Settings) -> None:
    """App-wide limits, secrets and error pages (no stack trace ever reaches a user)."""
    # Large enough for the longest comment, percent-encoded; anything bigger is 413.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = app.config["MAX_CONTENT_LENGTH"]
    # Endpoints with a smaller limit of their own (see limit_body).
    app.config["REPLIK_BODY_LIMITS"] = {}
    app.before_request(_read_body)
    # The session key (REPLIK_SECRET_KEY) is set by the desk's sessions (server/auth.py).
    proxies = settings.trusted_proxies
    if proxies:
        # Behind nginx: take the client's address from X-Forwarded-For (that many hops).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    app.after_request(link_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    hsts = settings.hsts
    if hsts:
        app.after_request(lambda response: _strict_transport(response, hsts))


def _strict_transport(response: Response, value: str) -> Response:
    """HSTS on answers over https (behind a proxy: X-Forwarded-Proto, see ProxyFix)."""
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", value)
    return response


def limit_body(app: Flask, endpoint: str, limit: int) -> None:
    """Give ``endpoint`` a smaller body limit than REPLIK_MAX_REQUEST_BYTES."""
    app.config["REPLIK_BODY_LIMITS"][endpoint] = limit


def _read_body() -> None:
    """The one read of every request body, bounded however it arrives.

    With a Content-Length over the limit nothing is read; a chunked body is read
    only up to one byte past the limit. Either way the answer is 413. Views then
    use the cached bytes (``request.get_data()``, ``request.form``), never the stream.
    """
    limits = current_app.config["REPLIK_BODY_LIMITS"]
    limit = limits.get(request.endpoint or "", current_app.config["MAX_CONTENT_LENGTH"])
    # Werkzeug stops a chunked body at max_content_length without a word, so ask
    # for one byte more: if it comes, the body is too large.
    request.max_content_length = limit + 1
    try:
        size = len(request.get_data(cache=True))
    except RequestEntityTooLarge:
        size = limit + 1
    if size > limit:
        _ = gettext_for(current_app.config["REPLIK"])
        raise RequestEntityTooLarge(
            _("The request is too large (at most {n} bytes).").format(n=limit))


def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    message = exc.description or exc.name
    if wants_json():
        response = json_refusal(code, message)
    else:  # a 404 is the site's own page, in its language, where it has one
        page = not_found_page(current_app.config["REPLIK"]) if code == 404 else None
        response = make_response(page if page is not None else (
            f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{code} {escape(exc.name)}"
            f"</title></head><body><h1>{code} {escape(exc.name)}</h1>"
            f"<p>{escape(message)}</p></body></html>"))
        response.content_type = "text/html; charset=utf-8"
    response.status_code = code
    for key, value in exc.get_headers():
        if key.lower() not in ("content-type", "content-length"):
            response.headers[key] = value
    return response


#: Seconds a client waits before trying again while the database is unreachable.
RETRY_AFTER = 30


def _unexpected_error(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    if isinstance(exc, ConnectionError):  # the database is down or restarting (pg.py)
        log.error("replik: %s %s: %s", request.method, request.path, exc)
        _ = gettext_for(current_app.config["REPLIK"])
        return _http_error(ServiceUnavailable(_(
            "The database cannot be reached right now; what you sent was not done. "
            "Please try again in a minute."), retry_after=RETRY_AFTER))
    log.exception("replik: unexpected error on %s %s", request.method, request.path)
    return _http_error(InternalServerError(
        "Something went wrong on our side; nothing you sent was lost. Please try again."
    ))


def request_rebuild() -> float | None:
    """Ask the approve-to-live rebuilder (run by the desk, if enabled) to update the site;
    returns the time of the request (None without a rebuilder)."""
    worker = current_app.extensions.get("replik_rebuilder")
    return None if worker is None else worker.request()
