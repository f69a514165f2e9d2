"""Verification: fetch the linking page (through the guarded fetcher) and check the link."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..fetch import BadURL, BlockedAddress, FetchError, fetch, parse_url
from ..settings import Settings
from . import mf2
from .html import Page

SOURCE_TYPES = ("text/html", "application/xhtml+xml", "text/plain")


class SourceProblem(Exception):
    """The source cannot be used.

    ``kind`` is ``missing`` (refused address, 4xx), ``unreachable`` (network failure,
    timeout, too large), ``gone`` (410), ``nolink`` or ``upstream`` (5xx).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Source:
    """A verified linking page: it exists and links to the target."""

    url: str  # as the sender named it
    final_url: str  # after redirects
    title: str
    site_name: str
    excerpt: str
    info: mf2.Mf2Info = field(default_factory=mf2.Mf2Info)

    @property
    def site_root(self) -> str:
        parts = urlsplit(self.final_url)
        return f"{parts.scheme}://{parts.netloc}/"


def is_http_url(value: str) -> bool:
    """An http(s) URL with a host that the fetcher can read (no CR/LF, no ``[x]``)."""
    try:
        parts = parse_url(value)
    except BadURL:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def verify(source: str, target: str, settings: Settings) -> Source:
    """Fetch ``source`` and make sure it links to ``target``; raise SourceProblem if not."""
    try:
        result = fetch(source, settings, accept_types=SOURCE_TYPES)
    except (BlockedAddress, BadURL) as exc:  # retrying would not help
        raise SourceProblem("missing", f"the source is not fetched: {exc}") from None
    except FetchError as exc:
        raise SourceProblem("unreachable", f"the source cannot be fetched: {exc}") from None
    if result.status == 410:
        raise SourceProblem("gone", f"the source {source} is gone (HTTP 410)")
    if 500 <= result.status < 600:
        raise SourceProblem("upstream", f"the source's server answered HTTP {result.status}")
    if not 200 <= result.status < 300:
        raise SourceProblem("missing", f"the source {source} answered HTTP {result.status}")
    page = Page.parse(result.url, result.text, result.media_type)
    if not page.links(target):
        raise SourceProblem("nolink", f"the source {source} does not link to {target}")
    info = mf2.parse(result.text, result.url, target) if page.root is not None else mf2.Mf2Info()
    return Source(
        url=source,
        final_url=result.url,
        title=page.title(),
        site_name=page.site_name(),
        excerpt=page.excerpt(target),
        info=info,
    )
