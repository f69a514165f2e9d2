"""The Pelican plugin: validate the channels, give templates ``social``, write badges and page."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pelican import signals
from pelican.generators import Generator

from replik.files import write_atomic
from replik.i18n import install_into, translations_for
from replik.settings import Settings

from .channels import parse_channels, with_defaults
from .context import Social, build_social
from .feeds import add_channels_to_feed, validate_footer_setting
from .svgbadge import render_badge

log = logging.getLogger(__name__)


def initialized(pelican: Any) -> None:
    """Fill in the defaults and fail the build early on a bad channel."""
    pelican.settings.update(with_defaults(pelican.settings))
    parse_channels(pelican.settings)
    validate_footer_setting(pelican.settings)


def add_context(generator: Any) -> None:
    """generator_init: every generator shares one context dict; fill it once."""
    install_into(generator.env, Settings.of(generator.settings))
    if not isinstance(generator.context.get("social"), Social):
        generator.context["social"] = build_social(generator.settings)


class SocialGenerator(Generator):
    """Writes badges/<name>.svg for every channel and feed, and the channels page (the
    context's ``social``: add_context, on every generator's generator_init)."""

    def generate_output(self, writer: Any) -> None:
        settings = with_defaults(self.settings)
        social: Social = self.context["social"]
        output = Path(self.output_path)
        for channel in social.channels:
            write_atomic(output / channel.badge_path, durable=False, data=render_badge(
                channel.label, channel.badge_message, channel.raw_icon, channel.raw_icon.color))
        for feed in social.feeds:
            write_atomic(output / feed.badge_path, durable=False, data=render_badge(
                "Feed", feed.badge_message, feed.raw_icon, "#C2410C"))
        save_as = str(settings.get("SOCIAL_CHANNELS_PAGE_SAVE_AS") or "")
        if not (save_as and social.page_url and (social.channels or social.feeds)):
            return
        try:
            template = self.get_template("social/channels")
        except Exception as exc:  # PelicanTemplateNotFound: a theme without our templates
            log.warning("social_badges: no channels page (%s)", exc)
            return
        _ = translations_for(Settings.of(settings)).gettext
        writer.write_file(
            save_as, template, self.context,
            relative_urls=bool(settings.get("RELATIVE_URLS")),
            url=str(settings.get("SOCIAL_CHANNELS_PAGE_URL")),
            page_name=save_as.removesuffix(".html"),
            social_page_title=_("Our channels"),
        )


def get_generators(_pelican: Any) -> type:
    return SocialGenerator


def register() -> None:
    signals.initialized.connect(initialized)
    signals.generator_init.connect(add_context)
    signals.get_generators.connect(get_generators)
    signals.feed_generated.connect(add_channels_to_feed)
