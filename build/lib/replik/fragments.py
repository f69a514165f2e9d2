"""Parts of a page that read the same on every page of a language, rendered once.

A build writes the comment form under every post and the channel badges on every
page; in a language they differ at most in the post's slug. Templates wrap such a
part in a call block, and it is rendered once per page language (and environment):

    {% call cached_fragment("social/compact.html") %}…{% endcall %}

A part that differs in one value takes it as ``substitute``; the block receives a
marker in its place, and each page gets the kept markup with its own value put in:

    {% call(slug) cached_fragment("comment-form", substitute=article.slug) %}
      {{ comment_form(slug) }}
    {% endcall %}

The contract, which the template states by using it: the block's markup depends only
on the page's language, ``SITEURL`` (which ``RELATIVE_URLS`` makes per page depth),
the build's settings and ``substitute``, and writes ``substitute`` only as
``{{ value }}`` does. The first use of a name checks the second half: the kept
markup with the value put in must equal the block rendered with the value itself,
or that name is rendered every time from then on.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from jinja2 import pass_context
from markupsafe import Markup, escape

#: A name whose check failed: render it every time.
_UNCACHEABLE = object()


def fragment_cache(page_language: Callable[[Any], str]) -> Callable[..., Any]:
    """A ``cached_fragment`` global for one Jinja environment; ``page_language`` tells
    a template context's language (the key, beside the name and SITEURL)."""
    kept: dict[tuple[Any, ...], Any] = {}
    # Letters and digits only (escaping leaves it as it is), upper and lower case (so
    # that a |lower or |upper on the value shows in the check), unguessable.
    mark = f"Replik{secrets.token_hex(8)}Mark"

    @pass_context
    def cached_fragment(context: Any, name: str, substitute: Any = None, *,
                        caller: Callable[..., Any]) -> Any:
        # SITEURL too: with RELATIVE_URLS, Pelican gives each page depth its own.
        key = (name, page_language(context), context.resolve_or_missing("SITEURL"))
        markup = kept.get(key)
        if markup is _UNCACHEABLE:
            return caller() if substitute is None else caller(substitute)
        if substitute is None:
            if markup is None:
                markup = kept[key] = caller()
            return markup
        if markup is None:
            markup = caller(mark)
            real = caller(substitute)
            if _put(markup, mark, substitute) != real:
                kept[key] = _UNCACHEABLE
                return real
            kept[key] = markup
            return real
        return _put(markup, mark, substitute)

    return cached_fragment


def _put(markup: Any, mark: str, value: Any) -> Any:
    """``markup`` with ``value`` where ``mark`` is, written as ``{{ value }}`` writes it:
    escaped under autoescaping (the block then returns Markup), as it is without."""
    if isinstance(markup, Markup):
        return Markup(str.replace(markup, mark, escape(value)))
    return markup.replace(mark, str(value))
