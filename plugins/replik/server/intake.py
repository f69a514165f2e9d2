"""The comment intake: the reader's form (HTML and JSON), validation, spam rules, storage.

Routes (paths from the settings):

- ``POST REPLIK_INTAKE_URL`` – a new comment. A plain form POST gets 303 to the
  thank-you page, or the form again with each problem named (422). A JSON
  request (``Accept: application/json``) gets JSON: 201, or 422 with
  ``{"errors": {field: message}}``.
- ``GET REPLIK_INTAKE_URL?article=slug[&reply_to=id]`` – the form on its own page.
- ``POST REPLIK_PREVIEW_URL`` – the text rendered exactly as the site will show it.
- ``GET /replik/thanks?article=slug`` – the thank-you page.
- ``GET|POST REPLIK_ACTION_URL/<token>`` – the one-click links from notification emails
  (``links.OneClick``).

Every 2xx means the entry is on disk (the store's ``add`` is durable when it returns).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    make_response,
    redirect,
    request,
)
from flask.blueprints import BlueprintSetupState

from .. import i18n, notify, reader_mail, spam, tokens
from ..articles import ArticleIndex, ArticleInfo
from ..moderation import Moderation, NotSaved, conflict_message, refusal_message
from ..render import render_body
from ..settings import Settings
from ..store import Entry, StateChanged, StoreError, is_valid_id, new_id
from ..storespec import last_decision, open_store
from . import pages
from .app import request_rebuild
from .links import OneClick
from .responses import json_refusal, json_response, wants_json

log = logging.getLogger(__name__)

bp = Blueprint("replik_intake", __name__)

FIELDS = ("article", "reply_to", "author", "email", "url", "body", "consent", "homepage",
          "notify", "notify_scope")
HONEYPOT = "homepage"
THANKS_URL = "/replik/thanks"
_EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]{2,}$")


def is_email(text: str) -> bool:
    """Looks like a deliverable address (the form's check; the mail server has the last word)."""
    return len(text) <= 254 and bool(_EMAIL_RE.match(text))


# Control characters other than tab, newline and carriage return are never text.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A one-line field holds no control character at all (C0, DEL, C1) and no line or
# paragraph separator: a line break in a name or address would forge lines in the
# moderators' mail ("Approve: http://evil…").
_NOT_ONE_LINE_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: The fields that are one line of text.
_ONE_LINE = ("author", "email", "url")
#: The fields that have a label on the form (the labels are translated on an error only).
_LABELLED = frozenset(("author", "email", "url", "body", "consent"))


def _label(_: Any, name: str) -> str:
    return {"author": _("Name"), "email": _("Email"), "url": _("Website"),
            "body": _("Comment"), "consent": _("Consent")}[name]


# -- the intake ---------------------------------------------------------------------------


class Intake:
    """Per-app state: settings, the store, the article index and the spam guard."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = open_store(settings)
        self.store.ensure()
        # Changes a killed process left half done (an edit's held copy) go back now,
        # before the desk or a reader could miss the entry.
        try:
            self.store.sweep()
        except OSError as exc:
            log.error("replik: cannot tidy %s: %s", self.store.location, exc)
        self.index = ArticleIndex(settings)
        self.guard = spam.guard(settings)
        self.gettext = i18n.gettext_for(settings)
        self.origins = configured_origins(settings)

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        """One of the server's pages in the site's look (see ``pages``)."""
        return make_response(pages.render(self.settings, template, pages=self.index.pages,
                                          **context), status)


def intake() -> Intake:
    return current_app.extensions["replik_intake"]


def init_app(app: Flask) -> None:
    app.extensions["replik_intake"] = Intake(app.config["REPLIK"])


@bp.record
def _routes(setup: BlueprintSetupState) -> None:
    """The paths come from the settings, so they are known only at registration."""
    settings: Settings = setup.app.config["REPLIK"]
    setup.add_url_rule(settings.intake_url, "form", show_form, methods=["GET"])
    setup.add_url_rule(settings.intake_url, "submit", submit, methods=["POST"])
    setup.add_url_rule(settings.preview_url, "preview", preview, methods=["POST"])
    setup.add_url_rule(settings.action_url.rstrip("/") + "/<token>", "one_click",
                       lambda token: ActionLink(intake()).answer(token), methods=["GET", "POST"])


# -- request checks -----------------------------------------------------------------------


def _origin_of(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[x" (a broken IPv6 literal): no origin to compare
        return ""
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def configured_origins(settings: Settings) -> frozenset[str]:
    """The origins the settings allow: the site's own and REPLIK_ALLOWED_ORIGINS."""
    origins = {_origin_of(str(extra)) or str(extra).lower() for extra in settings.allowed_origins}
    site = _origin_of(settings.siteurl)
    return frozenset(origins | {site} if site else origins)


def origin_problem(ix: Intake) -> str:
    """Why this request comes from another site ('' when it does not)."""
    origin = request.headers.get("Origin")
    referrer = None if origin is not None else request.headers.get("Referer")
    if origin is None and not referrer:
        return ""
    # The settings' origins and the one this request was sent to (scheme and host, as
    # request.host_url would give them, without building that URL).
    allowed = {*ix.origins, f"{request.scheme}://{request.host}".lower()}
    if origin is not None:
        origin = origin.lower()
        return "" if origin in allowed else f"Origin {origin!r} is not this site"
    source = _origin_of(str(referrer))
    return f"Referer from another site ({source})" if source and source not in allowed else ""


class BadEncoding(Exception):
    """The body cannot be read as text; the message is a msgid the answer translates."""


#: Why a body could not be read, for the reader (translated where answered).
UNREADABLE = "The form data could not be read: please send it as UTF-8."
TOO_DEEP = "The request could not be read: its JSON is nested too deeply."
NOT_UNICODE = ("The form data could not be read: it holds a character that is not "
               "valid Unicode (a lone surrogate).")


def read_fields() -> dict[str, str]:
    """The submitted fields, insisting on UTF-8 (no silent replacement characters)."""
    raw = request.get_data(cache=True)
    if request.is_json:
        try:
            # Decoded here: json.loads on bytes would also take UTF-16 and UTF-32.
            data = json.loads(raw.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
            raise BadEncoding(UNREADABLE) from None
        except RecursionError:  # nested thousands of levels deep
            raise BadEncoding(TOO_DEEP) from None
        if not isinstance(data, dict):
            raise BadEncoding(UNREADABLE)
        fields = {k: ("on" if v is True else "" if v in (None, False) else str(v))
                  for k, v in data.items() if k in FIELDS}
    elif request.mimetype == "application/x-www-form-urlencoded":
        try:
            text = raw.decode("utf-8")  # percent-encoded or raw, it must be UTF-8
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise BadEncoding(UNREADABLE) from None
        # A field sent twice: the first counts (the later ones overwrite it here).
        fields = {key: value for key, value in reversed(pairs) if key in FIELDS}
    elif request.mimetype == "multipart/form-data":
        fields = {k: request.form.get(k, "") for k in FIELDS if k in request.form}
        if any("\ufffd" in v for v in fields.values()):
            raise BadEncoding(UNREADABLE)
    else:
        raise BadEncoding(UNREADABLE)  # no form and no JSON
    for value in fields.values():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, e.g. JSON's "\ud800"
            raise BadEncoding(NOT_UNICODE) from None
    return {k: fields.get(k, "") for k in FIELDS}


def normalize_url(value: str) -> str:
    value = value.strip()
    if value and "://" not in value and not value.lower().startswith(("mailto:", "javascript:")):
        if re.match(r"^[\w.-]+\.[a-z]{2,}(?:[/:?#].*)?$", value, re.IGNORECASE):
            value = "https://" + value
    return value


def is_web_address(url: str) -> bool:
    """An http(s) URL with a host that parses (``http://[x]/`` does not)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def words_for(ix: Intake, article: ArticleInfo | None) -> Any:
    """gettext in the reader's language: the post's (``Lang: en``), else the site's."""
    if article is not None and article.lang:
        return i18n.gettext_for(ix.settings, article.lang)
    return ix.gettext


def validate(ix: Intake, fields: dict[str, str]) -> tuple[dict[str, str], ArticleInfo | None]:
    """Problems per field (in the post's language) and the article, if it exists."""
    article = ix.index.get(fields["article"].strip())
    _ = words_for(ix, article)
    settings = ix.settings
    errors: dict[str, str] = {}
    for name in _ONE_LINE:
        if _NOT_ONE_LINE_RE.search(fields[name]):
            errors[name] = _("“{field}” must be one line, without line breaks or control "
                             "characters.").format(field=_label(_, name))
    if _CONTROL_RE.search(fields["body"]):
        errors["body"] = _("This field contains characters that are not allowed.")
    required = list(settings.required_fields)
    # The theme's form asks for consent to store the data (GDPR); so does the server.
    if settings.require_consent and "consent" not in required:
        required.append("consent")
    for name in required:
        if name in _LABELLED and not fields.get(name, "").strip() and name not in errors:
            if name == "consent":
                errors[name] = _("Please agree to the storage of your data.")
            else:
                errors[name] = _("Please fill in: {field}.").format(field=_label(_, name))
    max_name = settings.max_name_length
    if len(fields["author"].strip()) > max_name and "author" not in errors:
        errors["author"] = _("The name is too long (at most {n} characters).").format(n=max_name)
    max_body = settings.max_length
    if len(fields["body"]) > max_body and "body" not in errors:
        errors["body"] = _("The comment is too long ({count} characters, at most {n}).").format(
            count=len(fields["body"]), n=max_body)
    email = fields["email"].strip()
    if email and "email" not in errors and not is_email(email):
        errors["email"] = _("This is not an email address.")
    # Reply notifications: the address is needed only when the box is ticked.
    if fields["notify"] and not email and "email" not in errors:
        errors["email"] = _("Please give your email address to be told about answers.")
    if fields["notify_scope"] not in ("", "replies", "all"):
        errors["notify_scope"] = _("Please choose which answers you want to hear about.")
    url = normalize_url(fields["url"])
    if url and "url" not in errors and (len(url) > 500 or not is_web_address(url)):
        errors["url"] = _("Please give a web address starting with http:// or https://.")
    if article is None:
        errors["article"] = _("This article does not exist (any more).")
    elif not article.open:
        errors["article"] = _("Comments on this article are closed.")
    reply_to = fields["reply_to"].strip()
    if reply_to and article is not None:
        parent = ix.store.find(reply_to) if is_valid_id(reply_to) else None
        if parent is None or parent.state != "approved" or parent.article != article.slug:
            errors["reply_to"] = _("The comment you are answering does not exist on this page.")
    return errors, article


# -- responses ------------------------------------------------------------------------------


def form_page(
    ix: Intake, fields: dict[str, str], errors: dict[str, str], status: int,
    message: str = "", article: ArticleInfo | None = None,
) -> Response:
    values = {k: v for k, v in fields.items() if k != HONEYPOT}
    return ix.page("replik_form.html", status, article=article,
                   article_slug=fields.get("article", ""), values=values, errors=errors,
                   reply_to=fields.get("reply_to", ""), action=ix.settings.intake_url,
                   message=message)


def refuse(
    ix: Intake, fields: dict[str, str], status: int, message: str,
    errors: dict[str, str] | None = None, article: ArticleInfo | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    errors = errors or {}
    if wants_json():
        response = json_refusal(status, message, errors)
    else:
        # The theme's form shows errors["form"] above the fields.
        response = form_page(ix, fields, {**errors, "form": message}, status, message, article)
    response.headers.update(headers or {})
    return response


def cannot_store(ix: Intake, fields: dict[str, str], article: ArticleInfo) -> Response:
    """503: the disk is full or not writable; nothing was stored."""
    message = ix.gettext("Your comment could not be saved right now. Nothing was stored; "
                         "please try again in a few minutes.")
    return refuse(ix, fields, 503, message, article=article, headers={"Retry-After": "120"})


def show_form() -> Response:
    ix = intake()
    fields = {k: request.args.get(k, "") for k in FIELDS}
    article = ix.index.get(fields["article"])
    if article is None:
        abort(404)
    return form_page(ix, fields, {}, 200, article=article)


def submit() -> Response:
    ix = intake()
    _ = ix.gettext
    settings = ix.settings
    problem = origin_problem(ix)
    if problem:
        # The app's error handler answers JSON to a client that asks for it.
        log.warning("replik: refused a comment from another site: %s", problem)
        abort(403, _("Comments can only be sent from this site's own pages."))
    try:
        fields = read_fields()
    except BadEncoding as exc:
        abort(400, _(str(exc)))
    errors, article = validate(ix, fields)
    _ = words_for(ix, article)
    if article is None or not article.open:
        # Nothing to correct in the fields: say so (404 no such post, 403 closed).
        message = errors["article"]
        return refuse(ix, fields, 404 if article is None else 403, message,
                      {"article": message}, article)
    if errors:
        return refuse(ix, fields, 422, _("Please correct the marked fields."), errors, article)
    email = fields["email"].strip()
    ip = request.remote_addr or ""
    try:
        wait = ix.guard.flood(
            [f"ip:{ip}", f"email:{email.casefold()}" if email else ""],
            settings.flood_per_minute,
        )
    except OSError as exc:  # the cache folder is full or not writable
        log.error("replik: cannot count a comment on %s for flood control: %s",
                  article.slug, exc)
        return cannot_store(ix, fields, article)
    if wait:
        message = _("You are commenting too fast. Please wait {seconds} seconds.").format(
            seconds=wait)
        return refuse(ix, fields, 429, message, article=article,
                      headers={"Retry-After": str(wait)})
    entry = Entry(
        id=new_id(),
        article=article.slug,
        body=fields["body"],
        date=datetime.now(UTC),
        author=fields["author"].strip(),
        url=normalize_url(fields["url"]),
        reply_to=fields["reply_to"].strip(),
        email=email,
        ip=ip,
        user_agent=request.headers.get("User-Agent", "")[:500],
        referrer=request.headers.get("Referer", "")[:1000],
    )
    try:
        # Screened first: the claim and the entry (with the verdict's state) are one step.
        verdict = spam.screen(
            settings, entry, honeypot=fields[HONEYPOT], permalink=article.permalink,
            post_modified=article.modified or article.date,
        )
        entry.spam_verdict, entry.spam_reason = verdict.verdict, verdict.reason
        holder = ix.guard.add(ix.store, entry, verdict.state)
    except (OSError, StoreError) as exc:  # the disk or the database
        log.error("replik: cannot store a comment on %s: %s", article.slug, exc)
        return cannot_store(ix, fields, article)
    if holder:
        message = _("You have posted this comment already; it awaits moderation.")
        return refuse(ix, fields, 409, message, {"body": message}, article)
    if verdict.notify and verdict.state == "pending" and notify.enabled(settings):
        notify.notify_in_background(settings, entry, article.title, article.permalink)
    # Spam is answered like any other comment, so a spammer learns nothing.
    published = verdict.state == "approved"
    if published:
        reader_mail.on_approved(settings, entry)  # auto-approved: tell the thread
        request_rebuild()  # auto-approved (a known author): put it on the page
    subscription = _subscribe(settings, fields, entry, article, verdict.state)
    message = (_("Thank you! Your comment will appear with the next update of the site.")
               if published else
               _("Thank you! Your comment awaits moderation and will appear once approved."))
    if subscription in SUBSCRIPTION_NOTES:
        message += " " + _(SUBSCRIPTION_NOTES[subscription])
    if wants_json():
        return json_response({"ok": True, "id": entry.id, "message": message,
                              "state": "approved" if published else "pending",
                              "subscription": subscription}, 201)
    query = urlencode({"article": article.slug, "published": "1" if published else "0",
                       **({"subscription": subscription} if subscription else {})})
    return redirect(f"{THANKS_URL}?{query}", code=303)


#: What the reader is told about a ticked notification box (translated on use).
SUBSCRIPTION_NOTES = {
    "new": "We have sent you an email: please confirm there that you want to be told "
           "about answers.",
    "waiting": "Please first confirm the email we sent you earlier; until then we send "
               "no further requests to your address.",
    "confirmed": "You are already told about answers here.",
    "off": "Email notifications are not available on this site.",
    "error": "Your request for email notifications could not be saved; please try again "
             "later.",
}


def _subscribe(settings: Settings, fields: dict[str, str], entry: Entry,
               article: ArticleInfo, state: str) -> str:
    """The notification box was ticked: ask for confirmation (never for spam, which
    is answered the same, so a spammer learns nothing and no mail goes out)."""
    if not fields["notify"] or state == "spam":
        return ""
    scope = "all" if fields["notify_scope"] == "all" else "replies"
    try:
        return reader_mail.request(settings, email=entry.email, name=entry.author,
                                   article=article, scope=scope, entry=entry.id,
                                   origin=entry.id)
    except Exception as exc:  # noqa: BLE001 - the comment is stored; say so, log this
        log.error("replik: cannot record a reply subscription on %s: %s", article.slug, exc)
        return "error"


def preview() -> Response:
    ix = intake()
    _ = ix.gettext
    problem = origin_problem(ix)
    if problem:
        return json_refusal(403, problem)
    try:
        fields = read_fields()
    except BadEncoding as exc:
        return json_refusal(400, _(str(exc)))
    max_body = ix.settings.max_length
    if len(fields["body"]) > max_body:
        message = _("The comment is too long ({count} characters, at most {n}).").format(
            count=len(fields["body"]), n=max_body)
        return json_refusal(422, message, {"body": message})
    url = normalize_url(fields["url"])
    entry = Entry(
        id=new_id(), article=fields["article"].strip() or "preview", body=fields["body"],
        date=datetime.now(UTC), author=fields["author"].strip()[:200],
        url=url if is_web_address(url) else "",
    )
    post = ix.index.get(entry.article)  # None: an unknown post
    return json_response({
        "ok": True,
        "html": str(pages.preview_comment(ix.settings, entry, post.lang if post else None)),
        "body_html": str(render_body(entry.body)),
    })


@bp.get(THANKS_URL)
def thanks() -> Response:
    ix = intake()
    article = ix.index.get(request.args.get("article", ""))
    published = request.args.get("published") == "1"
    note = SUBSCRIPTION_NOTES.get(request.args.get("subscription", ""), "")
    return ix.page("replik_thanks.html", article=article, published=published,
                   subscription_note=words_for(ix, article)(note) if note else "")


# -- one-click links from the notification email -----------------------------------------

class ActionLink(OneClick[tokens.Claim]):
    """A moderator's link: approve, spam or trash one entry, only from the state it
    was mailed in (once the entry left that state, the link is spent)."""

    template = "replik_action.html"

    def __init__(self, ix: Intake) -> None:
        _ = ix.gettext
        super().__init__(ix, _("This link has expired. Please use the moderation desk."),
                         _("One-click links are switched off on this server."))
        self.messages["gone"] = _("This comment no longer exists.")
        self.settings = ix.settings

    def read(self, token: str) -> tokens.Claim:
        if request.method == "POST" and origin_problem(self.ix):
            abort(403, self._("Comments can only be moderated from this site's own pages."))
        claim = tokens.read_action(self.settings, token)
        entry = self.ix.store.find(claim.entry_id)
        if entry is None:
            raise tokens.TokenError("gone", "This comment no longer exists.")
        self.entry = entry
        self.context = dict(entry=entry.public(), date=pages.local_date(self.settings, entry.date),
                            body_html=render_body(entry.body))
        return claim

    def settled(self, claim: tokens.Claim) -> Response | None:
        if self.entry.state == claim.state:
            return None
        return self.not_done(StateChanged(self.entry.id, claim.state, self.entry.state))

    def ask(self, claim: tokens.Claim) -> Response:
        label = {"approve": self._("Approve this comment"),
                 "spam": self._("Mark this comment as spam"),
                 "trash": self._("Move this comment to the trash")}[claim.action]
        return self.page(200, heading=label, confirm=label, message=self._("Please confirm."))

    def spend(self, claim: tokens.Claim) -> Response | None:
        try:
            tokens.spend(self.settings, claim)
        except OSError as exc:
            log.error("replik: cannot mark a one-click link used: %s", exc)
            return self.not_saved()
        return None

    def act(self, claim: tokens.Claim) -> Response:
        _ = self._
        try:
            Moderation(self.settings, actor="email-link").decide(
                claim.action, claim.entry_id, expected=claim.state)
        except StateChanged as exc:
            return self.not_done(exc)
        except StoreError as exc:  # nothing happened: the link may be tried again
            tokens.give_back(self.settings, claim)
            if isinstance(exc, NotSaved):
                log.error("replik: one-click %s of %s not saved: %s", claim.action,
                          claim.entry_id, exc)
                return self.not_saved()
            return self.page(409, heading=_("Not done"), message=refusal_message(_, exc))
        request_rebuild()
        done = {"approve": _("The comment is approved."),
                "spam": _("The comment is marked as spam."),
                "trash": _("The comment is in the trash.")}
        return self.page(200, heading=_("Done"), message=done[claim.action])

    def not_done(self, exc: StateChanged) -> Response:
        """409 'Already decided by anna: …' (who, from the audit log)."""
        if exc.by is None:
            exc.by = last_decision(self.ix.store, exc.entry_id)
        return self.page(409, heading=self._("Not done"), message=conflict_message(self._, exc))

    def not_saved(self) -> Response:
        response = self.page(503, heading=self._("Not done"), message=self._(
            "Nothing was changed: the comment store cannot be written right now."
            " Please try again in a few minutes."))
        response.headers["Retry-After"] = "120"
        return response
