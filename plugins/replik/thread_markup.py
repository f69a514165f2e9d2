"""The thread's markup written in Python: the same bytes as the theme's templates.

The theme's ``partials/comment.html`` (the ``render_comment`` macro) and the loop in
``partials/comments.html`` define what an entry looks like. Drawing 20,000 entries
through a Jinja macro costs about 23 µs each, much of a big blog's build; this
module writes the same bytes in a few (3.4 % of a full build's instructions,
docs/benchmarks.md). tests/test_thread_markup.py holds the two to byte identity on
hand-picked and generated threads.

It is only used while it can be exact: the plugin offers ``replik_comment_items``
to the templates only when both partials are the ones it was written for
(``SHIPPED_SOURCES``) and the environment strips blocks as ``pelicanconf.py`` sets
it. A theme that changes either partial gets its own templates, unchanged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2.utils import url_quote
from markupsafe import Markup, escape

from .thread import CommentNode

log = logging.getLogger(__name__)

#: The partials this module writes, and the SHA-256 of the sources it was written
#: for. Change a partial, and the test suite asks for this module to follow.
SHIPPED_SOURCES = {
    "partials/comment.html": "c9a63e2a981935e8c6513243f434fdd2a348a886c357ee675c9af5c3eaf13f04",
    "partials/comments.html": "c0d4609b4daea20c2cb3c901c5cf2cc1e96caf91ebef19251ce64539a0aad389",
}


def source_digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def matches_theme(env: Any) -> bool:
    """Whether ``env`` renders the thread exactly as this module does: the shipped
    partials, with trim_blocks and lstrip_blocks on, "\n" line ends and no finalize
    hook."""
    if not (getattr(env, "trim_blocks", False) and getattr(env, "lstrip_blocks", False)):
        return False
    if getattr(env, "newline_sequence", "\n") != "\n" or getattr(env, "finalize", None):
        return False
    loader = getattr(env, "loader", None)
    if loader is None:
        return False
    for name, digest in SHIPPED_SOURCES.items():
        try:
            source = loader.get_source(env, name)[0]
        except Exception:  # noqa: BLE001 (a theme without the partial, or a loader's error)
            return False
        if source_digest(source) != digest:
            log.debug("replik: %s differs from the shipped one; the theme draws the thread",
                      name)
            return False
    return True


def _esc(value: Any) -> str:
    """What {{ value }} writes under autoescaping (markupsafe.escape, without making a
    Markup object of every value)."""
    if type(value) is str:
        return (value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
                .replace("'", "&#39;").replace('"', "&#34;"))
    if type(value) is Markup or type(value) is int:  # safe as they are
        return str(value)
    return str(escape(value))


def _quoted_id(entry_id: str) -> str:
    # |urlencode leaves ASCII letters, digits and "-" alone: every valid id.
    if entry_id.isascii() and entry_id.replace("-", "").isalnum():
        return entry_id
    return url_quote(entry_id)


class _Words:
    """The thread's labels (its words, reply address, open or not) escaped once, and
    the pieces of markup made of them alone."""

    __slots__ = ("anonymous", "anonymous_raw", "staff_badge", "permalink", "reply_to",
                 "reply_to_markup", "badges", "other_badge", "reactions", "source",
                 "reply_start", "reply", "open")

    def __init__(self, labels: Mapping[str, Any]) -> None:
        self.anonymous_raw = labels["anonymous"]
        self.anonymous = _esc(self.anonymous_raw)
        self.staff_badge = f'<span class="badge badge-staff">{_esc(labels["staff"])}</span>'
        self.permalink = _esc(labels["permalink"])
        self.reply_to = labels["reply_to"]
        # A Markup pattern escapes what it is given: with that done here, plain "%".
        self.reply_to_markup = isinstance(self.reply_to, Markup)
        self.badges = {kind: _esc(word) for kind, word in labels["badges"].items()}
        self.other_badge = _esc(labels["badges"]["other"])
        self.reactions = labels["reactions"]
        self.source = _esc(labels["source"])
        self.reply_start = (f'  <p class="comment-actions"><a class="comment-reply"'
                            f' href="{_esc(labels["reply_base"])}&amp;reply_to=')
        self.reply = _esc(labels["reply"])
        self.open = bool(labels["open"])


def _entry(node: CommentNode, words: _Words) -> str:
    """One entry: what ``render_comment(node, labels)`` writes."""
    anchor = _esc(node.anchor)
    author = _esc(node.author) if node.author else words.anonymous
    classes = badge = photo = staff = actions = via = ""
    if node.is_linkback:
        classes = f" comment-linkback comment-{_esc(node.type)}"
    if node.is_reaction:
        classes += f" comment-reaction comment-{_esc(node.kind)}"
    if node.staff:
        classes += " comment-staff"
        staff = words.staff_badge
    if node.entry.is_linkback:
        badge = (f'<span class="badge badge-linkback">'
                 f'{words.badges.get(node.type, words.other_badge)}</span>')
    if node.photo:
        photo = (f'<img class="comment-photo" src="{_esc(node.photo)}" alt="" width="32"'
                 f' height="32" loading="lazy" referrerpolicy="no-referrer">')
    name = f'<a href="{_esc(node.link)}" rel="nofollow ugc">{author}</a>' if node.link else author
    if node.kind == "reply":  # a webmention reply: its author's words, from their site
        source = (node.entry.source or "").strip()
        if source[:7].lower() == "http://" or source[:8].lower() == "https://":
            via = f' · <a class="comment-source" href="{_esc(source)}" rel="nofollow ugc">' \
                  f'{words.source}</a>'
    if node.is_reaction:
        body = f"<p>{_esc(words.reactions[node.kind])}"
        source = (node.entry.source or "").strip()
        if source[:7].lower() == "http://" or source[:8].lower() == "https://":
            body += f' <a href="{_esc(source)}" rel="nofollow ugc">{words.source}</a>'
        body += "</p>\n"
    else:
        body = _esc(node.html)
    if words.open and not node.is_linkback:
        if words.reply_to_markup:
            reply_to = str.__mod__(words.reply_to, {"author": author})
        else:
            reply_to = _esc(words.reply_to % {"author": node.author or words.anonymous_raw})
        entry_id = _esc(node.id)
        actions = (f'{words.reply_start}{_esc(_quoted_id(node.id))}#respond"'
                   f' data-reply-to="{entry_id}">{words.reply}'
                   f'<span class="visually-hidden"> {reply_to}</span></a></p>\n')
    return (
        f'<article id="{anchor}" class="comment{classes}" aria-labelledby="{anchor}-by">\n'
        f'  <header class="comment-meta">\n    <h3 class="comment-by" id="{anchor}-by">\n'
        f'{badge}{photo}      <span class="comment-author">{name}</span>\n{staff}    </h3>\n'
        f'    <p class="comment-date"><a class="comment-permalink" href="#{anchor}"'
        f' title="{words.permalink}"><time datetime="{_esc(node.date_iso)}">'
        f'{_esc(node.date_text)}</time></a>{via}</p>\n  </header>\n  <div class="comment-body">\n'
        f'{body}  </div>\n{actions}</article>\n'
    )


def comment_items(nodes: Iterable[CommentNode], labels: Mapping[str, Any]) -> Markup:
    """The list items of a thread (with their nested lists): what the recursive loop
    of ``partials/comments.html`` writes for ``nodes``."""
    out: list[str] = []
    _items(nodes, _Words(labels), out)
    return Markup("".join(out))


def _items(nodes: Iterable[CommentNode], words: _Words, out: list[str]) -> None:
    for node in nodes:
        out.append(f'    <li class="comment-item depth-{_esc(node.depth)}">\n      '
                   f'{_entry(node, words)}\n')
        if node.children:
            out.append('      <ol class="comment-list comment-children">\n        ')
            _items(node.children, words, out)
            out.append("\n      </ol>\n")
        out.append("    </li>\n")
