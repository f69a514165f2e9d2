"""Linkbacks: receiving pingbacks, trackbacks and webmentions, and sending our own.

- ``html``: reading a linking page (links, title, excerpt);
- ``mf2``: microformats2 (author, kind of response);
- ``verify``: fetching a source through ``replik.fetch`` and checking its link;
- ``receive``: targets, policy, known pairs, storing (shared by the protocols);
- ``pingback``, ``trackback``, ``webmention``: the three protocols;
- ``queue``: the webmention queue kept in the store;
- ``send``: discovering endpoints of the posts we link to and notifying them.
"""

from __future__ import annotations

from typing import Any

from .receive import Receiver


def article_index(settings: dict[str, Any]) -> Any:
    """The blog's article index (shared with the comment intake)."""
    from ..server.intake import ArticleIndex

    return ArticleIndex(settings, float(settings.get("REPLIK_CONTENT_POLL", 2.0)))


def receiver_for(settings: dict[str, Any], index: Any = None) -> Receiver:
    return Receiver(settings, index if index is not None else article_index(settings))
