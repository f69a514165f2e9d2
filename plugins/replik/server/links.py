"""One-click links from mails, one dance for every kind.

A moderator's action link (``intake.ActionLink``), a reader's confirmation and
unsubscribe link (``subscribe``): GET (and HEAD) only shows what the link would
do and a confirming button, and spends nothing, so a mail scanner that follows
links does nothing. The POST reads the token again, spends the link (where it
works once) and acts. A damaged, expired, used or foreign token gets the same
page everywhere. No link page is ever framed (clickjacking the button), cached
or indexed. A route's subclass supplies ``read``, ``page``, ``ask`` and ``act``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

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
    read: Callable[[str], T]  # what the token is for; raises TokenError
    page: Callable[..., Response]
    ask: Callable[[T], Response]
    act: Callable[[T], Response]

    def __init__(self, _: Callable[[str], str], expired: str, nokey: str) -> None:
        self._ = _  # gettext in the words of whoever opens the link
        self.messages = {"expired": expired, "nokey": nokey,
                         "used": _("This link was used already.")}

    def settled(self, target: T) -> Response | None:
        """The answer when there is nothing left to do (decided, confirmed …)."""
        return None

    def spend(self, target: T) -> Response | None:
        """Mark a link that works once as used: raises TokenError when it was,
        answers when that cannot be recorded."""
        return None

    def answer(self, token: str) -> Response:
        g.replik_link = True
        try:
            target = self.read(token)
            done = self.settled(target)
            if done is None and request.method != "POST":
                return self.ask(target)
            done = done or self.spend(target)
        except TokenError as exc:
            _ = self._
            return self.page(410 if exc.reason in ("expired", "used") else 404,
                             heading=_("Link not usable"),
                             message=self.messages.get(exc.reason, _("This link is not valid.")))
        return done or self.act(target)
