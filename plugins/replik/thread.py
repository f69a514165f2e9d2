"""Approved entries of one article arranged as a thread for the templates."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from .render import format_datetime_local, render_bodies, render_body, render_excerpt
from .storespec import CommentStore, Entry, StoreError

if TYPE_CHECKING:
    from .thread_cache import ThreadCache

log = logging.getLogger(__name__)


class CommentNode:
    """One entry as a template sees it (its attributes: docs/theme.md), public fields
    only, HTML ready. Worked out once, as plain attributes: a page of a long thread
    reads them tens of thousands of times, and a build makes one node per comment (a
    plain class with slots: a dataclass's __init__ cost twice as much)."""

    __slots__ = ("entry", "html", "date_text", "depth", "number", "children", "parent", "id",
                 "anchor", "kind", "is_linkback", "is_reaction", "author", "url", "photo",
                 "link", "date_iso", "type", "staff", "date")

    def __init__(self, entry: Entry, html: Markup, date_text: str, depth: int = 1,
                 number: int = 0) -> None:
        self.entry, self.html, self.date_text = entry, html, date_text
        self.depth, self.number = depth, number
        self.children: list[CommentNode] = []
        self.parent: CommentNode | None = None
        self.id = entry.id
        self.anchor = f"comment-{entry.id}"
        self.type, self.staff, self.date = entry.type, entry.staff, entry.date
        if entry.type == "comment":  # most entries: no kind to look up, no linkback
            self.kind, self.is_linkback, self.is_reaction = "comment", False, False
            self.author = entry.author or entry.title or entry.source
            self.url = entry.url
        else:
            self.kind = kind = entry_kind(entry)
            self.is_linkback = linkback = entry.is_linkback and kind != "reply"
            self.is_reaction = kind in REACTION_KINDS
            if linkback and not self.is_reaction:
                # A linkback shows the linking post's title (or its site's name) as its
                # author.
                self.author = entry.title or entry.author or entry.source or entry.url
                self.url = entry.source or entry.url
            else:  # a webmention reply or reaction: its author, from their site
                self.author = entry.author or entry.title or entry.source
                self.url = entry.url or entry.source
        photo = entry.extra.get("Author-Photo", "") if entry.extra else ""
        self.photo = photo if photo.lower().startswith(("http://", "https://")) else ""
        link = (self.url or "").strip()
        self.link = link if link[:8].lower().startswith(("http://", "https://")) else ""
        # HTML allows three digits of a second at most; the store keeps microseconds.
        self.date_iso = self.date.isoformat(timespec="seconds")

    def __getattr__(self, name: str) -> Any:
        # Templates may ask for other entry fields directly (node.title, node.source …).
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.entry, name)

    def __repr__(self) -> str:
        return (f"CommentNode(id={self.id!r}, depth={self.depth}, number={self.number},"
                f" children={len(self.children)})")


REACTION_KINDS = ("like", "repost", "bookmark")

#: A thread's order: by date, then id (a C key function: a build sorts 20,000 entries).
DATE_ORDER = attrgetter("date", "id")


def entry_kind(entry: Entry) -> str:
    if entry.type == "webmention":
        return entry.extra.get("Webmention-Kind", "mention") or "mention"
    return entry.type


def shown_as_excerpt(entry: Entry) -> bool:
    """Linkbacks show an excerpt of the linking post; a webmention reply is its
    author's text, rendered as a comment."""
    return entry.is_linkback and entry_kind(entry) != "reply"


def render_node(entry: Entry, locale: str, timezone: str, html: Markup | None = None
                ) -> CommentNode:
    """``entry`` as a node; ``html``: its text rendered already (see build_thread)."""
    # The build reads its own copies from the store: blank them rather than copy them.
    public = entry.drop_private()
    if html is None:
        html = render_excerpt(entry.body) if shown_as_excerpt(entry) else render_body(entry.body)
    return CommentNode(
        entry=public, html=html, date_text=format_datetime_local(entry.date, locale, timezone)
    )


