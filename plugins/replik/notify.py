"""Telling moderators about new entries: email, an optional webhook, one-click links.

The one-click links' tokens are made and checked in ``tokens``; only a POST acts
on one (``server/links.py``): GET and HEAD show a confirmation form.
"""

from __future__ import annotations

import email.policy
import logging
import re
import smtplib
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from . import i18n, tokens
from .render import format_datetime_local
from .settings import Settings, secret
from .store import Entry

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
# Python's header folding loses the space between two encoded words it splits a
# non-ASCII phrase into ("„Beitrag 2“" arrives as "„Beitrag2“"); headers up to
# RFC 5322's 998 characters need no folding, and ours are shorter (one_line).
_POLICY = email.policy.default.clone(max_line_length=998)


def action_url(settings: Settings, token: str, path: str | None = None) -> str:
    """The absolute address of a link that carries ``token``: a one-click link, or one
    under the site's ``path`` (the readers' confirm and unsubscribe links)."""
    path = settings.action_url if path is None else path
    return f"{settings.siteurl.rstrip('/')}{path.rstrip('/')}/{token}"


# -- the message ----------------------------------------------------------------
@dataclass
class Notice:
    """What moderators are told about one new entry."""

    entry: Entry
    article_title: str
    permalink: str
    links: dict[str, str]


def build_notice(settings: Settings, entry: Entry, article_title: str = "",
                 permalink: str = "") -> Notice:
    links: dict[str, str] = {}
    if tokens.enabled():
        for action in ("approve", "spam"):
            token = tokens.make_action(settings, action, entry.id, state=entry.state)
            links[action] = action_url(settings, token)
    return Notice(entry, article_title or entry.article, permalink, links)


def smtp_config() -> dict[str, Any]:
    return {
        "host": secret("REPLIK_SMTP_HOST"),
        "port": int(secret("REPLIK_SMTP_PORT") or 0),
        "user": secret("REPLIK_SMTP_USER"),
        "password": secret("REPLIK_SMTP_PASSWORD"),
        "sender": secret("REPLIK_SMTP_FROM"),
        "security": (secret("REPLIK_SMTP_SECURITY") or "").lower(),  # ssl | starttls | none
    }


def mail_status(settings: Settings) -> str:
    """'on …' or 'off: why' (for the server's start)."""
    recipients = settings.notify_emails
    config = smtp_config()
    if not recipients:
        return "off: REPLIK_NOTIFY_EMAILS is empty"
    if not config["host"]:
        return "off: REPLIK_SMTP_HOST is not set"
    links = ("with one-click links" if tokens.enabled()
             else f"without one-click links ({tokens.SECRET_ENV} unset)")
    return f"on: to {', '.join(recipients)} via {config['host']}, {links}"


def build_email(settings: Settings, notice: Notice) -> EmailMessage:
    _ = i18n.gettext_for(settings)
    entry = notice.entry
    when = format_datetime_local(entry.date, settings.lang, settings.timezone)
    site = settings.sitename
    kind = _("comment") if entry.type == "comment" else entry.type
    subject = _("[{site}] New {kind} on “{title}” awaits moderation").format(
        site=site, kind=kind, title=notice.article_title)
    lines = [
        _("A new {kind} on “{title}” awaits moderation.").format(
            kind=kind, title=notice.article_title), "",
        f"{_('Author')}: {entry.author}",
        f"{_('Email')}: {entry.email or '-'}",
        f"{_('Website')}: {entry.url or entry.source or '-'}",
        f"{_('IP address')}: {entry.ip or '-'}",
        f"{_('Date')}: {when}",
        f"{_('Spam check')}: {entry.spam_verdict or '-'} ({entry.spam_reason or '-'})",
    ]
    if entry.reply_to:
        lines.append(f"{_('In reply to')}: {entry.reply_to}")
    if notice.permalink:
        lines.append(f"{_('Article')}: {notice.permalink}")
    lines += ["", entry.body, ""]
    if notice.links:
        lines += [
            _("One-click links (each works once and expires after {days} days):").format(
                days=f"{settings.link_ttl_days:g}"),
            f"{_('Approve')}: {notice.links['approve']}",
            f"{_('Mark as spam')}: {notice.links['spam']}"]
    lines.append(f"{_('Moderation desk')}: {settings.siteurl.rstrip('/')}{settings.desk_path}")
    return new_mail(settings, subject, ", ".join(settings.notify_emails),
                    make_msgid(domain="replik"), "\n".join(lines))


def one_line(text: str, limit: int = 200) -> str:
    """A value fit for a mail header: no CR, LF or other control characters."""
    return _CONTROL.sub(" ", text).strip()[:limit]


