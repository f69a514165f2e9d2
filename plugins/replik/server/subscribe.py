"""Reply notifications on the server: follow a thread, confirm, unsubscribe.

Routes (paths from the settings):

- ``GET|POST REPLIK_SUBSCRIBE_URL?article=slug`` – follow a post's discussion
  without commenting (email and consent; then the confirmation mail).
- ``GET|POST REPLIK_SUBSCRIBE_URL/confirm/<token>`` – the link from the
  confirmation mail: GET (and HEAD) show a page with a button, only the POST
  confirms, so a mail scanner that follows links confirms nothing.
- ``GET|POST REPLIK_UNSUBSCRIBE_URL/<token>`` – the same for unsubscribing; the
  POST needs no CSRF token or origin, since mail programs send it on their own
  (RFC 8058: ``List-Unsubscribe=One-Click``). The signed link is the authority.

It also starts this process's mail sender (``reader_mail.MailWorker``).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, abort, make_response, request

from .. import notify, reader_mail
from ..state import open_state
from . import pages
from .intake import _EMAIL_RE, SUBSCRIPTION_NOTES, intake, origin_problem, words_for
from .responses import json_response, wants_json

log = logging.getLogger(__name__)

bp = Blueprint("replik_subscribe", __name__)


def init_app(app: Flask) -> None:
    settings = app.config["REPLIK"]
    base = reader_mail.subscribe_url(settings)
    app.add_url_rule(base, "replik_subscribe", subscribe, methods=["GET", "POST"])
    app.add_url_rule(f"{base}{reader_mail.CONFIRM_PATH}<token>", "replik_subscribe_confirm",
                     confirm, methods=["GET", "POST"])
    app.add_url_rule(f"{reader_mail.unsubscribe_url(settings)}/<token>", "replik_unsubscribe",
                     unsubscribe, methods=["GET", "POST"])
    if reader_mail.enabled(settings) and notify.smtp_enabled():
        worker = reader_mail.MailWorker(settings)
        app.extensions["replik_mail"] = worker
        # Started on the first request, in the process that serves it (gunicorn
        # forks its workers after the app is made; a thread would not follow).
        app.before_request(worker.start)


def _page(status: int, lang: str = "", **context: Any) -> Response:
    ix = intake()
    html = pages.render(ix.settings, "replik_subscription.html", pages=ix.index.pages,
                        lang=lang, values=context.pop("values", {}),
                        errors=context.pop("errors", {}), **context)
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def subscribe() -> Response:
    ix = intake()
    settings = ix.settings
    article = ix.index.get((request.values.get("article") or "").strip())
    _ = words_for(ix, article)
    if article is None:
        abort(404, _("This article does not exist (any more)."))
    heading = _("Follow the discussion on “{title}”").format(title=article.title)
    common = dict(heading=heading, article=article, lang=article.lang, form="subscribe",
                  button=_("Notify me about new comments"))
    if not reader_mail.enabled(settings) or not notify.links_enabled() \
            or not notify.smtp_enabled():
        return _page(404, message=_("Email notifications are not available on this site."),
                     **{**common, "form": "", "button": ""})
    if request.method == "GET":
        return _page(200, message=_("We tell you by email when someone comments on this "
                                    "post. First we send you an email to confirm."),
                     **common)
    if origin_problem(settings, ix.origins):
        abort(403, _("Comments can only be sent from this site's own pages."))
    email = (request.form.get("email") or "").strip()
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = _("Please fill in: {field}.").format(field=_("Email"))
    elif len(email) > 254 or not _EMAIL_RE.match(email):
        errors["email"] = _("This is not an email address.")
    if not request.form.get("consent"):
        errors["consent"] = _("Please agree to the storage of your data.")
    if errors:
        errors["form"] = _("Please correct the marked fields.")
        return _page(422, values=request.form, errors=errors, **common)
    try:
        wait = ix.guard.flood([f"ip:{request.remote_addr or ''}", f"email:{email.casefold()}"],
                              int(settings.get("REPLIK_FLOOD_PER_MINUTE") or 0))
    except OSError:
        wait = 0
    if wait:
        response = _page(429, values=request.form, message=_(
            "You are commenting too fast. Please wait {seconds} seconds.").format(seconds=wait),
            **common)
        response.headers["Retry-After"] = str(wait)
        return response
    outcome = reader_mail.request(settings, email=email, name="", article=article,
                                  scope="all")
    note = _(SUBSCRIPTION_NOTES.get(outcome, SUBSCRIPTION_NOTES["new"]))
    return _page(202 if outcome == "new" else 200, heading=heading, article=article,
                 lang=article.lang, message=note)


def _token_problem(_: Any, exc: notify.TokenError) -> Response:
    messages = {"expired": _("This link has expired. Please ask again."),
                "nokey": _("Email notifications are not available on this site.")}
    return _page(410 if exc.reason == "expired" else 404, heading=_("Link not usable"),
                 message=messages.get(exc.reason, _("This link is not valid.")))


def confirm(token: str) -> Response:
    ix = intake()
    state = open_state(ix.settings)
    _ = ix.gettext
    try:
        sub = reader_mail.read_confirm_token(state, token)
    except notify.TokenError as exc:
        return _token_problem(_, exc)
    article = ix.index.get(sub.article)
    _ = words_for(ix, article)
    heading = _("Email notifications for “{title}”").format(title=sub.title)
    what = (_("You will be told by email about answers to your comment.")
            if sub.scope == "replies" else
            _("You will be told by email about every new comment on this post."))
    if sub.confirmed is not None:
        return _page(200, lang=sub.lang, heading=heading, article=article,
                     message=_("Already confirmed.") + " " + what)
    if request.method != "POST":
        return _page(200, lang=sub.lang, heading=heading, article=article,
                     message=_("Please confirm that you want to be told about answers."),
                     button=_("Yes, notify me"))
    state.subscriptions.confirm(sub.id)
    return _page(200, lang=sub.lang, heading=heading, article=article,
                 message=_("Confirmed.") + " " + what)


def unsubscribe(token: str) -> Response:
    ix = intake()
    state = open_state(ix.settings)
    _ = ix.gettext
    try:
        slug, hashed, subscribed = reader_mail.read_unsubscribe_token(state, token)
    except notify.TokenError as exc:
        return _token_problem(_, exc)
    article = ix.index.get(slug)
    _ = words_for(ix, article)
    heading = _("Unsubscribe")
    lang = article.lang if article else ""
    if not subscribed:
        message = _("This address gets no more mails about this post.")
        if request.method == "POST" and wants_json():
            return json_response({"ok": True, "message": message})
        return _page(200, lang=lang, heading=heading, article=article, message=message)
    if request.method != "POST":
        return _page(200, lang=lang, heading=heading, article=article, button=_("Unsubscribe"),
                     message=_("Stop the mails about new comments on this post?"))
    state.subscriptions.unsubscribe(slug, hashed)
    message = _("Done: this address gets no more mails about this post.")
    if wants_json():
        return json_response({"ok": True, "message": message})
    return _page(200, lang=lang, heading=heading, article=article, message=message)


__all__ = ["bp", "init_app"]