def render_entries(entries: list[Entry]) -> dict[str, Markup]:
    """Every entry's HTML by id: a comment's text rendered, a linkback's excerpt."""
    texts = [e for e in entries if not shown_as_excerpt(e)]
    html = dict(zip([e.id for e in texts], render_bodies([e.body for e in texts]),
                    strict=True))
    for entry in entries:
        if entry.id not in html:
            html[entry.id] = render_excerpt(entry.body)
    return html


def shown_entries(entries: list[Entry], origin: str = "", warn: bool = True) -> list[Entry]:
    """The approved entries of one article that its page shows, in their order.

    A reply is shown only under the entry it answers: while that entry is not shown
    (pending, spam, in the trash, deleted, or itself waiting), the reply waits with it,
    and it appears when that entry is approved. So a reply never reaches the page
    under (or instead of) a comment marked spam. Each hidden reply is logged once per
    call. Visibility depends on the article's own approved entries only, so the
    approve-to-live path (which rebuilds the articles whose folder changed) stays
    exact.
    """
    ids = {e.id for e in entries}
    children: dict[str, list[Entry]] = {}
    shown: set[str] = set()
    todo: list[Entry] = []
    for entry in entries:
        parent = entry.reply_to
        if not parent or parent == entry.id:
            todo.append(entry)  # a top-level entry (a self-reply is one too, as before)
        elif parent in ids:
            children.setdefault(parent, []).append(entry)
    while todo:
        entry = todo.pop()
        if entry.id in shown:
            continue
        shown.add(entry.id)
        todo.extend(children.get(entry.id, ()))
    if len(shown) == len(entries):
        return entries
    if warn:
        for entry in (e for e in entries if e.id not in shown):
            log.warning("replik: %s%s replies to %s, which is not approved on this article;"
                        " not shown until it is", origin, entry.id, entry.reply_to)
    return [e for e in entries if e.id in shown]


def build_thread(
    entries: list[Entry], max_depth: int = 5, locale: str = "de", timezone: str = "UTC",
    origin: str = "", warn: bool = True, html: dict[str, str] | None = None,
) -> tuple[list[CommentNode], list[CommentNode]]:
    """Return (top-level nodes with children, all nodes in date order).

    Replies deeper than ``max_depth`` attach at the deepest level; a reply whose
    parent is not among ``entries`` is put at the top level with a warning (the
    build passes ``shown_entries`` first, so on the site such a reply waits
    instead). The entries' private fields are blanked in place: pass entries read
    for this purpose.
    ``html``: every entry's HTML by id, rendered before (the thread cache).
    """
    ordered = sorted(entries, key=DATE_ORDER)
    if html is not None:
        rendered = {e.id: Markup(html[e.id]) for e in ordered}
    else:
        rendered = render_entries(ordered)
    nodes = {e.id: render_node(e, locale, timezone, rendered[e.id]) for e in ordered}
    top: list[CommentNode] = []
    for number, entry in enumerate(ordered, start=1):
        node = nodes[entry.id]
        node.number = number
        parent = nodes.get(entry.reply_to) if entry.reply_to else None
        if entry.reply_to and parent is None and warn:
            log.warning(
                "replik: %s%s replies to %s, which is not approved on this article;"
                " showing it at the top level", origin, entry.id, entry.reply_to,
            )
        while parent is not None and parent.depth >= max_depth:
            parent = parent.parent
        if parent is None or parent is node:
            node.depth = 1
            top.append(node)
            continue
        node.depth = parent.depth + 1
        node.parent = parent
        parent.children.append(node)
    return top, [nodes[e.id] for e in ordered]


