"""Server pages in the site's own look: the theme's templates, Pelican's settings.

The server renders a few pages itself (the comment form after an error, the
thank-you page, link confirmations). They extend the theme's ``base.html`` and
see the same globals as the static pages (``SITEURL``, ``SITENAME`` …), the same
filters and the same translations, so they read like the rest of the site.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    TemplateNotFound,
    select_autoescape,
)
from markupsafe import Markup

from .. import i18n
from ..render import format_datetime_local, render_body
from ..settings import Settings
from ..store import Entry
from ..thread import build_thread

log = logging.getLogger(__name__)

# Keyed by id(); the settings dict is kept so its id cannot be reused by another.
_envs: dict[int, tuple[Settings, Environment]] = {}
_lock = threading.Lock()


def _loader(settings: Settings) -> ChoiceLoader:
    """The same lookup as Pelican's: overrides, the theme, then its "simple" theme;
    last, the server's own pages (``replik/templates/site``: a theme may override them)."""
    import pelican

    theme = FileSystemLoader(str(Path(settings.theme) / "templates"))
    simple_path = Path(pelican.__file__).parent / "themes" / "simple" / "templates"
    simple = FileSystemLoader(str(simple_path))
    overrides = FileSystemLoader([str(p) for p in
                                  settings.pelican.get("THEME_TEMPLATES_OVERRIDES") or []])
    own = FileSystemLoader(str(Path(__file__).parents[1] / "templates" / "site"))
    return ChoiceLoader([
        overrides, theme, simple, PrefixLoader({"!simple": simple, "!theme": theme}), own,
    ])


def environment(settings: Settings) -> Environment:
    """One Jinja environment per settings dict, built like Pelican builds its own."""
    key = id(settings)
    with _lock:
        cached = _envs.get(key)
        if cached is not None and cached[0] is settings:
            return cached[1]
        # The site's options, but the theme's look-up and our escaping.
        options = {key: value for key, value in
                   (settings.pelican.get("JINJA_ENVIRONMENT") or {}).items()
                   if key not in ("loader", "autoescape")}
        env = Environment(loader=_loader(settings),
                          autoescape=select_autoescape(default=True, default_for_string=True),
                          **options)
        env.globals.update({k: v for k, v in settings.pelican.items() if k.isupper()})
        env.globals.update(settings.pelican.get("JINJA_GLOBALS") or {})
        env.filters.update(settings.pelican.get("JINJA_FILTERS") or {})
        env.tests.update(settings.pelican.get("JINJA_TESTS") or {})
        env.filters.setdefault("render_comment", render_body)
        i18n.install_into(env, settings)
        _envs[key] = (settings, env)
        return env


def render(settings: Settings, template: str, **context: Any) -> str:
    """Render one of the theme's templates with the site's globals."""
    env = environment(settings)
    context.setdefault("page_name", template.rsplit(".", 1)[0])
    context.setdefault("output_file", "")
    return env.get_template(template).render(**context)


def not_found_page(settings: Settings) -> str | None:
    """The site's "not found" page: the built ``404.html`` (what the web server shows
    for unknown addresses), else the theme's ``404.html`` rendered now (before the
    first build); None when the theme has none."""
    built = Path(settings.output_path) / "404.html"
    try:
        return built.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    try:
        return render(settings, "404.html", page_name="404")
    except TemplateNotFound:
        return None
    except Exception:  # noqa: BLE001 - an error page must not fail: the plain one then
        log.exception("replik: cannot render the theme's 404.html")
        return None


def preview_comment(settings: Settings, entry: Entry, lang: str | None = None) -> Markup:
    """A whole comment through the theme's own ``partials/comment.html``, as on the page:
    in ``lang``, the post's language (default: the site's)."""
    locale = lang or settings.lang
    _top, flat = build_thread([entry], settings.max_depth, locale, settings.timezone,
                              origin="preview")
    node = flat[0]
    # No reply link inside a preview: the article is shown as closed to the partial.
    article = SimpleNamespace(slug=entry.article, comments_open=False, lang=locale)
    html = environment(settings).get_template("partials/comment.html").render(
        node=node, article=article
    )
    return Markup(html)


def local_date(settings: Settings, when: datetime | str) -> str:
    """In the site's language and time zone; text is ISO (as the audit log has it)."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    return format_datetime_local(when, settings.lang, settings.timezone)
