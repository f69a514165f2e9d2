"""Telling moderators about new entries: email, an optional webhook, one-click links.

One-click links carry a signed token (HMAC-SHA256 with ``REPLIK_SECRET_KEY``
from the environment) naming an action, an entry and the state the entry was in
when the link was made (pending): the link acts only while the entry is still in
that state, so it never overrides a later decision. A token expires (7 days by
default, ``REPLIK_LINK_TTL_DAYS``), works once (the used ones are kept in the
state file, ``state.links``), and only a POST acts on it: GET and HEAD show (or
describe) a confirmation form. The token API (``make_token`` / ``read_token`` /
``use_token`` / ``action_url``) is shared with the moderation desk.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import smtplib
import sqlite3
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from . import i18n
from .render import format_datetime_local
from .settings import secret
from .state import open_state
from .store import STATES, Entry, is_valid_id

log = logging.getLogger(__name__)

SECRET_ENV = "REPLIK_SECRET_KEY"
#: Actions a one-click link may carry.
LINK_ACTIONS = ("approve", "spam", "trash")
DEFAULT_ACTION_URL = "/replik/action/"
DEFAULT_TTL_DAYS = 7


# -- signed one-click tokens --------------------------------------------------------


class TokenError(Exception):
    """A link that cannot be used; ``reason`` is one of invalid, expired, used, nokey."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Claim:
    action: str
    entry_id: str
    expires: int
    nonce: str
    #: The state the entry was in when the link was made; it acts only from there.
    state: str = "pending"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(label: bytes = b"replik one-click links") -> bytes:
    value = secret(SECRET_ENV)
    if not value:
        raise TokenError("nokey", f"{SECRET_ENV} is not set, so one-click links are off")
    # A key of its own, so the session secret and the links never share one.
    return hmac.new(value.encode("utf-8"), label, hashlib.sha256).digest()


# Readers' links (confirm, unsubscribe) are signed with a key of their own, so a
# reader's link can never be read as a moderator's and the other way round.
_READER_LABEL = b"replik reader links"