class LazyThread:
    """An article's approved entries; the thread is built when first asked for.

    A build holds every article's entries at once, but each article's nodes (with
    their HTML) only while its page and feeds are written: ``release()`` drops them,
    and the next use builds them again. That keeps a build's memory near plain
    Pelican's however many comments the site has.
    """

    __slots__ = ("entries", "max_depth", "locale", "timezone", "origin", "store", "_built",
                 "_warned", "cache", "slug")

    def __init__(self, entries: list[Entry], max_depth: int = 5, locale: str = "de",
                 timezone: str = "UTC", origin: str = "", store: CommentStore | None = None,
                 cache: ThreadCache | None = None, slug: str = "") -> None:
        entries.sort(key=DATE_ORDER)  # in place: a build holds one list
        self.entries = entries
        self.max_depth, self.locale, self.timezone, self.origin = (
            max_depth, locale, timezone, origin)
        #: Set when the entries were read without their texts: the store to read them
        #: from (the thread ``slug``'s) while the thread is built, dropped on release().
        self.store = store
        self._built: tuple[list[CommentNode], list[CommentNode]] | None = None
        self._warned = False
        #: The build's thread cache: the HTML kept by the last build (when the thread
        #: is unchanged), and where this build keeps it.
        self.cache, self.slug = cache, slug

    def with_body(self, entry: Entry) -> Entry:
        """``entry`` with its text (a copy read from the store, if the thread holds
        none)."""
        if self.store is None or entry.body:
            return entry
        try:
            return replace(entry, body=self.store.body(entry))
        except (OSError, StoreError) as exc:
            return replace(entry, body=self._missing(entry, exc))

    def _missing(self, entry: Entry, why: object) -> str:
        # Moved or changed since the store was read: the next build shows it right.
        log.warning("replik: %s%s could not be read again (%s)", self.origin, entry.id, why)
        return ""

    def _read_texts(self) -> dict[str, Any] | None:
        """Read the thread's texts from the store and render them; returns the HTML
        by id."""
        assert self.store is not None
        try:
            texts = self.store.bodies(self.slug)
        except (OSError, StoreError) as exc:
            texts = {}
            log.warning("replik: the texts of %s could not be read (%s)", self.slug, exc)
        for entry in self.entries:
            entry.body = (texts[entry.id] if entry.id in texts
                          else self._missing(entry, "not approved here any more"))
        return render_entries(self.entries)

    def build(self) -> tuple[list[CommentNode], list[CommentNode]]:
        if self._built is None:
            cache = self.cache
            html = cache.html_for(self.slug, self.entries) if cache is not None else None
            if html is None and self.store is not None:
                html = self._read_texts()
            # A thread built again after release() has warned about its orphans already.
            self._built = build_thread(self.entries, self.max_depth, self.locale,
                                       self.timezone, origin=self.origin, warn=not self._warned,
                                       html=html)
            self._warned = True
        return self._built

    def release(self) -> None:
        """Drop the nodes (breaking their parent links, so memory is freed at once)."""
        if self._built is None:
            return
        for node in self._built[1]:
            node.parent = None
            node.children = []
        self._built = None
        if self.store is not None:
            for entry in self.entries:
                entry.body = ""

    @property
    def built(self) -> bool:
        return self._built is not None


class ThreadView(Sequence[CommentNode]):
    """``article.comments`` (top level) or ``article.comments_flat`` (date order):
    a read-only list that builds its LazyThread on first use."""

    __slots__ = ("thread", "flat")

    def __init__(self, thread: LazyThread, flat: bool) -> None:
        self.thread, self.flat = thread, flat

    def _nodes(self) -> list[CommentNode]:
        top, flat = self.thread.build()
        return flat if self.flat else top

    def __getitem__(self, index: Any) -> Any:
        return self._nodes()[index]

    def __len__(self) -> int:
        if self.flat:
            return len(self.thread.entries)  # no need to build the thread to count it
        return len(self._nodes())

    def __bool__(self) -> bool:
        return bool(self.thread.entries)

    def __iter__(self) -> Iterator[CommentNode]:
        return iter(self._nodes())

    def __repr__(self) -> str:
        return f"ThreadView({'flat' if self.flat else 'top'}, {len(self.thread.entries)} entries)"
