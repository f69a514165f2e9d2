"""Gettext catalogs for the theme, the feeds, the server and the CLI.

Catalogs are the theme's ``translations/<lang>/LC_MESSAGES/messages.po`` files,
read with Babel at start (no compiled .mo files to keep in sync). The site's
language is ``DEFAULT_LANG``; a missing catalog falls back to the source strings
(English).
"""

from __future__ import annotations

import gettext
import io
import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)


def translations_dir(settings: dict[str, Any]) -> Path:
    return Path(str(settings.get("THEME") or "theme")) / "translations"


@lru_cache(maxsize=32)
def load_translations(directory: str, lang: str) -> gettext.NullTranslations:
    po_file = Path(directory) / lang / "LC_MESSAGES" / "messages.po"
    if not po_file.is_file():
        return gettext.NullTranslations()
    with open(po_file, "rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def translations_for(settings: dict[str, Any], lang: str | None = None) -> gettext.NullTranslations:
    lang = lang or str(settings.get("DEFAULT_LANG") or "de")
    return load_translations(str(translations_dir(settings).resolve()), lang)


def gettext_for(settings: dict[str, Any], lang: str | None = None) -> Callable[[str], str]:
    return translations_for(settings, lang).gettext


def install_into(env: Any, settings: dict[str, Any]) -> None:
    """Give a Jinja environment ``_()``, ``gettext``, ``ngettext`` and ``{% trans %}``."""
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(translations_for(settings), newstyle=True)


def install_translations(generator: Any) -> None:
    """Pelican's generator_init receiver."""
    env = getattr(generator, "env", None)
    if env is not None:
        install_into(env, generator.settings)
