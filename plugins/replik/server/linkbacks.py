"""The linkback endpoints: pingback (XML-RPC), webmention and trackback.

Paths come from ``REPLIK_PINGBACK_URL``, ``REPLIK_WEBMENTION_URL`` and
``REPLIK_TRACKBACK_URL`` (``…/<slug>``). Verification fetches go through the
guarded fetcher; webmentions are queued in the state file and verified by a
background worker (or ``replik linkbacks work``).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import RequestEntityTooLarge

from ..background import Waker
from ..linkbacks import pingback, trackback, webmention
from ..linkbacks.receive import Receiver
from ..rebuild import separate_worker
from ..settings import Settings
from ..state import open_state
from .app import limit_body, request_rebuild

log = logging.getLogger(__name__)

bp = Blueprint("replik_linkbacks", __name__)

_EXT = "replik_linkbacks"


class Linkbacks:
    def __init__(self, app: Flask) -> None:
        self.app = app
        settings = app.config["REPLIK"]
        intake = app.extensions.get("replik_intake")
        # One article index per app: reuse the comment intake's when it is there.
        self.receiver = Receiver(settings, getattr(intake, "index", None))
        self.queue = open_state(settings).webmentions
        # Works the queue when woken, and every 30 s for retries and jobs left by others.
        self.worker = Waker("replik-webmention", self.work, 30.0)
        self.worker_enabled = settings.webmention_worker and not separate_worker(settings)

    def work(self) -> None:
        outcomes = [outcome for _, outcome in webmention.work(self.receiver, self.queue)]
        # A deleted or updated entry may have been on the site: bring its pages up to date.
        if any(outcome.startswith(("deleted", "updated")) for outcome in outcomes):
            with self.app.app_context():
                request_rebuild()


def state() -> Linkbacks:
    return current_app.extensions[_EXT]


def init_app(app: Flask) -> None:
    links = app.extensions[_EXT] = Linkbacks(app)
    if links.worker_enabled and len(links.queue):
        links.worker.wake()  # jobs left from before a restart


@bp.record
def _routes(setup: BlueprintSetupState) -> None:
    settings: Settings = setup.app.config["REPLIK"]
    for name, url, view, module in (
        ("pingback", settings.pingback_url, pingback_view, pingback),
        ("webmention", settings.webmention_url, webmention_view, webmention),
        ("trackback", settings.trackback_url.rstrip("/") + "/<slug>", trackback_view, trackback),
    ):
        setup.add_url_rule(url, name, view, methods=["GET", "POST"])
        # Bodies are read by the app's one bounded reader: larger ones get 413 unread.
        limit_body(setup.app, f"{bp.name}.{name}", module.MAX_BODY)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Response:
    """413 in each protocol's own format (the app's reader refused the body unread):
    a TrackBack sender reads <error>, an XML-RPC client a fault."""
    message = exc.description or exc.name
    name = (request.endpoint or "").rpartition(".")[2]
    if name == "trackback":
        return Response(trackback.response(message), status=413, mimetype="text/xml")
    if name == "pingback":
        return Response(pingback.fault(pingback.GENERIC, message), status=413,
                        mimetype="text/xml")
    return _text(413, message)


def _client() -> tuple[str, str]:
    return request.remote_addr or "", request.headers.get("User-Agent", "")[:500]


def _text(status: int, message: str, **headers: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain", headers=headers)


def _compressed() -> bool:
    return request.headers.get("Content-Encoding", "identity").strip().lower() not in (
        "", "identity")


def pingback_view() -> Response:
    if request.method != "POST":
        return _text(405, "This is a Pingback 1.0 XML-RPC endpoint: POST pingback.ping here.",
                     Allow="POST")
    if _compressed():
        body = pingback.fault(pingback.GENERIC, "compressed requests are not accepted")
    else:
        body = pingback.handle(state().receiver, request.get_data(), *_client())
    # XML-RPC answers faults with HTTP 200; the fault is in the body.
    return Response(body, status=200, mimetype="text/xml")


def webmention_view() -> Response:
    if request.method != "POST":
        return _text(405, "This is a Webmention endpoint: POST source and target here.",
                     Allow="POST")
    if _compressed():
        return _text(415, "Compressed requests are not accepted.")
    if request.mimetype not in ("", "application/x-www-form-urlencoded", "multipart/form-data"):
        return _text(415, "Send source and target as application/x-www-form-urlencoded.")
    links = state()
    ip, agent = _client()
    try:
        answer = webmention.accept(links.receiver, links.queue, request.form.get("source", ""),
                                   request.form.get("target", ""), ip, agent)
    except Exception:  # noqa: BLE001 - e.g. an unwritable store: say so, never a 500
        log.exception("replik: cannot accept a webmention")
        return _text(503, "The webmention cannot be accepted right now; please try again later.",
                     **{"Retry-After": "300"})
    headers = {"Retry-After": str(answer.retry_after)} if answer.retry_after else {}
    if answer.status == 202 and links.worker_enabled:
        links.worker.wake()
    return _text(answer.status, answer.message, **headers)


def trackback_view(slug: str) -> Response:
    def xml(body: bytes | str, status: int = 200, **headers: str) -> Response:
        return Response(body, status=status, mimetype="text/xml", headers=headers)

    if request.method != "POST":
        return xml(trackback.response("TrackBack pings must be sent with POST"), 405,
                   Allow="POST")
    if _compressed():
        return xml(trackback.response("compressed requests are not accepted"), 415)
    try:
        fields = trackback.parse_form(request.get_data(),
                                      request.mimetype_params.get("charset", ""))
    except trackback.BadCharset as exc:
        return xml(trackback.response(str(exc)), 415)
    return xml(trackback.ping(state().receiver, slug, fields, *_client()))
