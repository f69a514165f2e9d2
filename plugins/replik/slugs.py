"""Slugs that spell German out: "Öffnungszeiten ärgern" -> "oeffnungszeiten-aergern".

Pelican's slugify makes a title ASCII with unidecode *before* its
``SLUG_REGEX_SUBSTITUTIONS`` run, and unidecode drops an umlaut's dots
("offnungszeiten-argern"). With ``SLUGIFY_USE_UNICODE`` the substitutions see the
letters themselves, so they can write them the German way: ä→ae, ö→oe, ü→ue,
ß→ss (upper case too: Pelican matches them ignoring case), then every other
accented Latin letter as unidecode writes it (é→e, ø→o), then Pelican's own rules.

pelicanconf.py takes both settings from here, so every slug Pelican makes (posts
and pages without a ``Slug:`` line, categories, tags, authors) follows them, in the
build as in the server and the command line, and the WordPress importer slugs
titles with the same settings. A ``Slug:`` written in a post is used as it is.
"""

from __future__ import annotations

import unicodedata

from .settings import Settings

GERMAN = [("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")]

#: Pelican's own rules (pelican.settings.DEFAULT_CONFIG), after the letters.
PELICAN_RULES = [
    (r"[^\w\s-]", ""),  # remove non-alphabetical/whitespace/'-' chars
    (r"(?u)\A\s*", ""),  # strip leading whitespace
    (r"(?u)\s*\Z", ""),  # strip trailing whitespace
    (r"[-\s]+", "-"),  # reduce multiple whitespace or '-' to single '-'
]


def latin_letters() -> list[tuple[str, str]]:
    """The accented letters of Latin-1 and Latin Extended-A/B, one character class per
    ASCII spelling (unidecode's): few substitutions, each run once per slug."""
    from unidecode import unidecode

    german = {letter for letter, _ in GERMAN}
    spelled: dict[str, list[str]] = {}
    for code in range(0xC0, 0x250):
        letter = chr(code)
        # Lower case only: the substitutions ignore case.
        if not letter.isalpha() or letter.lower() != letter or letter in german:
            continue
        if unicodedata.normalize("NFKC", letter) != letter:
            continue  # never in a normalized title
        ascii_ = unidecode(letter).lower()
        if ascii_.isascii() and ascii_.isalpha():
            spelled.setdefault(ascii_, []).append(letter)
    return [(f"[{''.join(letters)}]", ascii_) for ascii_, letters in sorted(spelled.items())]


SLUGIFY_USE_UNICODE = True
SLUG_REGEX_SUBSTITUTIONS = GERMAN + latin_letters() + PELICAN_RULES


def slugify(value: str, settings: Settings) -> str:
    """``value`` as Pelican slugs a title with ``settings``."""
    from pelican.utils import slugify as pelican_slugify

    return pelican_slugify(
        value, regex_subs=settings.pelican.get("SLUG_REGEX_SUBSTITUTIONS", PELICAN_RULES),
        preserve_case=bool(settings.pelican.get("SLUGIFY_PRESERVE_CASE", False)),
        use_unicode=bool(settings.pelican.get("SLUGIFY_USE_UNICODE", False)))