def new_mail(settings: Settings, subject: str, to: str, message_id: str,
             text: str) -> EmailMessage:
    """A mail from the site (REPLIK_SMTP_FROM) with the headers every mail of ours has."""
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = one_line(subject, 250)
    message["From"] = smtp_config()["sender"] or formataddr((settings.sitename or "Replik",
                                                              "replik@localhost"))
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


def send_email(settings: Settings, notice: Notice) -> bool:
    """Send the notice by SMTP; False when mail is off. Raises on SMTP failure."""
    if not smtp_enabled() or not settings.notify_emails:
        return False
    message = build_email(settings, notice)
    with smtp_session(settings) as smtp:
        smtp.send_message(message)
    return True


def smtp_enabled() -> bool:
    return bool(secret("REPLIK_SMTP_HOST"))


@contextmanager
def smtp_session(settings: Settings) -> Iterator[smtplib.SMTP]:
    """One logged-in connection to the mail server (REPLIK_SMTP_*): the one place
    that talks SMTP, for moderators' and readers' mail alike."""
    config = smtp_config()
    security = config["security"]
    port = config["port"] or (465 if security == "ssl" else 587 if security == "starttls" else 25)
    timeout = settings.smtp_timeout
    if security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(config["host"], port, timeout=timeout,
                                              context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(config["host"], port, timeout=timeout)
    with smtp:
        if security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if config["user"]:
            smtp.login(config["user"], config["password"])
        yield smtp


def webhook_payload(settings: Settings, notice: Notice) -> dict[str, Any]:
    """JSON for chat tools; no private fields (email, IP) ever leave in it."""
    _ = i18n.gettext_for(settings)
    entry = notice.entry
    excerpt = " ".join(entry.body.split())[:280]
    kind = _("comment") if entry.type == "comment" else entry.type
    text = _("New {kind} by {author} on “{title}”: {excerpt}").format(
        kind=kind, author=entry.author or "-", title=notice.article_title, excerpt=excerpt)
    return {
        "event": "replik.new_entry",
        "site": settings.sitename,
        "text": text,
        "entry": {
            **{name: getattr(entry, name) for name in (
                "id", "article", "type", "author", "state", "spam_verdict", "spam_reason")},
            "url": entry.url or entry.source,
            "date": entry.date.isoformat(),
            "excerpt": excerpt,
        },
        "article_title": notice.article_title,
        "permalink": notice.permalink,
        "links": notice.links,
    }


def send_webhook(settings: Settings, notice: Notice) -> bool:
    """POST the notice as JSON through the guarded fetcher; False when no webhook is set."""
    url = settings.webhook_url
    if not url:
        return False
    from .fetch import fetch

    result = fetch(url, settings, method="POST", json=webhook_payload(settings, notice),
                   accept_types=None,  # chat tools answer with anything; only the status matters
                   max_bytes=65536)
    if not 200 <= result.status < 300:
        raise RuntimeError(f"webhook {url} answered HTTP {result.status}")
    return True


def notify(settings: Settings, entry: Entry, article_title: str = "",
           permalink: str = "") -> dict[str, str]:
    """Email and webhook for one entry; never raises. Returns what happened per channel."""
    report: dict[str, str] = {}
    try:
        notice = build_notice(settings, entry, article_title, permalink)
    except Exception as exc:  # noqa: BLE001 - a notice must never break the intake
        log.error("replik: cannot prepare the notice for %s: %s", entry.id, exc)
        return {"error": str(exc)}
    for channel, send in (("email", send_email), ("webhook", send_webhook)):
        try:
            report[channel] = "sent" if send(settings, notice) else "off"
        except Exception as exc:  # noqa: BLE001 - logged, the entry is safe on disk
            log.error("replik: %s notice for %s failed: %s", channel, entry.id, exc)
            report[channel] = f"failed: {exc}"
    return report


def enabled(settings: Settings) -> bool:
    """Is any channel configured (so a notice is worth preparing)?"""
    # Asked for every new comment: the host alone says whether mail is set up
    # (smtp_config() reads all six variables).
    return bool(settings.webhook_url or (smtp_enabled() and settings.notify_emails))


def notify_in_background(settings: Settings, entry: Entry, article_title: str = "",
                         permalink: str = "") -> threading.Thread:
    """Send the notices without holding up the reader's request."""
    thread = threading.Thread(target=notify, args=(settings, entry, article_title, permalink),
                              name=f"replik-notify-{entry.id}", daemon=False)
    thread.start()
    return thread
