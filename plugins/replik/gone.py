"""Deleted posts: the addresses that answer 410 Gone.

A post is *published* once the publish path (``replik linkbacks send``, which a
publish build runs) has seen it at the public address; ``linkbacks/send.py``
remembers those site-relative URLs in the state file (``state.sent``, beside the
store, so ``make clean`` does not forget them); ``published`` reads them here, so
that a build imports nothing of the sender's network stack. A post that was
published and that a build no longer produces (deleted, turned into a draft, or
its URL changed) is *gone*: every build writes the paths of the gone posts to
``<output>/gone.map``.

``replik serve`` answers those paths with 410 Gone, and so does nginx with the
snippet in docs/linkbacks.md: the file is an nginx ``map`` include (one
``"<path>" 1;`` per line). W3C Webmention: a deleted source answers 410, and
the receivers of the webmentions sent for it then delete their mention.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from .settings import Settings
from .state import SentLinkbacks, database_url, open_state, state_path
from .state_upgrade import migrate_sent_log, sent_log_path

FILENAME = "gone.map"
HEADER = ("# Replik: posts that were published and are no longer (HTTP 410 Gone).\n"
          "# Written by every build; an nginx map include (see docs/linkbacks.md).\n")
# What an nginx map key in quotes cannot hold (and no post URL of ours holds).
_UNSAFE = re.compile(r'["\\;\s{}$]|[\x00-\x1f\x7f]')
_LINE = re.compile(r'^"([^"]*)"\s+1;$')


def site_prefix(settings: Settings) -> str:
    """SITEURL's path ("" or e.g. "/blog"): where the site's URLs start."""
    try:
        return urlsplit(settings.siteurl).path.rstrip("/")
    except ValueError:
        return ""


def sent_log(settings: Settings) -> SentLinkbacks:
    """What was sent, in the state file. Raises ValueError while a sent-log of an older
    version (``<store>/sent/linkbacks.json``) waits to be moved in and cannot be read:
    sending without it would notify everyone again."""
    state = open_state(settings)
    old = sent_log_path(settings)
    if old.exists():
        migrate_sent_log(state, old)
    return state.sent


def published_urls(sent: SentLinkbacks, settings: Settings) -> set[str]:
    """Every post ever published, site-relative: the list, and the sources we sent for
    under SITEURL (a sent-log from before the list was kept)."""
    base = settings.siteurl.rstrip("/") + "/"
    found = sent.published()
    if base != "/":
        found.update(s[len(base):] for s in sent.sources() if s.startswith(base))
    return found


def published(settings: Settings) -> set[str]:
    """``published_urls`` from the state; none without a state file or a database
    (a build does not make one)."""
    if not (database_url() or state_path(settings).exists()
            or sent_log_path(settings).exists()):
        return set()
    return published_urls(sent_log(settings), settings)


def request_paths(prefix: str, url: str) -> list[str]:
    """The request paths that name the page at the site-relative ``url``."""
    path = f"{prefix}/{url.lstrip('/')}"
    if path.endswith("/"):
        return [path, path + "index.html", path.rstrip("/")]
    if path.endswith("/index.html"):
        return [path, path[: -len("index.html")], path[: -len("/index.html")]]
    return [path]


def render(urls: Iterable[str], prefix: str) -> bytes:
    """The contents of ``gone.map`` for the site-relative ``urls`` (the build writes it
    every time, so that an nginx include of it never fails: writers.write_gone_map)."""
    lines = dict.fromkeys(f'"{path}" 1;\n' for url in sorted(set(urls))
                          for path in request_paths(prefix, url)
                          if path and not _UNSAFE.search(path))  # each once, in order
    return (HEADER + "".join(lines)).encode("utf-8")


def read(output: Path) -> frozenset[str]:
    """The request paths in ``<output>/gone.map`` (none if there is no such file)."""
    try:
        text = (output / FILENAME).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return frozenset()
    return frozenset(match.group(1) for line in text.splitlines()
                     if (match := _LINE.match(line.strip())))


class GoneList:
    """``<output>/gone.map`` for a server: read again whenever the file changes."""

    def __init__(self, output: Path) -> None:
        self.output = output

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and path in self.paths()

    def paths(self) -> frozenset[str]:
        try:
            st = (self.output / FILENAME).stat()
        except OSError:
            return frozenset()
        return _read_changed(self.output, st.st_mtime_ns, st.st_ino)


@lru_cache(maxsize=8)
def _read_changed(output: Path, _mtime_ns: int, _inode: int) -> frozenset[str]:
    """``read``, again only when the file's stamp (the other arguments) changed."""
    return read(output)
