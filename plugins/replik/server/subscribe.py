"""Reply notifications on the server: follow a post (``REPLIK_SUBSCRIBE_URL?article=
slug``: email and consent, then the confirmation mail), confirm (``…/confirm/<token>``)
and unsubscribe (``REPLIK_UNSUBSCRIBE_URL/<token>``) by the mailed links (see
``links.OneClick``). The unsubscribe POST needs no CSRF token or origin: mail
programs send it on their own (RFC 8058), the signed link is the authority. It also
starts this process's mail sender (``reader_mail.mail_worker``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, abort, request
from flask.blueprints import BlueprintSetupState

from .. import notify, reader_mail, tokens
from ..rebuild import separate_worker
from ..state import open_state
from ..subscriptions import Subscription
from .intake import SUBSCRIPTION_NOTES, intake, is_email, origin_problem, words_for
from .links import OneClick
from .responses import json_response, wants_json

bp = Blueprint("replik_subscribe", __name__)
T = TypeVar("T")


def init_app(app: Flask) -> None:
    settings = app.config["REPLIK"]
    if settings.notify_readers and notify.smtp_enabled() and not separate_worker(settings):
        worker = reader_mail.mail_worker(settings)
        app.extensions["replik_mail"] = worker
        # Started on the first request, in the process that serves it (gunicorn
        # forks its workers after the app is made; a thread would not follow).
        app.before_request(worker.start)


@bp.record
def _routes(setup: BlueprintSetupState) -> None:
    settings = setup.app.config["REPLIK"]
    base = settings.subscribe_url.rstrip("/")
    setup.add_url_rule(base, "subscribe", subscribe, methods=["GET", "POST"])
    setup.add_url_rule(f"{base}{reader_mail.CONFIRM_PATH}<token>", "confirm",
                       lambda token: ConfirmLink().answer(token), methods=["GET", "POST"])
    setup.add_url_rule(settings.unsubscribe_url.rstrip("/") + "/<token>", "unsubscribe",
                       lambda token: UnsubscribeLink().answer(token), methods=["GET", "POST"])


def _page(status: int, **context: Any) -> Response:
    response = intake().page("replik_subscription.html", status,
                             **{"lang": "", "values": {}, "errors": {}, **context})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"  # see links.LINK_HEADERS
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
    if not settings.notify_readers or not tokens.enabled() or not notify.smtp_enabled():
        return _page(404, message=_("Email notifications are not available on this site."),
                     **{**common, "form": "", "button": ""})
    if request.method == "GET":
        return _page(200, message=_("We tell you by email when someone comments on this "
                                    "post. First we send you an email to confirm."),
                     **common)
    if origin_problem(ix):
        abort(403, _("Comments can only be sent from this site's own pages."))
    email = (request.form.get("email") or "").strip()
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = _("Please fill in: {field}.").format(field=_("Email"))
    elif not is_email(email):
        errors["email"] = _("This is not an email address.")
    if not request.form.get("consent"):
        errors["consent"] = _("Please agree to the storage of your data.")
    if errors:
        errors["form"] = _("Please correct the marked fields.")
        return _page(422, values=request.form, errors=errors, **common)
    try:
        wait = ix.guard.flood([f"ip:{request.remote_addr or ''}", f"email:{email.casefold()}"],
                              settings.flood_per_minute)
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


class ReaderLink(OneClick[T]):
    """A reader's link: its pages in the post's language."""

    template = "replik_subscription.html"

    def __init__(self) -> None:
        ix = intake()
        _ = ix.gettext
        super().__init__(ix, _("This link has expired. Please ask again."),
                         _("Email notifications are not available on this site."))
        self.state = open_state(ix.settings)
        self.context.update(values={}, errors={}, lang="")

    def for_article(self, slug: str) -> Any:
        """gettext in the post's language (see intake.words_for)."""
        article = self.ix.index.get(slug)
        self.context.update(article=article, lang=article.lang if article else "")
        self._ = words_for(self.ix, article)
        return self._


class ConfirmLink(ReaderLink[Subscription]):
    def read(self, token: str) -> Subscription:
        sub = reader_mail.read_confirm_token(self.state, token)
        _ = self.for_article(sub.article)
        self.context.update(lang=sub.lang, heading=_("Email notifications for “{title}”").format(
            title=sub.title))
        self.what = (_("You will be told by email about answers to your comment.")
                     if sub.scope == "replies" else
                     _("You will be told by email about every new comment on this post."))
        return sub

    def settled(self, sub: Subscription) -> Response | None:
        if sub.confirmed is None:
            return None
        return self.page(200, message=self._("Already confirmed.") + " " + self.what)

    def ask(self, sub: Subscription) -> Response:
        return self.page(200, button=self._("Yes, notify me"), message=self._(
            "Please confirm that you want to be told about answers."))

    def act(self, sub: Subscription) -> Response:
        self.state.subscriptions.confirm(sub.id)
        return self.page(200, message=self._("Confirmed.") + " " + self.what)


class UnsubscribeLink(ReaderLink[tuple[str, str, bool]]):
    def read(self, token: str) -> tuple[str, str, bool]:
        found = reader_mail.read_unsubscribe_token(self.state, token)
        _ = self.for_article(found[0])
        self.context["heading"] = _("Unsubscribe")
        return found

    def done(self, message: str) -> Response:
        if request.method == "POST" and wants_json():
            return json_response({"ok": True, "message": message})
        return self.page(200, message=message)

    def settled(self, found: tuple[str, str, bool]) -> Response | None:
        return None if found[2] else self.done(
            self._("This address gets no more mails about this post."))

    def ask(self, found: tuple[str, str, bool]) -> Response:
        return self.page(200, button=self._("Unsubscribe"),
                         message=self._("Stop the mails about new comments on this post?"))

    def act(self, found: tuple[str, str, bool]) -> Response:
        self.state.subscriptions.unsubscribe(found[0], found[1])
        return self.done(self._("Done: this address gets no more mails about this post."))

