"""Post feeds advertise the channels: feed-level links and a footer in every entry.

Pelican writes its post feeds (all, category, tag, author) with feedgenerator and
sends ``feed_generated`` with the finished feed object just before writing it.
The receiver appends the footer to each entry's content and, for the feed-level
``<link rel="related">`` elements (feedgenerator has no hook for extra root
elements), swaps the feed's class for a subclass that writes them. The comment
feeds (replik.feeds, feedgen) do not pass through here.
"""

from __future__ import annotations

import logging
from typing import Any

from feedgenerator import Atom1Feed, Rss201rev2Feed
from markupsafe import Markup, escape

from replik.i18n import translations_for
from replik.settings import Settings

from .channels import with_defaults
from .context import ChannelView, Social, build_social

log = logging.getLogger(__name__)


def _with_channel_links(feed_class: type, element: str) -> type:
    """``feed_class`` with a feed-level ``<element rel="related">`` per channel."""
    class WithChannelLinks(feed_class):  # type: ignore[valid-type, misc]
        def add_root_elements(self, handler: Any) -> None:
            super().add_root_elements(handler)
            for href, title in self.feed.get("social_links", ()):
                handler.addQuickElement(element, "", {"rel": "related", "href": href,
                                                      "title": title})

    return WithChannelLinks


# RSS 2.0 has one channel <link>; further links use the Atom namespace, which
# feedgenerator already declares for atom:link rel="self".
SUBCLASSES: dict[type, type] = {Atom1Feed: _with_channel_links(Atom1Feed, "link"),
                                Rss201rev2Feed: _with_channel_links(Rss201rev2Feed, "atom:link")}


def footer_channels(social: Social) -> list[ChannelView]:
    # The reader is already subscribed to a feed: advertise the other channels.
    return [c for c in social.channels if c.network != "rss"]


def footer_html(social: Social, settings: dict[str, Any], lang: str | None = None) -> str:
    """'<p>Folgen Sie uns: <a …>Mastodon</a> · <a …>Bluesky</a></p>', or '' when off;
    in ``lang`` (the entry's), else the site's language."""
    setting = settings.get("SOCIAL_FEED_FOOTER")
    channels = footer_channels(social)
    if not setting or not channels:
        return ""
    links = Markup(" · ").join(
        Markup('<a href="{}">{}</a>').format(c.url, c.label) for c in channels)
    if isinstance(setting, str):
        text = escape(setting).replace("{links}", links)
    else:
        _ = translations_for(Settings.of(settings), lang).gettext
        text = escape(_("Follow us: %(links)s")).replace("%(links)s", links)
    return f'<p class="social-feed-footer">{text}</p>'


def validate_footer_setting(settings: dict[str, Any]) -> None:
    setting = settings.get("SOCIAL_FEED_FOOTER")
    if isinstance(setting, str) and setting and "{links}" not in setting:
        raise ValueError(
            f"SOCIAL_FEED_FOOTER {setting!r} must contain {{links}} where the channel"
            f" links go, e.g. 'Folgen Sie uns: {{links}}' (or set it to True or False)")


def post_languages(context: dict[str, Any]) -> dict[str, str]:
    """Each post's address (relative to SITEURL, as in ``article.url``) and language."""
    return {str(post.url): str(getattr(post, "lang", "") or "")
            for article in context.get("articles") or ()
            for post in (article, *getattr(article, "translations", ()))}


def entry_language(link: str, languages: dict[str, str], site: str, default: str) -> str:
    """The language of the post a feed entry links to (Pelican's items carry none)."""
    path = link.split("?", 1)[0]  # FEED_APPEND_REF adds "?ref=feed"
    return languages.get(path.removeprefix(site.rstrip("/") + "/")) or default


def add_channels_to_feed(context: dict[str, Any], feed: Any) -> None:
    """Pelican's feed_generated receiver."""
    settings = with_defaults(context)
    social = context.get("social")
    if not isinstance(social, Social):
        social = build_social(context)
    if not social.channels:
        return
    default = Settings.of(settings).lang
    languages = context.get("social_post_languages")
    if languages is None:  # once per build (Pelican's context): every feed has the same posts
        languages = context["social_post_languages"] = post_languages(context)
    site = str(context.get("SITEURL") or "")
    footers: dict[str, str] = {}
    for item in feed.items:
        # Each entry's footer in its post's language, whatever the feed's.
        lang = entry_language(str(item.get("link") or ""), languages, site, default)
        footer = footers.get(lang)
        if footer is None:
            footer = footers[lang] = footer_html(social, settings, lang)
        # Atom: full text is "content" ("description" is the summary); RSS: "description".
        key = "content" if item.get("content") else "description"
        if footer and item.get(key):
            item[key] = f"{item[key]}\n{footer}"
    if settings.get("SOCIAL_FEED_LINKS"):
        subclass = SUBCLASSES.get(type(feed))
        if subclass is None:
            log.debug("social_badges: feed class %s is not ours to extend", type(feed))
            return
        feed.feed["social_links"] = [(c.url, c.label) for c in footer_channels(social)]
        feed.__class__ = subclass
