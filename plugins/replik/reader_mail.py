"""Reply notifications for readers: ask, confirm, queue, mail, unsubscribe.

A reader asks (the comment form's box, or the subscribe page); the request is
stored unconfirmed and one mail asks to confirm it (double opt-in, a signed link
that expires after 7 days, confirming is a POST from a page). When an entry is
approved (``on_approved``: called by ``Moderation``, the intake's auto-approval
and the webmention receiver), each confirmed subscriber it concerns gets it
queued in the outbox (``subscriptions.Outbox``); ``deliver`` sends what is due,
from a background thread in the server (``mail_worker``) or ``replik mail send``.

Links: ``confirm`` is bound to the subscription, its address and thread;
``unsubscribe`` to the address (carried as a hash) and the thread, and lives
long: unsubscribing must work from an old mail too (RFC 8058 one-click POST).
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from . import i18n, notify, tokens
from .background import Waker
from .notify import one_line
from .render import format_datetime_local, render_body
from .settings import Settings
from .state import State, open_state
from .storespec import CommentStore, Entry, open_store
from .subscriptions import CONFIRM_TTL, Mail, Subscription, email_key, key_hash
from .thread import entry_kind

log = logging.getLogger(__name__)

#: Unsubscribe links work this long (a mail may be read late).
UNSUBSCRIBE_TTL = 3 * 365 * 86400
#: How long a sender holds a claimed mail before another may take it.
LEASE_SECONDS = 300
CONFIRM_PATH = "/confirm/"


def _bound(sub: Subscription) -> str:
    return f"{sub.key}\n{sub.article}\n{sub.scope}\n{sub.entry}"


def confirm_token(sub: Subscription, now: float | None = None) -> str:
    return tokens.sign("confirm", sub.id, _bound(sub), now=now)


def unsubscribe_token(key: str, article: str, now: float | None = None) -> str:
    return tokens.sign("unsubscribe", [article, key_hash(key)], key, now=now)


def read_confirm_token(state: State, token: str, now: float | None = None) -> Subscription:
    """The subscription a confirmation link is for; raises tokens.TokenError."""
    subject = tokens.peek("confirm", token)
    sub = state.subscriptions.get(subject) if isinstance(subject, int) else None
    if sub is None:
        raise tokens.TokenError("expired", "This request has expired or was withdrawn.")
    tokens.verify("confirm", token, CONFIRM_TTL, _bound(sub), now=now)
    return sub


def read_unsubscribe_token(state: State, token: str,
                           now: float | None = None) -> tuple[str, str, bool]:
    """``(article, address hash, still subscribed)`` of an unsubscribe link."""
    subject = tokens.peek("unsubscribe", token)
    if not (isinstance(subject, list) and len(subject) == 2
            and all(isinstance(part, str) for part in subject)):
        raise tokens.TokenError("invalid", "This link is damaged or was not made by this site.")
    article, hashed = subject
    keys = {s.key for s in state.subscriptions.listing(article=article)
            if key_hash(s.key) == hashed}
    if not keys:
        # Verified or not, there is nothing to remove: say so without a hint.
        return article, hashed, False
    tokens.verify("unsubscribe", token, UNSUBSCRIBE_TTL, next(iter(keys)), now=now)
    return article, hashed, True


# -- asking -------------------------------------------------------------------------
def request(settings: Settings, *, email: str, name: str, article: Any, scope: str,
            entry: str = "", origin: str = "", now: float | None = None) -> str:
    """A reader asks to be told; queues the confirmation mail. Returns the outcome:
    ``new``, ``confirmed``, ``waiting`` (see ``Subscriptions.request``) or ``off``."""
    if not settings.notify_readers or not tokens.enabled():
        return "off"
    state = open_state(settings)
    sub, outcome = state.subscriptions.request(
        email=email, name=one_line(name, 100), article=article.slug, scope=scope,
        entry=entry, origin=origin, title=one_line(str(article.title), 300),
        permalink=str(article.permalink), lang=str(article.lang or ""), now=now)
    if outcome == "new" and sub is not None:
        state.outbox.add_confirmation(sub, make_msgid(domain=_domain(settings)), now=now)
        wake()
    return outcome


# -- an entry was approved ------------------------------------------------------------------
def on_approved(settings: Settings, entry: Entry, now: float | None = None) -> int:
    """Queue the mails an approved entry causes; returns how many subscribers it
    reaches. Never raises: a decision must never fail because of mail."""
    # Comments and webmention replies are answers; other linkbacks are not.
    if not settings.notify_readers or not (entry.type == "comment" or (
            entry.type == "webmention" and entry_kind(entry) == "reply")):
        return 0
    try:
        state = open_state(settings)
        subs = state.subscriptions.concerned(entry.article, entry.reply_to)
        if not subs:
            return 0
        domain = _domain(settings)
        batch = settings.notify_batch_minutes * 60
        reached = state.outbox.add_notices(
            subs, entry.id, email_key(entry.email), batch_seconds=batch,
            make_id=lambda: make_msgid(domain=domain), now=now)
    except Exception as exc:  # noqa: BLE001 - logged; the decision stands
        log.error("replik: cannot queue reply notifications for %s: %s", entry.id, exc)
        return 0
    if reached:
        wake()
    return reached


# -- the mails -----------------------------------------------------------------------------
def _domain(settings: Settings) -> str:
    return urlsplit(settings.siteurl).hostname or "replik.invalid"


def _new_mail(settings: Settings, mail: Mail, subject: str, text: list[str]) -> EmailMessage:
    return notify.new_mail(settings, subject, formataddr((one_line(mail.name, 100), mail.email)),
                           mail.message_id, "\n".join(text))


def build_confirmation(settings: Settings, mail: Mail, sub: Subscription,
                       now: float | None = None) -> EmailMessage:
    _ = i18n.gettext_for(settings, mail.lang or None)
    site = settings.sitename
    subject = _("[{site}] Please confirm: answers to “{title}” by email").format(
        site=site, title=mail.title)
    what = (_("answers to your comment on “{title}”") if sub.scope == "replies"
            else _("every new comment on “{title}”")).format(title=mail.title)
    lines = [
        _("Hello,"), "",
        _("someone – hopefully you – asked to be told by email about {what}.").format(what=what),
        "", _("To confirm, open this link and press the button on the page:"),
        notify.action_url(settings, confirm_token(sub, now),
                          settings.subscribe_url.rstrip("/") + CONFIRM_PATH), "",
        _("The link works for 7 days. If you did not ask for this, ignore this mail: "
          "nothing will be sent and the request will be deleted."), "",
        mail.permalink,
    ]
    return _new_mail(settings, mail, subject, lines)


def _author_line(_: Any, entry: Entry) -> str:
    author = one_line(entry.author or _("Anonymous"), 200)
    team = _("editorial team")
    if entry.staff and author.casefold() != team.casefold():
        return _("{author} ({team})").format(author=author, team=team)
    return author


def build_notification(settings: Settings, mail: Mail,
                       entries: list[Entry]) -> EmailMessage:
    """One mail for the entries (a digest when several): text and HTML parts."""
    lang = mail.lang or settings.lang
    _ = i18n.gettext_for(settings, lang)
    site = settings.sitename
    if len(entries) == 1:
        subject = _("[{site}] {author} answered on “{title}”").format(
            site=site, author=_author_line(_, entries[0]), title=mail.title)
    else:
        subject = _("[{site}] {count} new answers on “{title}”").format(
            site=site, count=len(entries), title=mail.title)
    unsubscribe = notify.action_url(settings, unsubscribe_token(
        email_key(mail.email), mail.article), settings.unsubscribe_url)
    text = [_("New on “{title}”:").format(title=mail.title), ""]
    html = [f'<!DOCTYPE html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
            f"<title>{escape(subject)}</title></head><body>",
            f"<p>{escape(_('New on “{title}”:').format(title=mail.title))}</p>"]
    for entry in entries:
        when = format_datetime_local(entry.date, lang, settings.timezone)
        link = f"{mail.permalink}#comment-{entry.id}"
        author = _author_line(_, entry)
        text += [f"{author} – {when}", "", entry.body.strip(), "",
                 f"{_('Read and answer')}: {link}", "", "-- "]
        html.append(f'<div class="comment"><p><strong>{escape(author)}</strong> – '
                    f"{escape(when)}</p>{render_body(entry.body)}"
                    f'<p><a href="{escape(link)}">{escape(_("Read and answer"))}</a></p></div>'
                    "<hr>")
    footer = _("You get this mail because you asked to be told about answers on “{title}”."
               ).format(title=mail.title)
    text += [footer, f"{_('Unsubscribe')}: {unsubscribe}"]
    html.append(f'<p>{escape(footer)} <a href="{escape(unsubscribe)}">'
                f"{escape(_('Unsubscribe'))}</a></p></body></html>")
    message = _new_mail(settings, mail, subject, text)
    # A Message-ID every mail of one subscriber's thread refers to, so mail programs
    # show them as one conversation.
    root = f"<thread.{key_hash(mail.article + '|' + email_key(mail.email))}@{_domain(settings)}>"
    message["In-Reply-To"] = root
    message["References"] = root
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.add_alternative(str(Markup("".join(html))), subtype="html")
    return message


# -- sending -----------------------------------------------------------------------------
def _prepare(settings: Settings, state: State, store: CommentStore,
             mail: Mail) -> tuple[EmailMessage | None, list[str]]:
    """The message for a queued row, or None when there is nothing left to send."""
    if mail.kind == "confirm":
        sub = state.subscriptions.get(mail.subscription)
        if sub is None or sub.confirmed is not None:
            return None, []
        return build_confirmation(settings, mail, sub), []
    if not state.subscriptions.listing(email=mail.email, article=mail.article):
        return None, []  # unsubscribed meanwhile
    entries = [found for found in map(store.find, mail.entries)
               if found is not None and found.state == "approved"]
    if not entries:
        return None, []
    return build_notification(settings, mail, entries), [e.id for e in entries]


def deliver(settings: Settings, *, now: float | None = None, limit: int = 100,
            after_accept: Any = None) -> dict[str, int]:
    """Send every due mail (in rounds of ``limit``); returns counts by outcome.

    ``after_accept`` is called after the server accepted a mail and before that
    is recorded (tests use it to stop a sender exactly there).
    """
    counts = {"sent": 0, "retry": 0, "failed": 0, "dropped": 0}
    if not notify.smtp_enabled():
        return counts
    state, store = open_state(settings), open_store(settings)

    def failed(mail: Mail, error: str, permanent: bool = False) -> None:
        give_up = permanent or mail.attempts >= settings.notify_max_attempts
        # A minute, doubled with each attempt, at most six hours.
        delay = float(min(60 * 2 ** max(0, mail.attempts - 1), 6 * 3600))
        state.outbox.failed(mail, error, retry_in=None if give_up else delay)
        counts["failed" if give_up else "retry"] += 1
        log.warning("replik: mail %s to a subscriber %s: %s", mail.id,
                    "failed for good" if give_up else "will be retried", error)

    def send(smtp: smtplib.SMTP, mail: Mail) -> None:
        try:
            message, delivered = _prepare(settings, state, store, mail)
        except Exception as exc:  # noqa: BLE001 - one broken mail must not stop the rest
            log.error("replik: cannot prepare mail %s: %s", mail.id, exc)
            state.outbox.failed(mail, str(exc), retry_in=None)
            counts["failed"] += 1
            return
        if message is None:
            state.outbox.drop(mail, "nothing left to send")
            counts["dropped"] += 1
            return
        if not state.outbox.sending(mail.id, LEASE_SECONDS):
            return  # our claim ran out and another sender has it
        try:
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            failed(mail, str(exc), permanent=True)
            return
        except smtplib.SMTPResponseException as exc:
            failed(mail, f"{exc.smtp_code} {exc.smtp_error!r}", permanent=exc.smtp_code >= 500)
            return
        if after_accept is not None:
            after_accept(mail)
        state.outbox.sent(mail, delivered)
        counts["sent"] += 1

    while True:
        mails = state.outbox.claim(limit=limit, lease=LEASE_SECONDS, now=now)
        if not mails:
            return counts
        try:
            with notify.smtp_session(settings) as smtp:
                for mail in mails:
                    send(smtp, mail)
        except (smtplib.SMTPException, OSError) as exc:
            # The connection failed: whatever was not yet handed over goes back.
            for mail in mails:
                current = state.execute(
                    "SELECT status FROM outbox WHERE id = ?", (mail.id,)).fetchone()
                if current and current[0] in ("claimed", "sending"):
                    failed(mail, str(exc))
            return counts


# -- in the server: a background sender -------------------------------------------------
_workers: list[Waker] = []
_workers_lock = threading.Lock()


def wake() -> None:
    """Tell this process's senders that something was queued."""
    with _workers_lock:
        workers = list(_workers)
    for worker in workers:
        worker.wake()


def stop_workers() -> None:
    """Stop this process's senders (tests, and a server shutting down)."""
    with _workers_lock:
        workers = list(_workers)
        _workers.clear()
    for worker in workers:
        worker.stop()


def mail_worker(settings: Settings, poll: float = 30.0) -> Waker:
    """A sender of due mails: at once when woken, else every ``poll`` seconds (digests
    and retries fall due while nobody wakes it)."""
    def run_once() -> float | None:
        deliver(settings)
        due = open_state(settings).outbox.next_due()
        return None if due is None else due - time.time()

    worker = Waker("replik-mail", run_once, poll)
    with _workers_lock:
        _workers.append(worker)
    return worker
