"""The moderation desk: queue, entry view, decisions, staff replies and the report.

Every page needs a logged-in moderator (see ``auth``) and every POST a CSRF
token. Decisions go through ``Moderation`` (which writes the audit log), then
ask the background ``Rebuilder`` to bring the site up to date; the desk polls
``/live`` to say when a decision is on the published page.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from babel.dates import format_date
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from .. import tokens
from ..chart import week_label, weekly_chart
from ..i18n import install_into
from ..moderation import (
    ACTIONS,
    Moderation,
    NotSaved,
    StateChanged,
    display_name,
    refusal_message,
)
from ..rebuild import Rebuilder, RebuildQueue, is_live, read_status, separate_worker
from ..render import count_links, render_body, render_excerpt
from ..report import (
    DEFAULT_DAYS,
    MAX_PERIOD,
    DayOutOfRange,
    build_report,
    default_period,
    entry_cache,
    hours,
    parse_day,
    percent,
)
from ..settings import Settings
from ..state import address_key, open_state
from ..store import STATES, TYPES, Entry, EntryNotFound, StoreError
from ..storespec import last_decision, open_store
from ..thread import shown_entries
from . import auth
from .app import request_rebuild as app_request_rebuild
from .pages import local_date
from .responses import json_response

log = logging.getLogger(__name__)

BULK_ACTIONS = ("approve", "spam", "ham", "trash", "restore")
# Which actions make sense from which state (the buttons the desk shows).
ACTIONS_FOR_STATE = {
    "pending": ("approve", "spam", "trash"),
    "approved": ("spam", "trash"),
    "spam": ("ham", "approve", "trash"),
    "trash": ("restore",),
}
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


class _DeskBlueprint(Blueprint):
    """Mounted at REPLIK_MODERATE_URL (read from the app's settings at registration)."""

    def register(self, app: Flask, options: dict[str, Any]) -> None:
        super().register(app, {**options, "url_prefix": app.config["REPLIK"].desk_path})


bp = _DeskBlueprint("desk", __name__, template_folder="../templates",
                    static_folder="../static/desk", static_url_path="/static")


# -- set-up -----------------------------------------------------------------------
def init_app(app: Flask) -> None:
    settings = app.config["REPLIK"]
    auth.init_sessions(app)
    install_into(app.jinja_env, settings)
    if settings.rebuild:
        app.extensions["replik_rebuilder"] = (
            RebuildQueue(settings) if separate_worker(settings)  # `replik worker` builds
            else Rebuilder(settings, debounce=settings.rebuild_debounce))
    if not auth.accounts(settings):
        log.warning("replik: no moderator can log in to %s: set REPLIK_MODERATORS in "
                    "pelicanconf.py and the password hash variables (replik passwd NAME)",
                    settings.desk_path)
    app.after_request(_desk_headers)


def _desk_headers(response: Response) -> Response:
    prefix = settings().desk_path
    if request.path == prefix or request.path.startswith(prefix + "/"):
        response.headers.update(SECURITY_HEADERS)
    return response


def settings() -> Settings:
    return current_app.config["REPLIK"]


def rebuilder() -> Rebuilder | RebuildQueue | None:
    return current_app.extensions.get("replik_rebuilder")


def request_rebuild(entry_id: str = "") -> float | None:
    """Ask for a rebuild after a decision; returns the time the desk waits for."""
    asked = app_request_rebuild()
    if asked is not None:
        session["live_since"], session["live_entry"] = asked, entry_id
    return asked


def _live_link() -> str:
    """Where the last decided entry shows on the site (if it is approved)."""
    entry_id = session.get("live_entry")
    found = open_store(settings()).find(entry_id) if entry_id else None
    return page_link(found) if found is not None and found.state == "approved" else ""


@bp.before_request
def _warm_up() -> None:
    # The first visit to the desk starts the background build, so that the first
    # decision only waits for the fast path (the app alone, e.g. intake, never builds).
    worker = rebuilder()
    if worker is not None:
        worker.start()


@bp.before_request
def _csrf() -> None:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        auth.require_csrf()


@bp.before_request
def _login() -> Any:
    """Every page but these needs a logged-in moderator (checked after the CSRF token)."""
    if request.endpoint in ("desk.login", "desk.logout", "desk.static") \
            or auth.current_user() is not None:
        return None
    if request.method != "GET":
        abort(403, description=_("Your session has ended. Please log in again."))
    return redirect(url_for("desk.login", next=request.full_path.rstrip("?")))


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    since = session.get("live_since")
    if since is not None and time.time() - float(since) > 300 \
            and is_live(settings(), float(since)):
        # Long since published: stop showing the indicator.
        session.pop("live_since", None)
        session.pop("live_entry", None)
    return {
        "csrf_token": auth.csrf_token,
        "user": auth.current_user(),
        "hours": lambda seconds: hours(seconds, settings().lang),
        "percent": percent,
        "local_time": lambda when: local_date(settings(), when),
        "live_since": session.get("live_since"),
        "live_link": _live_link() if session.get("live_since") else "",
    }


_ = auth.desk_text  # the desk's words in the site's language


# -- articles as the site knows them --------------------------------------------------
def articles() -> dict[str, Any]:
    """Slug -> article of the running build (empty until the first build is done), or
    of the intake's index when ``replik worker`` builds."""
    worker = rebuilder()
    if worker is not None and worker.builder is None:
        intake = current_app.extensions.get("replik_intake")
        return dict(intake.index.articles) if intake is not None else {}
    if worker is None or not worker.builder.generators:
        return {}
    return {a.slug: a for a in worker.builder.articles_generator.articles}


def page_link(entry: Entry) -> str:
    article = articles().get(entry.article)
    if article is None:
        return ""
    base = settings().siteurl.rstrip("/")
    return f"{base}/{article.url}#comment-{entry.id}"


# -- login ----------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = auth.safe_next(request.values.get("next"), settings().desk_path) \
        or url_for("desk.start")
    message = ""
    status = 200
    headers: dict[str, str] = {}
    auth.current_user()  # notices a session that has just ended
    ended = session.pop("expired", False)
    if ended == "lifetime":
        message = _("Your session has ended. Please log in again.")
    elif ended:
        message = _("Your session ended after a while without activity. Please log in again.")
    if request.method == "POST":
        name = request.form.get("name", "").strip()[:100]
        password = request.form.get("password", "")[:1000]
        address = request.remote_addr or "unknown"
        logins, limit = open_state(settings()).logins, settings().login_max_failures
        # Counted before the password is checked (IPv6 addresses per /64, one host's
        # usual share); a refusal is answered at once, never by sleeping in the worker.
        attempt, wait = logins.reserve(name, address_key(address), limit=limit,
                                       window=settings().login_lock_minutes * 60)
        if attempt is None:
            wait = max(1, math.ceil(wait))
            log.warning("replik: desk login for %r from %s refused for %d s (too many"
                        " failures)", name, address, wait)
            message = _("Too many failed logins. Please wait {minutes} min and try again."
                        ).format(minutes=-(-wait // 60))
            status = 429
            headers["Retry-After"] = str(wait)
        elif auth.check_password(settings(), name, password):
            logins.succeeded(attempt, address_key(address))
            auth.log_in(name)
            log.info("replik: %s logged in to the desk from %s", name, address)
            return redirect(target)
        else:
            log.warning("replik: failed desk login for %r from %s (%d of %d allowed)", name,
                        address, logins.failed(attempt), limit)
            message = _("Wrong name or password.")
            status = 401
    return render_template("desk/login.html", message=message, next=target), status, headers


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    auth.log_out()
    return redirect(url_for("desk.login"))


# -- start page: the report -------------------------------------------------------------
def _period(entries: list[Entry] | None = None) -> tuple[datetime, datetime, bool]:
    """The period asked for; without one, the default (see ``report.default_period``:
    given the entries, a period that holds nothing moves to the newest entry).
    The flag says whether it moved."""
    now = datetime.now(UTC)
    since_text, until_text = request.args.get("since"), request.args.get("until")
    if not since_text and not until_text and entries is not None:
        return default_period(entries, now)
    try:
        since = parse_day(since_text) if since_text else now - timedelta(days=DEFAULT_DAYS)
        until = parse_day(until_text, end=True) if until_text else now + timedelta(seconds=1)
    except DayOutOfRange:
        abort(400, description=_("A report covers days from the year 2 to the year 9998."))
    except ValueError:
        abort(400, description=_("Dates are written like 2026-03-31."))
    if until <= since:
        abort(400, description=_("The end of the period must come after its start."))
    if until - since > MAX_PERIOD:
        abort(400, description=_("A report covers at most 100 years."))
    return since, until, False


@bp.route("/")
def start() -> Any:
    entries = entry_cache(settings()).entries()
    since, until, moved = _period(entries)
    report = build_report(settings(), since, until, entries=entries)
    counts = Counter(e.state for e in entries)
    lang = settings().lang
    base = settings().siteurl.rstrip("/")
    known = {slug: {"title": str(article.title), "url": f"{base}/{article.url}"}
             for slug, article in articles().items()}  # for the report's lists
    return render_template(
        "desk/start.html", report=report, counts=counts, since=since, until=until,
        moved=moved, days=DEFAULT_DAYS, known=known,
        moved_to=format_date(until - timedelta(seconds=1), "long", locale=lang),
        chart=weekly_chart(report["weeks"], _, lang),
        week_label=lambda week: week_label(week, lang),
        until_shown=(until - timedelta(seconds=1)).date(),
    )


@bp.route("/report.json")
def report_json() -> Any:
    since, until, _moved = _period()
    return json_response(build_report(settings(), since, until))


# -- the queue ----------------------------------------------------------------------------
def _history(entries: list[Entry]) -> dict[str, Counter[str]]:
    by_email: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in entries:
        if entry.email:
            by_email[entry.email.strip().lower()][entry.state] += 1
    return by_email


def _view(entry: Entry, history: dict[str, Counter[str]]) -> dict[str, Any]:
    """What the desk shows of one entry; ``history`` counts every entry by address
    (see ``_history``), this one included, which is left out of "earlier"."""
    seen = history.get(entry.email.strip().lower(), Counter()) if entry.email else Counter()
    return {
        "entry": entry,
        "html": render_excerpt(entry.body) if entry.is_linkback else render_body(entry.body),
        "links": count_links(entry.body),
        "date": local_date(settings(), entry.date),
        "approved_before": max(0, seen["approved"] - (entry.state == "approved")),
        "spam_before": max(0, seen["spam"] - (entry.state == "spam")),
        "actions": ACTIONS_FOR_STATE.get(entry.state, ()),
        "article": articles().get(entry.article),
    }


@bp.route("/queue")
def queue() -> Any:
    state = request.args.get("state", "pending")
    if state not in STATES and state != "all":
        abort(400, description=_("Unknown state."))
    kind = request.args.get("type", "")
    if kind and kind not in TYPES:
        abort(400, description=_("Unknown type."))
    article = request.args.get("article", "").strip()
    query = request.args.get("q", "").strip()[:200].lower()
    page = max(1, request.args.get("page", 1, type=int))  # a page that is no number: 1
    everything = entry_cache(settings()).entries()
    chosen = [
        e for e in everything
        if (state == "all" or e.state == state)
        and (not kind or e.type == kind)
        and (not article or e.article == article)
        and (not query or query in e.author.lower() or query in e.email.lower()
             or query in e.body.lower() or query in e.url.lower())
    ]
    chosen.sort(key=lambda e: (e.date, e.id), reverse=True)
    size = settings().desk_page_size
    pages = max(1, -(-len(chosen) // size))
    page = min(page, pages)
    history = _history(everything)
    views = [_view(e, history) for e in chosen[(page - 1) * size: page * size]]
    titles = {slug: str(a.title) for slug, a in articles().items()}
    slugs = sorted({e.article for e in everything}, key=lambda s: titles.get(s, s).lower())
    counts = Counter(e.state for e in everything)
    filters = {"state": state, "type": kind, "article": article, "q": request.args.get("q", "")}
    return render_template(
        "desk/queue.html", views=views, filters=filters, page=page, pages=pages,
        total=len(chosen), slugs=slugs, counts=counts, states=STATES, types=TYPES,
        titles=titles,
        bulk_actions=BULK_ACTIONS, status=read_status(settings()),
    )


# -- one entry ------------------------------------------------------------------------------
def _find(entry_id: str) -> Entry:
    try:
        found = open_store(settings()).find(entry_id)
    except StoreError as exc:  # e.g. a damaged file: say which, never a 500
        abort(409, description=str(exc))
    if found is None:
        abort(404, description=_("There is no entry with this id (it may have been deleted)."))
    return found


@bp.route("/entry/<entry_id>")
def entry(entry_id: str) -> Any:
    item = _find(entry_id)
    everything = entry_cache(settings()).entries()
    replies = sorted((e for e in everything if e.reply_to == item.id),
                     key=lambda e: (e.date, e.id))
    parent = next((e for e in everything if e.id == item.reply_to), None) if item.reply_to \
        else None
    preselect = request.args.get("action", "")
    history = _history(everything)
    return render_template(
        "desk/entry.html", view=_view(item, history),
        trail=list(open_store(settings()).audit_trail(item.id)),
        replies=[_view(r, history) for r in replies],
        parent=_view(parent, history) if parent else None,
        preselect=preselect if preselect in ACTIONS else "", token=request.args.get("token", ""),
        page_link=page_link(item) if item.state == "approved" else "",
        subscribers=open_state(settings()).subscriptions.count_for(item.article, item.id),
        messages=get_flashed_messages(with_categories=True),
        hidden_reply=item.state == "approved" and not _shown(item, everything),
        staff_name=display_name(settings(), auth.current_user() or "desk"),
    )


def _shown(item: Entry, everything: list[Entry]) -> bool:
    """Whether an approved entry is on its page (a reply waits for its parent)."""
    if not item.reply_to:
        return True
    siblings = [e for e in everything if e.state == "approved" and e.article == item.article]
    return any(e.id == item.id for e in shown_entries(siblings, warn=False))


@bp.route("/link/<token>")
def mail_link(token: str) -> Any:
    """A one-click link from a notification mail: the entry, action pre-selected."""
    try:
        claim = tokens.read_action(settings(), token)
    except tokens.TokenError as exc:
        flash(str(exc), "error")
        return redirect(url_for("desk.queue"))
    found = open_store(settings()).find(claim.entry_id)
    if found is not None and found.state != claim.state:
        # Decided since the mail was sent: the link acts only from the state it names.
        return _to_entry(claim.entry_id, _message(StateChanged(claim.entry_id, claim.state,
                                                               found.state)))
    return redirect(url_for("desk.entry", entry_id=claim.entry_id, action=claim.action,
                            token=token, _anchor="confirm"))


def _to_entry(entry_id: str, message: str, category: str = "error") -> Any:
    flash(message, category)
    return redirect(url_for("desk.entry", entry_id=entry_id))


def _back(default_id: str | None = None) -> Any:
    target = auth.safe_next(request.form.get("next"), settings().desk_path)
    if target:
        return redirect(target)
    if default_id and open_store(settings()).find(default_id):
        return redirect(url_for("desk.entry", entry_id=default_id))
    return redirect(url_for("desk.queue"))


def _seen(name: str = "seen") -> str | None:
    """The state the moderator saw the entry in (a hidden field of every form)."""
    value = request.form.get(name, "")
    return value if value in STATES else None


def _message(exc: StoreError) -> str:
    """Why something was not done, in the desk's language (who decided first, …)."""
    if isinstance(exc, StateChanged) and exc.by is None:
        exc.by = last_decision(open_store(settings()), exc.entry_id)
    if isinstance(exc, NotSaved):
        log.error("replik: not saved: %s", exc)
    return refusal_message(_, exc)


def _moderation() -> Moderation:
    return Moderation(settings(), actor=auth.current_user() or "desk")


def _decide(moderation: Moderation, action: str, entry_id: str,
            seen: str | None = None) -> bool:
    try:
        moderation.decide(action, entry_id, expected=seen)
    except EntryNotFound:
        flash(_("Entry {id} no longer exists.").format(id=entry_id), "error")
        return False
    except StoreError as exc:
        flash(_message(exc), "error")
        return False
    return True


@bp.route("/entry/<entry_id>/act", methods=["POST"])
def act(entry_id: str) -> Any:
    action = request.form.get("action", "")
    if action not in ACTIONS or action == "delete":
        abort(400, description=_("Unknown action."))
    seen = _seen()
    token = request.form.get("token", "")
    claim = None
    if token:
        try:
            claim = tokens.read_action(settings(), token)
            if claim.entry_id != entry_id or claim.action != action:
                raise tokens.TokenError("invalid", _("This link is for another action."))
            tokens.spend(settings(), claim)
        except tokens.TokenError as exc:
            return _to_entry(entry_id, str(exc))
        except OSError as exc:
            return _to_entry(entry_id, _message(NotSaved(exc.strerror or str(exc))))
        seen = claim.state  # the link acts only from the state it was mailed for
    if _decide(_moderation(), action, entry_id, seen):
        request_rebuild(entry_id)
        flash(_("Done: {action}.").format(action=_(action)), "ok")
    elif claim is not None:
        tokens.give_back(settings(), claim)  # nothing was done: the link stays usable
    return _back(entry_id)


@bp.route("/bulk", methods=["POST"])
def bulk() -> Any:
    action = request.form.get("action", "")
    if action not in BULK_ACTIONS:
        abort(400, description=_("Unknown action."))
    # Oldest first (ids sort by time): a comment is approved before the replies to it.
    ids = sorted(set(request.form.getlist("ids")[:500]))
    if not ids:
        flash(_("Select at least one entry."), "error")
        return _back()
    moderation = _moderation()
    done = sum(1 for entry_id in ids
               if _decide(moderation, action, entry_id, _seen(f"seen-{entry_id}")))
    if done:
        request_rebuild(ids[-1])
    flash(_("{count} entries: {action}.").format(count=done, action=_(action)), "ok")
    return _back()


@bp.route("/entry/<entry_id>/reply", methods=["POST"])
def reply(entry_id: str) -> Any:
    text = request.form.get("body", "")
    limit = settings().max_length
    if len(text) > limit:
        return _to_entry(entry_id, _("The reply is longer than {limit} characters.").format(
            limit=limit))
    try:
        outcome = _moderation().reply(entry_id, text, expected=_seen())
    except EntryNotFound:
        abort(404, description=_("There is no entry with this id (it may have been deleted)."))
    except StoreError as exc:
        if isinstance(exc, NotSaved) and exc.parent_approved:
            request_rebuild(entry_id)
        return _to_entry(entry_id, _message(exc))
    request_rebuild(outcome.entry.id)
    return _to_entry(outcome.entry.id, _("Your reply is published."), "ok")


@bp.route("/entry/<entry_id>/edit", methods=["POST"])
def edit(entry_id: str) -> Any:
    text = request.form.get("body", "")
    limit = settings().max_length
    if not text.strip() or len(text) > limit:
        return _to_entry(entry_id, _(
            "The text must not be empty or longer than {limit} characters.").format(limit=limit))
    try:
        outcome = _moderation().edit(entry_id, text)
    except EntryNotFound:
        abort(404, description=_("There is no entry with this id (it may have been deleted)."))
    except StoreError as exc:
        return _to_entry(entry_id, _message(exc))
    if outcome.entry.state == "approved":
        request_rebuild(entry_id)
    return _to_entry(entry_id, _("The text is saved."), "ok")


@bp.route("/entry/<entry_id>/delete", methods=["GET", "POST"])
def delete(entry_id: str) -> Any:
    item = _find(entry_id)
    if request.method != "POST" or request.form.get("confirm") != "yes":
        entries = entry_cache(settings()).entries()
        replies = sum(1 for e in entries if e.reply_to == item.id)
        return render_template("desk/delete.html", view=_view(item, _history(entries)),
                               replies=replies)
    if not _decide(_moderation(), "delete", entry_id, _seen()):
        return redirect(url_for("desk.entry", entry_id=entry_id))
    if item.state == "approved":  # it was live
        request_rebuild()
    flash(_("Entry {id} is deleted for good.").format(id=entry_id), "ok")
    return redirect(url_for("desk.queue"))


@bp.route("/live")
def live() -> Any:
    """Whether the decisions since ``since`` are on the published site (for desk.js)."""
    try:
        since = float(request.args.get("since") or session.get("live_since") or 0)
    except ValueError:
        abort(400)
    status = read_status(settings())
    return json_response({"live": is_live(settings(), since), "error": status.get("error", ""),
                          "failed_at": status.get("failed_at")})


@bp.route("/rebuild", methods=["POST"])
def rebuild_now() -> Any:
    """Retry a failed rebuild by hand."""
    if request_rebuild() is None:
        flash(_("Rebuilding from the desk is switched off (REPLIK_REBUILD)."), "error")
    return _back()
