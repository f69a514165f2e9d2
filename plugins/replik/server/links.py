"""One-click links from mails, one dance for every kind.

A moderator's action link (``intake.ActionLink``), a reader's confirmation and
unsubscribe link (``subscribe``): GET (and HEAD) only shows what the link would
do and a confirming button, and spends nothing, so a mail scanner that follows
links does nothing. The POST reads the token again, spends the link (where it
works once) and acts. A damaged, expired, used or foreign token gets the same
page everywhere. No link page is ever framed (clickjacking the button), cached
or indexed. A route's subclass supplies ``template``, ``read``, ``ask`` and ``act``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from flask import Response, g, request

from ..tokens import TokenError

if TYPE_CHECKING:
    from .intake import Intake

T = TypeVar("T")

LINK_HEADERS = {
    "Cache-Control": "no-store",
    # Not no-referrer: with it the browser posts the page's own form with "Origin: null",
    # which the origin check refuses; same-origin still tells other sites nothing.
    "Referrer-Policy": "same-origin",
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
    template: str  # the link's page in the site's look
    read: Callable[[str], T]  # what the token is for; raises TokenError
    ask: Callable[[T], Response]
    act: Callable[[T], Response]

    def __init__(self, ix: Intake, expired: str, nokey: str) -> None:
        self.ix = ix
        self._ = ix.gettext  # the site's words, until read() knows the post's
        self.context: dict[str, Any] = {}  # what each page of this link shows
        self.messages = {"expired": expired, "nokey": nokey,
                         "used": self._("This link was used already.")}

    def page(self, status: int, **context: Any) -> Response:
        return self.ix.page(self.template, status, **{**self.context, **context})

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