def make_bound_token(purpose: str, subject: str, bound: str, *, ttl_seconds: int,
                     now: float | None = None) -> str:
    """A signed link token for ``purpose`` on ``subject`` (e.g. a subscription id),
    bound to ``bound`` (e.g. the address and thread): the token does not carry
    ``bound``, but only verifies against it, so a link works only for what it was
    made for and names no address."""
    expires = int((time.time() if now is None else now) + ttl_seconds)
    payload = f"{purpose}|{subject}|{expires}".encode()
    signature = hmac.new(_key(_READER_LABEL), payload + b"\0" + bound.encode("utf-8"),
                         hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def token_subject(token: str, purpose: str) -> tuple[str, int]:
    """``(subject, expires)`` of a bound token, not yet verified (raises TokenError)."""
    try:
        payload_text, _, _signature = token.partition(".")
        found, rest = _unb64(payload_text).decode("utf-8").split("|", 1)
        subject, expires_text = rest.rsplit("|", 1)
        expires = int(expires_text)
    except (ValueError, UnicodeError):
        raise TokenError("invalid", "This link is damaged or was not made by this site.") from None
    if found != purpose:
        raise TokenError("invalid", "This link is damaged or was not made by this site.")
    return subject, expires


def check_bound_token(token: str, purpose: str, bound: str, *,
                      now: float | None = None) -> str:
    """The subject of a valid token for ``purpose`` made for ``bound``; raises TokenError."""
    subject, expires = token_subject(token, purpose)
    try:
        payload_text, _, signature_text = token.partition(".")
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except (ValueError, UnicodeEncodeError):
        raise TokenError("invalid", "This link is damaged or was not made by this site.") from None
    expected = hmac.new(_key(_READER_LABEL), payload + b"\0" + bound.encode("utf-8"),
                        hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise TokenError("invalid", "This link is damaged or was not made by this site.")
    if (time.time() if now is None else now) > expires:
        raise TokenError("expired", "This link has expired.")
    return subject


def links_enabled() -> bool:
    return bool(secret(SECRET_ENV))


def make_token(
    settings: dict[str, Any], action: str, entry_id: str, *, state: str = "pending",
    ttl_seconds: int | None = None, now: float | None = None,
) -> str:
    """A signed token for ``action`` on ``entry_id`` while it is in ``state``
    (raises TokenError without a key)."""
    if action not in LINK_ACTIONS:
        raise ValueError(f"unknown link action {action!r}")
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}")
    if ttl_seconds is None:
        ttl_seconds = int(float(settings.get("REPLIK_LINK_TTL_DAYS", DEFAULT_TTL_DAYS)) * 86400)
    expires = int((time.time() if now is None else now) + ttl_seconds)
    payload = f"{action}|{entry_id}|{expires}|{secrets.token_hex(8)}|{state}".encode("ascii")
    signature = hmac.new(_key(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def read_token(settings: dict[str, Any], token: str, *, now: float | None = None) -> Claim:
    """Check a token's signature, expiry and whether it was used; it stays unused."""
    try:
        payload_text, _, signature_text = token.partition(".")
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except (ValueError, UnicodeEncodeError):
        raise TokenError("invalid", "This link is damaged or was not made by this site.") from None
    expected = hmac.new(_key(), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise TokenError("invalid", "This link is damaged or was not made by this site.")
    try:
        fields = payload.decode("ascii").split("|")
        # Links mailed before the state was part of them were all made for pending
        # entries (only those are mailed).
        action, entry_id, expires_text, nonce, state = (
            fields if len(fields) == 5 else [*fields, "pending"])
        expires = int(expires_text)
    except ValueError:
        raise TokenError("invalid", "This link is damaged or was not made by this site.") from None
    if action not in LINK_ACTIONS or not is_valid_id(entry_id) or state not in STATES:
        raise TokenError("invalid", "This link is damaged or was not made by this site.")
    if (time.time() if now is None else now) > expires:
        raise TokenError("expired", "This link has expired; use the moderation desk instead.")
    claim = Claim(action, entry_id, expires, nonce, state)
    if open_state(settings).links.spent(claim.nonce, claim.entry_id):
        raise TokenError("used", "This link was used already.")
    return claim


def use_token(settings: dict[str, Any], claim: Claim) -> None:
    """Mark a token used; only one caller (in any process) can succeed.

    Raises TokenError when it was used already, OSError when that cannot be recorded.
    """
    try:
        spent = open_state(settings).links.spend(claim.nonce, claim.entry_id, claim.expires)
    except sqlite3.Error as exc:  # the callers answer a failed write like the store's
        raise OSError(f"the state file cannot be written: {exc}") from exc
    if not spent:
        raise TokenError("used", "This link was used already.")


def release_token(settings: dict[str, Any], claim: Claim) -> None:
    """Make a used token usable again (its decision could not be saved)."""
    open_state(settings).links.give_back(claim.nonce, claim.entry_id)


def sweep_used(settings: dict[str, Any], now: float | None = None) -> int:
    """Forget the used tokens that have expired anyway."""
    return open_state(settings).links.sweep(now)


def action_url(settings: dict[str, Any], token: str) -> str:
    """The absolute address of a one-click link."""
    base = str(settings.get("SITEURL") or "").rstrip("/")
    path = str(settings.get("REPLIK_ACTION_URL") or DEFAULT_ACTION_URL)
    return f"{base}{path.rstrip('/')}/{token}"


# -- the message ----------------------------------------------------------------


@dataclass
class Notice:
    """What moderators are told about one new entry."""

    entry: Entry
    article_title: str
    permalink: str
    links: dict[str, str]


def build_notice(
    settings: dict[str, Any], entry: Entry, article_title: str = "", permalink: str = ""
) -> Notice:
    links: dict[str, str] = {}
    if links_enabled():
        for action in ("approve", "spam"):
            links[action] = action_url(settings, make_token(settings, action, entry.id,
                                                            state=entry.state))
    return Notice(entry, article_title or entry.article, permalink, links)


def _recipients(settings: dict[str, Any]) -> list[str]:
    value = settings.get("REPLIK_NOTIFY_EMAILS") or []
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip() for v in value if str(v).strip()]


def smtp_config() -> dict[str, Any]:
    return {
        "host": secret("REPLIK_SMTP_HOST"),
        "port": int(secret("REPLIK_SMTP_PORT") or 0),
        "user": secret("REPLIK_SMTP_USER"),
        "password": secret("REPLIK_SMTP_PASSWORD"),
        "sender": secret("REPLIK_SMTP_FROM"),
        "security": (secret("REPLIK_SMTP_SECURITY") or "").lower(),  # ssl | starttls | none
    }


def mail_status(settings: dict[str, Any]) -> str:
    """'on …' or 'off: why' (for the server's start)."""
    recipients = _recipients(settings)
    config = smtp_config()
    if not recipients:
        return "off: REPLIK_NOTIFY_EMAILS is empty"
    if not config["host"]:
        return "off: REPLIK_SMTP_HOST is not set"
    links = "with" if links_enabled() else f"without one-click links ({SECRET_ENV} unset)"
    return f"on: to {', '.join(recipients)} via {config['host']}, {links}"


def build_email(settings: dict[str, Any], notice: Notice) -> EmailMessage:
    _ = i18n.gettext_for(settings)
    entry = notice.entry
    locale = str(settings.get("DEFAULT_LANG") or "de")
    when = format_datetime_local(entry.date, locale, str(settings.get("TIMEZONE") or "UTC"))
    site = str(settings.get("SITENAME") or "")
    kind = _("comment") if entry.type == "comment" else entry.type
    subject = _("[{site}] New {kind} on “{title}” awaits moderation").format(
        site=site, kind=kind, title=notice.article_title
    )
    lines = [
        _("A new {kind} on “{title}” awaits moderation.").format(
            kind=kind, title=notice.article_title
        ),
        "",
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
        days = settings.get("REPLIK_LINK_TTL_DAYS", DEFAULT_TTL_DAYS)
        lines.append(
            _("One-click links (each works once and expires after {days} days):").format(
                days=days
            )
        )
        lines.append(f"{_('Approve')}: {notice.links['approve']}")
        lines.append(f"{_('Mark as spam')}: {notice.links['spam']}")
    base = str(settings.get("SITEURL") or "").rstrip("/")
    desk = str(settings.get("REPLIK_MODERATE_URL") or "/moderate")
    lines.append(f"{_('Moderation desk')}: {base}{desk}")
    config = smtp_config()
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config["sender"] or formataddr((site or "Replik", "replik@localhost"))
    message["To"] = ", ".join(_recipients(settings))
    message["Message-ID"] = make_msgid(domain="replik")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(lines))
    return message


def send_email(settings: dict[str, Any], notice: Notice) -> bool:
    """Send the notice by SMTP; False when mail is off. Raises on SMTP failure."""
    config = smtp_config()
    recipients = _recipients(settings)
    if not config["host"] or not recipients:
        return False
    message = build_email(settings, notice)
    with smtp_session(settings) as smtp:
        smtp.send_message(message)
    return True


def smtp_enabled() -> bool:
    return bool(secret("REPLIK_SMTP_HOST"))


def sender_address(settings: dict[str, Any]) -> str:
    site = str(settings.get("SITENAME") or "")
    return smtp_config()["sender"] or formataddr((site or "Replik", "replik@localhost"))


@contextmanager
def smtp_session(settings: dict[str, Any]) -> Iterator[smtplib.SMTP]:
    """One logged-in connection to the mail server (REPLIK_SMTP_*): the one place
    that talks SMTP, for moderators' and readers' mail alike."""
    config = smtp_config()
    security = config["security"]
    port = config["port"] or (465 if security == "ssl" else 587 if security == "starttls" else 25)
    timeout = float(settings.get("REPLIK_SMTP_TIMEOUT", 10))
    if security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            config["host"], port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(config["host"], port, timeout=timeout)
    with smtp:
        if security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if config["user"]:
            smtp.login(config["user"], config["password"])
        yield smtp


def webhook_payload(settings: dict[str, Any], notice: Notice) -> dict[str, Any]:
    """JSON for chat tools; no private fields (email, IP) ever leave in it."""
    _ = i18n.gettext_for(settings)
    entry = notice.entry
    excerpt = " ".join(entry.body.split())[:280]
    kind = _("comment") if entry.type == "comment" else entry.type
    text = _("New {kind} by {author} on “{title}”: {excerpt}").format(
        kind=kind, author=entry.author or "-", title=notice.article_title, excerpt=excerpt
    )
    return {
        "event": "replik.new_entry",
        "site": settings.get("SITENAME") or "",
        "text": text,
        "entry": {
            "id": entry.id,
            "article": entry.article,
            "type": entry.type,
            "author": entry.author,
            "url": entry.url or entry.source,
            "date": entry.date.isoformat(),
            "state": entry.state,
            "spam_verdict": entry.spam_verdict,
            "spam_reason": entry.spam_reason,
            "excerpt": excerpt,
        },
        "article_title": notice.article_title,
        "permalink": notice.permalink,
        "links": notice.links,
    }


def send_webhook(settings: dict[str, Any], notice: Notice) -> bool:
    """POST the notice as JSON through the guarded fetcher; False when no webhook is set."""
    url = str(settings.get("REPLIK_WEBHOOK_URL") or "")
    if not url:
        return False
    from .fetch import fetch

    result = fetch(
        url, settings, method="POST", json=webhook_payload(settings, notice),
        accept_types=None,  # chat tools answer with anything; only the status matters
        max_bytes=65536,
    )
    if not 200 <= result.status < 300:
        raise RuntimeError(f"webhook {url} answered HTTP {result.status}")
    return True


def notify(
    settings: dict[str, Any], entry: Entry, article_title: str = "", permalink: str = ""
) -> dict[str, str]:
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


def enabled(settings: dict[str, Any]) -> bool:
    """Is any channel configured (so a notice is worth preparing)?"""
    # Asked for every new comment: the host alone says whether mail is set up
    # (smtp_config() reads all six variables).
    if settings.get("REPLIK_WEBHOOK_URL"):
        return True
    return bool(secret("REPLIK_SMTP_HOST") and _recipients(settings))


def notify_in_background(
    settings: dict[str, Any], entry: Entry, article_title: str = "", permalink: str = ""
) -> threading.Thread:
    """Send the notices without holding up the reader's request."""
    thread = threading.Thread(
        target=notify, args=(settings, entry, article_title, permalink),
        name=f"replik-notify-{entry.id}", daemon=False,
    )
    thread.start()
    return thread
