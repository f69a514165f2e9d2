"""Gettext catalogs for the theme, the feeds, the server and the CLI.

Catalogs are ``translations/<lang>/LC_MESSAGES/*.po`` files (one per part of the
project: ``theme.po``, ``server.po``, ``desk.po`` …), first the package's own
(beside this file), then the theme's, which win where both translate a string (a
theme may reword the package's strings). They are read with Babel at start (no
compiled .mo files to keep in sync). The site's language is ``DEFAULT_LANG``; a
missing catalog falls back to the source strings (English).

The parts share one lookup, so one part's catalog must never reword another's: a
short word means different things in different places (the desk's "comment on an
article" is "zu", a post's "on 7 October" is "am"). Such a string carries a context
(``msgctxt`` in the catalog, ``pgettext("post date", "on")`` in a template), and
two catalogs of one folder that translate the same string differently are reported
(see ``catalog_conflicts``; tests/test_page_language.py keeps the shipped ones free
of them); the first one read (by file name) keeps its translation.
"""

from __future__ import annotations

import gettext
import io
import logging
import os
from collections.abc import Callable
from datetime import datetime
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import pass_context
from jinja2.utils import missing

from .render import as_aware, format_date_local
from .settings import Settings

log = logging.getLogger(__name__)


PACKAGE_TRANSLATIONS = Path(__file__).parent / "translations"


def _merge(po_files: list[Path], lang: str) -> tuple[Catalog | None, list[str]]:
    """The catalogs as one (the first file to translate a string keeps its
    translation), and each string two catalogs of one folder translate differently."""
    merged: Catalog | None = None
    origin: dict[tuple[Any, str | None], Path] = {}
    conflicts: list[str] = []
    for po_file in po_files:
        with open(po_file, "rb") as handle:
            catalog = read_po(handle, locale=lang)
        if merged is None:
            merged = catalog
            origin.update(((m.id, m.context), po_file) for m in catalog if m.id)
            continue
        for message in catalog:
            if not (message.id and message.string):
                continue
            key = (message.id, message.context)
            current = merged.get(message.id, context=message.context)
            if current is not None and current.string:
                if current.string != message.string and origin[key].parent == po_file.parent:
                    where = f" (msgctxt {message.context!r})" if message.context else ""
                    conflicts.append(
                        f"{po_file.parent}: {po_file.name} translates {message.id!r}{where} as"
                        f" {message.string!r}, {origin[key].name} as {current.string!r}:"
                        f" give one of them a msgctxt (pgettext)")
                continue
            if current is not None:  # there, but untranslated
                merged.delete(message.id, context=message.context)
            merged[message.id] = message
            origin[key] = po_file
    return merged, conflicts


def _folder_catalogs(base: Path, lang: str) -> list[Path]:
    return sorted((base / lang / "LC_MESSAGES").glob("*.po"))


def catalog_conflicts(directory: str, lang: str) -> list[str]:
    """Strings two catalogs of the package's or of the theme's translations folder
    translate differently, described."""
    return [conflict for base in (PACKAGE_TRANSLATIONS, Path(directory))
            for conflict in _merge(_folder_catalogs(base, lang), lang)[1]]


@lru_cache(maxsize=32)
def load_translations(directory: str, lang: str) -> gettext.NullTranslations:
    # The theme's catalogs first: they reword the package's strings where both have one.
    merged, conflicts = _merge(_folder_catalogs(Path(directory), lang)
                               + _folder_catalogs(PACKAGE_TRANSLATIONS, lang), lang)
    for conflict in conflicts:
        log.warning("replik: translations in %s", conflict)
    if merged is None:
        return gettext.NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, merged)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def translations_for(settings: Settings, lang: str | None = None) -> gettext.NullTranslations:
    lang = lang or settings.lang
    # Plain strings (a build asks for every article's feed: a Path costs 9 µs here), and
    # abspath, not resolve(): the intake asks once per request, and resolve() makes a
    # system call per path component. The path only keys the cache.
    return load_translations(os.path.abspath(os.path.join(settings.theme, "translations")),
                             lang)


def gettext_for(settings: Settings, lang: str | None = None) -> Callable[[str], str]:
    return translations_for(settings, lang).gettext


def install_into(env: Any, settings: Settings) -> None:
    """Give a Jinja environment Jinja's newstyle ``_()``, ``gettext``, ``ngettext``,
    ``pgettext``, ``npgettext`` and ``{% trans %}``, in the language of the page being
    rendered (see ``page_language``); ``page_lang()`` and ``page_date(when)``, that
    language and a date in it."""
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
    default = settings.lang
    catalog_of = cache(partial(translations_for, settings))  # by language, looked up once

    def catalog(context: Any) -> gettext.NullTranslations:
        return catalog_of(page_language(context, default))

    # Jinja passes the context on to a pass_context callable, then escapes and formats.
    env.install_gettext_callables(
        pass_context(lambda c, s: catalog(c).gettext(s)),
        pass_context(lambda c, s, p, n: catalog(c).ngettext(s, p, n)), newstyle=True,
        pgettext=pass_context(lambda c, x, s: catalog(c).pgettext(x, s)),
        npgettext=pass_context(lambda c, x, s, p, n: catalog(c).npgettext(x, s, p, n)))
    env.globals["_"] = env.globals["gettext"]

    @pass_context
    def page_lang(context: Any) -> str:
        """The page's language (for ``lang`` attributes and per-language data)."""
        return page_language(context, default)

    @pass_context
    def page_date(context: Any, when: datetime | None) -> str:
        """A date as the page's language writes it ("7. Oktober 2026"): on a listing
        in the site's language, an English post's date too."""
        if not when:
            return ""
        return format_date_local(as_aware(when), page_language(context, default), settings.timezone)

    env.globals["page_lang"] = page_lang
    env.globals["page_date"] = page_date


def page_language(context: Any, default: str) -> str:
    """The language a page is written in: its post's or page's ``Lang`` on an article
    or page of its own, the site's on listings (which show posts of every language)."""
    # resolve_or_missing is Context.get without the KeyError (articles_page is
    # missing on every article page, and this runs for each _() of the page).
    resolve = context.resolve_or_missing
    listing = resolve("articles_page")
    if listing is None or listing is missing:
        for name in ("article", "page"):
            lang = getattr(resolve(name), "lang", None)
            if isinstance(lang, str) and lang:
                return lang
    return default


def install_translations(generator: Any) -> None:
    """Pelican's generator_init receiver."""
    env = getattr(generator, "env", None)
    if env is not None:
        install_into(env, Settings.of(generator.settings))
