"""The Pelican plugin: Pelican's signals wired to Replik's build.

The generator side (threads and counts onto articles and pages, the generator that
finishes the comment feeds) is in generators.py; the writer side (comment feeds,
gone.map, atomic files) in writers.py.
"""

from __future__ import annotations

import logging
from typing import Any

from pelican import signals

from . import generators, i18n, writers
from .settings import Settings, SettingsError

log = logging.getLogger(__name__)


def initialized(pelican: Any) -> None:
    # Checks the settings and gives the templates the defaults. Pelican would log a
    # mistake in them with a traceback: say it in one line and stop instead.
    try:
        pelican.settings.update(Settings.of(pelican.settings).pelican)
    except SettingsError as exc:
        log.critical("%s", exc)
        raise SystemExit(1) from None


def get_generators(_pelican: Any) -> type:
    return generators.CommentFeedGenerator


def register() -> None:
    signals.initialized.connect(initialized)
    signals.generator_init.connect(i18n.install_translations)
    signals.article_generator_finalized.connect(generators.attach_comments)
    signals.page_generator_finalized.connect(generators.attach_page_comments)
    signals.get_generators.connect(get_generators)
    signals.content_written.connect(writers.page_written)
    signals.feed_generated.connect(writers.post_feed_guids)
    signals.article_writer_finalized.connect(writers.write_gone_map)
