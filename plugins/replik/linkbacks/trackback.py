"""TrackBack (Six Apart's technical specification 1.2).

A ping is a form POST (``title``, ``excerpt``, ``url``, ``blog_name``; only ``url``
is required) to the post's TrackBack URL; the answer is a tiny XML document with
``<error>0</error>`` or ``<error>1</error>`` and a ``<message>``. Unlike most
implementations we verify that ``url`` really links to the post.
"""

from __future__ import annotations

import codecs
import logging
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from .receive import Denied, Receiver, TargetProblem
from .verify import SourceProblem, is_http_url, verify

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


def response(error: str = "") -> bytes:
    """The spec's response document (error 0 on success, 1 with a message otherwise)."""
    body = f"<error>1</error>\n<message>{escape(error)}</message>" if error else "<error>0</error>"
    return f'<?xml version="1.0" encoding="utf-8"?>\n<response>\n{body}\n</response>\n'.encode()


class BadCharset(ValueError):
    """The declared charset is not a text encoding we can decode the form with."""


def parse_form(body: bytes, charset: str = "") -> dict[str, str]:
    """The form fields, decoded with the charset the sender declared (UTF-8 otherwise).

    An unknown charset name falls back to UTF-8 (old senders name odd ones); a codec
    that is not a text encoding (``rot13``, ``base64``, ``zlib`` …) or that cannot
    decode leniently (``idna``) raises BadCharset.
    """
    try:
        encoding = codecs.lookup(charset).name if charset else "utf-8"
    except LookupError:
        encoding = "utf-8"
    text = body.decode("latin-1")  # parse_qsl decodes the %-escapes with ``encoding``
    fields: dict[str, str] = {}
    try:
        b"%ff".decode(encoding, "replace")  # refuses non-text codecs even without escapes
        pairs = parse_qsl(text, keep_blank_values=True, encoding=encoding, errors="replace")
    except (LookupError, UnicodeError, ValueError):
        raise BadCharset(f"charset {charset!r} is not supported; send UTF-8") from None
    for key, value in pairs:
        try:
            (key + value).encode("utf-8")  # ``unicode_escape`` can make lone surrogates
        except UnicodeEncodeError:
            raise BadCharset("the form data is not valid text; send UTF-8") from None
        fields.setdefault(key, value)
    return fields


def ping(receiver: Receiver, slug: str, fields: dict[str, str], ip: str = "",
         user_agent: str = "") -> bytes:
    """Handle one TrackBack ping; never raises."""
    try:
        return _ping(receiver, slug, fields, ip, user_agent)
    except Exception:  # noqa: BLE001 - the sender gets a clean error, the log the details
        log.exception("replik: trackback failed")
        return response("the trackback could not be processed; please try again later")


def _ping(receiver: Receiver, slug: str, fields: dict[str, str], ip: str,
          user_agent: str) -> bytes:
    url = fields.get("url", "").strip()
    if not url:
        return response("the url field is required")
    if not is_http_url(url):
        return response("url must be an http or https URL")
    try:
        article = receiver.article_by_slug(slug)
        if receiver.pairs.find(url, article.slug) is not None:
            return response("this trackback has already been registered")
        receiver.check_policy(url, ip)
        verified = verify(url, article.permalink, receiver.settings)
    except (TargetProblem, Denied, SourceProblem) as exc:
        return response(str(exc))
    if receiver.pairs.find(url, article.slug) is not None:
        return response("this trackback has already been registered")
    receiver.save(
        "trackback", verified, article.permalink, article, ip=ip, user_agent=user_agent,
        fallback_excerpt=fields.get("excerpt", ""), fallback_title=fields.get("title", ""),
        fallback_author=fields.get("blog_name", ""),
    )
    return response()
