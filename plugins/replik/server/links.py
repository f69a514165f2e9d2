"""One-click links from mails, one dance for every kind.

A moderator's action link (``intake.one_click``), a reader's confirmation and
unsubscribe link (``subscribe``): GET (and HEAD, which Flask answers with the GET
view) only shows what the link would do and a confirming button, and spends
nothing, so a mail scanner that follows links does nothing. The POST reads the
token again, spends the link (where it works once) and acts. A damaged, expired,
used or foreign token gets the same page everywhere. No link page is ever framed
(clickjacking the button), cached or indexed. Each route supplies only its own
reading, pages and action (a subclass of ``OneClick``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from flask import Response, g, request

from ..tokens import TokenError

T = TypeVar("T")

LINK_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Robots-Tag": "noindex, nofollow",
}


def link_headers(response: Response) -> Response:
    """after_request (app-wide): every answer of a link view, errors included."""
    if g.get("replik_link"):
        response.headers.update(LINK_HEADERS)
    return response


class OneClick(Generic[T]):
    """One kind of link; ``_`` is gettext in the words of whoever opens it."""

    def __init__(self, _: Callable[[str], str], expired: str, nokey: str) -> None:
        self._ = _
        self.messages = {"expired": expired, "nokey": nokey,
                         "used": _("This link was used already.")}

    def page(self, status: int, **context: Any) -> Response:
        raise NotImplementedError

    def read(self, token: str) -> T:
        """What the token is for; raises TokenError."""
        raise NotImplementedError

    def settled(self, target: T) -> Response | None:
        """The answer when there is nothing left to do (decided, confirmed …)."""
        return None

    def ask(self, target: T) -> Response:
        raise NotImplementedError

    def spend(self, target: T) -> Response | None:
        """Mark a link that works once as used: raises TokenError when it was, answers
        when that cannot be recorded."""
        return None

    def act(self, target: T) -> Response:
        raise NotImplementedError

    def refused(self, exc: TokenError) -> Response:
        _ = self._
        return self.page(410 if exc.reason in ("expired", "used") else 404,
                         heading=_("Link not usable"),
                         message=self.messages.get(exc.reason, _("This link is not valid.")))

    def answer(self, token: str) -> Response:
        g.replik_link = True
        try:
            target = self.read(token)
            done = self.settled(target)
            if done is not None:
                return done
            if request.method != "POST":
                return self.ask(target)
            refused = self.spend(target)
        except TokenError as exc:
            return self.refused(exc)
        return refused or self.act(target)
