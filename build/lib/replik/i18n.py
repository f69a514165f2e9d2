"""Gettext catalogs for the theme, the feeds, the server and the CLI.

Catalogs are ``translations/<lang>/LC_MESSAGES/*.po`` files (one per part of the
project: ``theme.po``, ``server.po`` …), first the package's own (beside this
file), then the theme's, which win where both translate a string. They are read
with Babel at start (no compiled .mo files to keep in sync). The site's
language is ``DEFAULT_LANG``; a missing catalog falls back to the source strings
(English).
"""

from __future__ import annotations

import gettext
import io
import logging
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import pass_context
from jinja2.utils import missing
from markupsafe import Markup

from .fragments import fragment_cache

log = logging.getLogger(__name__)


def translations_dir(settings: dict[str, Any]) -> str:
    # Plain strings: a build asks for every article's feed (a Path costs 9 µs here).
    return os.path.join(str(settings.get("THEME") or "theme"), "translations")


PACKAGE_TRANSLATIONS = Path(__file__).parent / "translations"


@lru_cache(maxsize=32)
def load_translations(directory: str, lang: str) -> gettext.NullTranslations:
    po_files = [
        po
        for base in (PACKAGE_TRANSLATIONS, Path(directory))
        for po in sorted((base / lang / "LC_MESSAGES").glob("*.po"))
    ]
    if not po_files:
        return gettext.NullTranslations()
    merged = None
    for po_file in po_files:
        with open(po_file, "rb") as handle:
            catalog = read_po(handle, locale=lang)
        if merged is None:
            merged = catalog
            continue
        for message in catalog:
            if message.id and message.string:
                merged[message.id] = message
    buffer = io.BytesIO()
    write_mo(buffer, merged)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def translations_for(settings: dict[str, Any], lang: str | None = None) -> gettext.NullTranslations:
    lang = lang or str(settings.get("DEFAULT_LANG") or "de")
    # abspath, not resolve(): the intake asks once per request, and resolve() makes a
    # system call per path component. The path only keys the cache.
    return load_translations(os.path.abspath(translations_dir(settings)), lang)


def gettext_for(settings: dict[str, Any], lang: str | None = None) -> Callable[[str], str]:
    return translations_for(settings, lang).gettext


def install_into(env: Any, settings: dict[str, Any]) -> None:
    """Give a Jinja environment ``_()``, ``gettext``, ``ngettext`` and ``{% trans %}``,
    in the language of the page being rendered (see ``page_language``), and
    ``cached_fragment`` (see fragments.py), which keeps a part of a page per language."""
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(translations_for(settings), newstyle=True)
    gettext_, ngettext_ = page_gettext(settings)
    env.globals.update({"_": gettext_, "gettext": gettext_, "ngettext": ngettext_})
    default = str(settings.get("DEFAULT_LANG") or "de")
    env.globals["cached_fragment"] = fragment_cache(
        lambda context: page_language(context, default))


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


#: Formatted results with variables kept per environment (a big build has ~10,000).
_KEPT_RESULTS = 50_000
# Values whose %-formatting (and escaping) depends on their value alone. Markup is a
# str that compares equal to the str it holds but is not escaped: its type decides.
_PLAIN_TYPES = (str, int)


def _result_key(call: tuple[Any, ...], variables: dict[str, Any]) -> tuple[Any, ...] | None:
    """What a call's formatted result depends on, or None when that is not just
    values (a Markup, an object with its own __str__ or __html__)."""
    for value in variables.values():
        if type(value) not in _PLAIN_TYPES:
            return None
    return (call, *variables.items())


def page_gettext(settings: dict[str, Any]) -> tuple[Callable[..., str], Callable[..., str]]:
    """``gettext`` and ``ngettext`` for templates: exactly Jinja's newstyle ones
    (escaping, always a format string), in the page's language, each message looked
    up once per language (a build of a big blog calls them about 100,000 times).

    Most calls have no variables: their whole result (translated, made Markup under
    autoescaping, ``%%`` undone) is kept per language, message and escaping, so such
    a call costs finding the page's language and one dict lookup. The others repeat
    too (a post's title in every listing, "3 Kommentare"): their result is kept by
    the variables' values as well, when those are plain strings and numbers, whose
    formatting depends on nothing else (up to ``_KEPT_RESULTS`` of them).
    """
    default = str(settings.get("DEFAULT_LANG") or "de")
    singular: dict[tuple[str, str], str] = {}
    finished: dict[tuple[str, str, bool], str] = {}
    plural: dict[tuple[str, str, str, int, bool], str] = {}
    # Results with variables (see _result_key).
    formatted: dict[tuple[Any, ...], str] = {}

    def keep(key: tuple[Any, ...], result: str) -> None:
        if len(formatted) >= _KEPT_RESULTS:  # a server runs for weeks: stay bounded
            formatted.clear()
        formatted[key] = result

    def translated(lang: str, string: str) -> str:
        rv = singular.get((lang, string))
        if rv is None:
            rv = singular[lang, string] = translations_for(settings, lang).gettext(string)
        return rv

    @pass_context
    def gettext_(__context: Any, __string: str, **variables: Any) -> str:
        lang = page_language(__context, default)
        autoescape = bool(__context.eval_ctx.autoescape)
        if not variables:
            key = (lang, __string, autoescape)
            rv = finished.get(key)
            if rv is None:
                rv = translated(lang, __string)
                rv = finished[key] = (Markup(rv) if autoescape else rv) % variables
            return rv
        key = _result_key((lang, __string, autoescape), variables)
        rv = formatted.get(key) if key is not None else None
        if rv is None:
            rv = translated(lang, __string)
            if autoescape:
                rv = Markup(rv)
            rv = rv % variables
            if key is not None:
                keep(key, rv)
        return rv

    @pass_context
    def ngettext_(__context: Any, __singular: str, __plural: str, __num: int,
                  **variables: Any) -> str:
        variables.setdefault("num", __num)
        lang = page_language(__context, default)
        key = (lang, __singular, __plural, __num, bool(__context.eval_ctx.autoescape))
        result_key = _result_key(key, variables)
        done = formatted.get(result_key) if result_key is not None else None
        if done is not None:
            return done
        rv = plural.get(key)
        if rv is None:
            rv = translations_for(settings, lang).ngettext(__singular, __plural, __num)
            rv = plural[key] = Markup(rv) if key[4] else rv
        rv = rv % variables
        if result_key is not None:
            keep(result_key, rv)
        return rv

    return gettext_, ngettext_


def install_translations(generator: Any) -> None:
    """Pelican's generator_init receiver."""
    env = getattr(generator, "env", None)
    if env is not None:
        install_into(env, generator.settings)
