"""What the templates see: ``social`` with the channels, their counts and the feed links."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from replik.i18n import translations_for
from replik.settings import Settings

from .channels import Channel, parse_channels, with_defaults
from .counts import CountsFileError, counts_path, current_count, followers_text, read_counts
from .icons import Icon, bundled
from .svgbadge import icon_colors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedView:
    name: str  # badge file stem
    label: str
    url: str
    icon: Markup  # decorative inline SVG; the label is always given as text
    badge_path: str  # "badges/mastodon.svg" (relative to the output)
    badge_url: str  # absolute
    badge_message: str  # right half of the SVG badge
    raw_icon: Icon = field(repr=False, compare=False)

    @property
    def alt(self) -> str:
        return self.label

    @property
    def embed_html(self) -> str:
        """The snippet to paste into a web page, newsletter or e-mail signature."""
        return (f'<a href="{escape(self.url)}" rel="me"><img src="{escape(self.badge_url)}"'
                f' alt="{escape(self.alt)}" height="20"></a>')

    @property
    def embed_markdown(self) -> str:
        alt = self.alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        return (f"[![{alt}]({self.badge_url.replace(')', '%29')})]"
                f"({self.url.replace(')', '%29')})")


@dataclass(frozen=True)
class ChannelView(FeedView):
    network: str
    handle: str
    cta: str  # "Folgen Sie uns auf Mastodon"
    color: str  # icon colour on a light page …
    color_dark: str  # … and on a dark one
    count: int | None
    count_text: str  # "1.086 Follower", or "" when no current count is known
    title: str  # accessible name, "Mastodon: 1.086 Follower"

    @property
    def alt(self) -> str:
        return f"{self.label}: {self.badge_message}"


@dataclass(frozen=True)
class Social:
    channels: list[ChannelView]
    feeds: list[FeedView]  # post feed and comment feed
    page_url: str  # the channels page (absolute), "" when turned off
    page_path: str  # the same, relative to SITEURL (templates: {{ SITEURL }}/{{ … }})
    lang: str
    # What in_language() builds the others from, and what it built.
    settings: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    now: datetime | None = field(default=None, repr=False, compare=False)
    others: dict[str, Social] = field(default_factory=dict, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.channels)

    def in_language(self, lang: str) -> Social:
        """The same channels for a page in ``lang``: counts and words in that language
        ("1,086 followers" on an English post). Templates ask with ``page_lang()``."""
        if not lang or lang == self.lang or not self.settings:
            return self
        other = self.others.get(lang)
        if other is None:
            other = self.others[lang] = build_social(self.settings, self.now, lang)
        return other


def absolute(settings: dict[str, Any], path: str) -> str:
    return f"{str(settings.get('SITEURL') or '').rstrip('/')}/{path.lstrip('/')}"


def channel_views(channels: list[Channel], settings: dict[str, Any],
                  now: datetime | None = None, lang: str | None = None) -> list[ChannelView]:
    """The channels as a page in ``lang`` (default: the site's language) shows them.
    The SVG badge (``badge_message``), one file for all pages, is in the site's."""
    site_lang = Settings.of(settings).lang
    lang = lang or site_lang
    translations = translations_for(Settings.of(settings), lang)
    site_translations = translations_for(Settings.of(settings), site_lang)
    _ = translations.gettext
    try:
        counts = read_counts(counts_path(settings))
    except CountsFileError as exc:  # counts never fail a build
        log.warning("social_badges: %s; follower counts are left out", exc)
        counts = {}
    max_age = float(settings["SOCIAL_COUNT_MAX_AGE_DAYS"])
    shorten_from = int(settings["SOCIAL_COUNT_SHORTEN_FROM"])
    badges = str(settings["SOCIAL_BADGES_PATH"]).strip("/")
    views = []
    for channel in channels:
        count = current_count(channel, counts, max_age, now)
        count_text = followers_text(count, lang, shorten_from, translations) if count is not None \
            else ""
        badge_count = count_text if lang == site_lang or count is None else followers_text(
            count, site_lang, shorten_from, site_translations)
        if channel.network == "rss":
            cta = channel.cta or _("Subscribe to our feed")
        elif channel.network == "newsletter":
            cta = channel.cta or _("Subscribe to our newsletter")
        else:
            cta = channel.cta or _("Follow us on %(network)s") % {"network": channel.label}
        badge_path = f"{badges}/{channel.name}.svg"
        light, dark = icon_colors(channel.icon.color)
        fallback = site_translations.gettext(
            "subscribe" if channel.network in ("rss", "newsletter") else "follow")
        message = badge_count or channel.handle or fallback
        views.append(ChannelView(
            name=channel.name, network=channel.network, label=channel.label, url=channel.url,
            handle=channel.handle, cta=cta, icon=channel.icon.inline(),
            color=light, color_dark=dark,
            count=count, count_text=count_text,
            title=f"{channel.label}: {count_text}" if count_text else channel.label,
            badge_path=badge_path, badge_url=absolute(settings, badge_path),
            badge_message=message, raw_icon=channel.icon,
        ))
    return views


def feed_views(settings: dict[str, Any], lang: str | None = None) -> list[FeedView]:
    _ = translations_for(Settings.of(settings), lang).gettext
    badge_ = translations_for(Settings.of(settings)).gettext  # the SVG files: the site's language
    badges = str(settings["SOCIAL_BADGES_PATH"]).strip("/")
    feeds = []
    for name, feed, icon, label, message in (
            ("feed-posts", settings.get("FEED_ALL_ATOM") or settings.get("FEED_ALL_RSS"),
             bundled("rss"), _("Post feed"), badge_("Posts")),
            ("feed-comments", settings.get("REPLIK_FEED_LATEST"), bundled("comments"),
             _("Comment feed"), badge_("Comments"))):
        if feed:
            path = f"{badges}/{name}.svg"
            feeds.append(FeedView(name, label, absolute(settings, str(feed)), icon.inline(),
                                  path, absolute(settings, path), message, icon))
    return feeds


def build_social(settings: dict[str, Any], now: datetime | None = None,
                 lang: str | None = None) -> Social:
    """The channels and feeds as pages in ``lang`` show them (default: the site's
    language; ``Social.in_language`` gives the others)."""
    settings = with_defaults(settings)
    channels = parse_channels(settings)
    page = str(settings.get("SOCIAL_CHANNELS_PAGE_URL") or "")
    page_on = bool(page and settings.get("SOCIAL_CHANNELS_PAGE_SAVE_AS"))
    lang = lang or Settings.of(settings).lang
    now = now or datetime.now(UTC)  # one moment for every language's counts
    return Social(
        channels=channel_views(channels, settings, now, lang),
        feeds=feed_views(settings, lang),
        page_url=absolute(settings, page) if page_on else "",
        page_path=page.lstrip("/") if page_on else "",
        lang=lang,
        settings=settings,
        now=now,
    )
