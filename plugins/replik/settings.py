"""The one settings object: every ``REPLIK_*`` setting with its type and default,
for the build, the server and the CLI alike; checked once, when read (an unknown
name or a wrong type is a ``SettingsError``). Secrets come from the environment."""

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A setting replik does not know, or one of the wrong type."""


# Pelican's own settings that replik reads: field -> Pelican's name. Every other
# field is ``REPLIK_`` + its name in capitals.
PELICAN_NAMES = {"lang": "DEFAULT_LANG", "siteurl": "SITEURL", "feed_domain": "FEED_DOMAIN",
                 "timezone": "TIMEZONE", "author": "AUTHOR", "sitename": "SITENAME",
                 "path": "PATH", "output_path": "OUTPUT_PATH", "theme": "THEME"}
# Read from the environment only: a value in the settings file would be ignored.
ENVIRONMENT_ONLY = {"REPLIK_SECRET_KEY", "REPLIK_DATABASE_URL", *(f"REPLIK_SMTP_{key}" for key in (
    "HOST", "PORT", "USER", "PASSWORD", "FROM", "SECURITY"))}


@dataclass(frozen=True)
class Settings:
    # -- Pelican's settings (a missing or None value takes the default) --
    lang: str = "de"  # DEFAULT_LANG: the site's language
    siteurl: str = ""  # SITEURL
    feed_domain: str = ""  # FEED_DOMAIN
    timezone: str = "UTC"  # TIMEZONE
    author: str = ""  # AUTHOR: signs staff replies of moderators without a name
    sitename: str = ""  # SITENAME
    path: str = "content"  # PATH: the content folder
    output_path: str = "output"  # OUTPUT_PATH
    theme: str = "theme"  # THEME
    # -- REPLIK_* --
    project_root: str = ""  # the project folder ("" = pelicanconf.py's, else PATH's parent)
    store: str = "comments"  # the comment store, relative to the project
    state: str = ""  # what must not be lost (sessions, queues): "" = state.sqlite3 in the store
    cache: str = ".replik-cache"  # derived caches, safe to delete ("" = no thread cache)
    intake_url: str = "/replik/comment"  # the path the comment form posts to
    preview_url: str = "/replik/preview"  # the form's preview
    pingback_url: str = "/replik/pingback"  # the XML-RPC pingback endpoint
    webmention_url: str = "/replik/webmention"  # the webmention endpoint
    trackback_url: str = "/replik/trackback"  # trackbacks, as …/<slug>
    moderate_url: str = "/moderate"  # the moderation desk
    subscribe_url: str = "/replik/subscribe"  # readers follow a discussion
    unsubscribe_url: str = "/replik/unsubscribe"  # and stop following it
    action_url: str = "/replik/action/"  # one-click links in moderator mail
    privacy_url: str = ""  # the form's privacy link ("" = SITEURL/datenschutz/)
    allowed_origins: tuple[str, ...] = ()  # origins besides SITEURL that may post the form
    babel_dates: bool = True  # post dates with Babel in the site's language ("5. März 2010")
    max_depth: int = 5  # threads nest this deep; deeper replies attach at the deepest level
    close_after_days: int = 0  # close comments on posts older than this (0 = never)
    required_fields: tuple[str, ...] = ("author", "body")  # what a reader must fill in
    require_consent: bool = True  # the form asks for consent to store the comment
    max_length: int = 10000  # longest comment, in characters
    max_name_length: int = 100  # longest name, in characters
    max_request_bytes: int = 262144  # largest request body the server reads
    hold_links: int = 2  # hold comments with this many links (0 = never)
    moderation_keys: tuple[str, ...] = ()  # words that send a comment to the queue
    disallowed_keys: tuple[str, ...] = ()  # words that make a comment spam
    auto_approve_known: bool = False  # approve authors with an approved comment
    flood_per_minute: int = 5  # comments per address and per email a minute (0 = no limit)
    akismet_client: Any = None  # Akismet's client class, or its dotted name (tests)
    akismet_timeout: float = 2.0  # seconds for an Akismet check
    feed_latest: str = "feeds/comments.atom.xml"  # the site's comment feed (Atom)
    feed_latest_rss: str = "feeds/comments.rss.xml"  # and as RSS
    feed_article: str = "feeds/comments/{slug}.atom.xml"  # an article's comment feed (Atom)
    feed_article_rss: str = "feeds/comments/{slug}.rss.xml"  # and as RSS
    feed_latest_count: int = 50  # entries in the site's comment feed
    feed_article_count: int = 100  # entries in an article's comment feeds (0 = all)
    answer_within: float = 24.0  # hours after which a reader comment counts as unanswered
    moderators: dict[str, str] = field(default_factory=dict)  # login -> env variable with the hash
    moderator_names: dict[str, str] = field(default_factory=dict)  # login -> name on staff replies
    staff_name: str = ""  # the name on staff replies of moderators without one ("" = AUTHOR)
    forgotten_name: str = ""  # replaces a forgotten person's name ("" = "Gelöschter Nutzer")
    desk_page_size: int = 25  # entries per page in the desk
    desk_idle_minutes: float = 30.0  # a desk session ends after this long without activity
    desk_session_hours: float = 12.0  # and this long after login
    login_max_failures: int = 5  # failed logins per address and account before a lock
    login_lock_minutes: float = 15.0  # how long the lock lasts
    rebuild: bool = True  # the desk rebuilds the site after decisions
    rebuild_debounce: float = 0.05  # seconds in which decisions make one rebuild
    publish_hook: str = ""  # shell command run after each desk rebuild (e.g. rsync)
    # True: `replik worker` runs rebuilds, webmention checks and mail, not the server's
    # threads (None: so when REPLIK_DATABASE_URL is set).
    worker: Any = None
    publish_timeout: float = 300.0  # seconds the publish hook may run
    content_poll: float = 2.0  # seconds between checks of the content folder for new posts
    trusted_proxies: int = 0  # proxies in front that set X-Forwarded-* (nginx: 1)
    hsts: str = "max-age=31536000"  # Strict-Transport-Security over https ("" = none)
    fetch_allow_private: tuple[str, ...] = ()  # hosts fetched despite private addresses
    fetch_timeout: float = 5.0  # seconds for an outbound request
    webmention_worker: bool = True  # the server verifies queued webmentions itself
    linkback_per_minute: int = 5  # linkbacks per source host a minute
    linkback_blocklist: tuple[str, ...] = ()  # hosts whose linkbacks are refused
    linkback_send_on_build: bool = False  # notify linked posts after each build
    linkback_send_ignore: tuple[str, ...] = ()  # hosts never notified
    notify_emails: tuple[str, ...] = ()  # moderators mailed about new entries
    webhook_url: str = ""  # gets the same notices as JSON (chat tools)
    smtp_timeout: float = 10.0  # seconds for the mail server
    link_ttl_days: float = 7.0  # one-click links in mails expire after this many days
    notify_readers: bool = True  # readers may subscribe to replies (double opt-in)
    notify_batch_minutes: float = 10.0  # at most one mail per subscriber and thread in this time
    notify_max_attempts: int = 8  # tries per mail before it is given up
    # -- Pelican's whole dict (with the REPLIK_* defaults), for Pelican itself --
    pelican: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "Settings":
        """Check ``raw`` (Pelican's settings, or a test's few) and build the object."""
        known = {setting_name(f.name): f for f in fields(cls) if f.name != "pelican"}
        for name in raw:
            if name.startswith("REPLIK_") and name not in known:
                raise SettingsError(_unknown(name, known))
        values = {}
        for name, spec in known.items():
            value = raw.get(name)
            if spec.name in PELICAN_NAMES:
                if value is not None:
                    values[spec.name] = str(value)
            elif name in raw:
                values[spec.name] = _checked(name, value, spec.type)
        return cls(**values, pelican={k: v for k, v in raw.items() if k != "replik_settings"})

    def __post_init__(self) -> None:
        # The dict holds every REPLIK_* value (the templates read them) and Pelican's own.
        named = {setting_name(k): v for k, v in vars(self).items() if k != "pelican"}
        pelican = {**{k: named[k] for k in PELICAN_NAMES.values()}, **self.pelican}
        object.__setattr__(self, "pelican", {**pelican, **{
            k: v for k, v in named.items() if k.startswith("REPLIK_")}})

    @classmethod
    def of(cls, raw: dict[str, Any]) -> "Settings":
        """The settings of Pelican's dict, checked once per build (the plugin's
        signals all get the same dict; the object is kept in it)."""
        found = raw.get("replik_settings")
        if not isinstance(found, Settings):
            found = raw["replik_settings"] = cls.from_mapping(raw)
        return found

    @property
    def desk_path(self) -> str:
        """REPLIK_MODERATE_URL as the desk's path; /moderate if it is empty or "/" (the
        desk never shadows the site's own pages)."""
        return "/" + (self.moderate_url.strip("/") or "moderate")

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some settings changed, by their names (``SITEURL=…``)."""
        return Settings.from_mapping({**self.pelican, **changes})


def setting_name(field_name: str) -> str:
    return PELICAN_NAMES.get(field_name) or "REPLIK_" + field_name.upper()


def _unknown(name: str, known: Mapping[str, Any]) -> str:
    if name in ENVIRONMENT_ONLY:
        return f"{name} is read from the environment only: export it instead of setting it"
    close = difflib.get_close_matches(name, [k for k in known if k.startswith("REPLIK_")], 1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown setting {name}{hint} (docs/settings.md lists them all)"


def _checked(name: str, value: Any, kind: Any) -> Any:
    """``value`` as ``kind`` (ints are fine for floats, a comma list for a list)."""
    if kind is Any:
        return value
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind in (int, str, bool) and isinstance(value, kind) and (
            kind is bool or not isinstance(value, bool)):
        return value
    if kind == tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, list | tuple | set) and all(isinstance(i, str) for i in items):
            return tuple(i.strip() for i in items if i.strip())
    if kind == dict[str, str] and isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return dict(value)
    wanted = {int: "an integer", float: "a number", bool: "True or False", str: "a string",
              tuple[str, ...]: "a list of strings", dict[str, str]: "a dict of strings"}[kind]
    raise SettingsError(f"{name} must be {wanted}, not {value!r} ({type(value).__name__})")


def load_settings(
    path: str | os.PathLike[str] = "pelicanconf.py", override: dict[str, Any] | None = None
) -> Settings:
    """Read a Pelican configuration file the way Pelican does, checked."""
    from pelican.settings import read_settings

    conf = Path(path).resolve()
    if not conf.is_file():
        raise FileNotFoundError(
            f"{conf} not found: run this from the blog's folder or pass --settings"
        )
    # Pelican resolves relative paths (PATH, OUTPUT_PATH, THEME) against the file.
    settings = read_settings(str(conf), override=override)
    settings["REPLIK_PROJECT_ROOT"] = str(conf.parent)
    return Settings.from_mapping(settings)


def project_path(settings: Settings, value: str) -> Path:
    """Resolve a project-relative path from settings (absolute paths stay)."""
    root = Path(settings.project_root or Path(settings.path).parent)
    candidate = Path(value)
    return candidate if candidate.is_absolute() else root / candidate


def store_path(settings: Settings) -> Path:
    return project_path(settings, settings.store)


def cache_path(settings: Settings) -> Path:
    return project_path(settings, settings.cache)


def secret(name: str, default: str = "") -> str:
    """Secrets come only from the environment."""
    return os.environ.get(name, default)
