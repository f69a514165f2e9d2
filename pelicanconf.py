"""The one configuration file: site, theme, comments and social channels.

Secrets are never set here: they come from the environment (see README).
"""

AUTHOR = "Redaktion"
SITENAME = "Dialogfeld"
SITESUBTITLE = "Ein Blog über Unternehmen, ihre Kundschaft und die sozialen Medien"
# Local address for `make serve`; publishconf.py sets the real one.
SITEURL = "http://127.0.0.1:8000"
RELATIVE_URLS = False

PATH = "content"
OUTPUT_PATH = "output"
THEME = "theme"
# A build reads each template once: no file-date check on every include (a page
# includes several partials). `make devserver` starts each rebuild afresh anyway.
JINJA_ENVIRONMENT = {"trim_blocks": True, "lstrip_blocks": True, "extensions": [],
                     "auto_reload": False}
TIMEZONE = "Europe/Berlin"
DEFAULT_LANG = "de"
DEFAULT_DATE_FORMAT = "%d.%m.%Y"
DEFAULT_PAGINATION = 10
SUMMARY_MAX_LENGTH = 50

# Slugs spell umlauts out: "Öffnungszeiten ärgern" -> "oeffnungszeiten-aergern" (ä→ae,
# ö→oe, ü→ue, ß→ss; other accents dropped: é→e). A `Slug:` in a post is kept as written.
from replik.slugs import SLUG_REGEX_SUBSTITUTIONS, SLUGIFY_USE_UNICODE  # noqa: E402, F401

STATIC_PATHS = ["images"]
ARTICLE_URL = "{date:%Y}/{slug}/"
ARTICLE_SAVE_AS = "{date:%Y}/{slug}/index.html"
PAGE_URL = "{slug}/"
PAGE_SAVE_AS = "{slug}/index.html"
# Posts and pages in the second language (`Lang: en`) live under /en/; their pages,
# discussion and comment dates are in English, listings in the site's language.
ARTICLE_LANG_URL = "{lang}/{date:%Y}/{slug}/"
ARTICLE_LANG_SAVE_AS = "{lang}/{date:%Y}/{slug}/index.html"
PAGE_LANG_URL = "{lang}/{slug}/"
PAGE_LANG_SAVE_AS = "{lang}/{slug}/index.html"
# Pelican's pages, plus the theme's "not found" page as 404.html (for the web server's
# error_page and `replik serve`; docs/theme.md).
DIRECT_TEMPLATES = ["index", "tags", "categories", "authors", "archives", "404"]

# Post feeds (Atom and RSS), all posts and per category.
FEED_DOMAIN = SITEURL
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
CATEGORY_FEED_ATOM = "feeds/category/{slug}.atom.xml"
CATEGORY_FEED_RSS = "feeds/category/{slug}.rss.xml"
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
TRANSLATION_FEED_ATOM = None
TRANSLATION_FEED_RSS = None

PLUGIN_PATHS = ["plugins"]
PLUGINS = ["replik", "social_badges"]

# --- Replik: comments --------------------------------------------------------
REPLIK_STORE = "comments"
REPLIK_MAX_DEPTH = 5
REPLIK_CLOSE_AFTER_DAYS = 0  # 0 = comments never close by age
REPLIK_HOLD_LINKS = 2
REPLIK_MODERATION_KEYS: list[str] = []
REPLIK_DISALLOWED_KEYS: list[str] = []
REPLIK_AUTO_APPROVE_KNOWN = False
REPLIK_ANSWER_WITHIN = 24

# --- The company's social channels ------------------------------------------
SOCIAL_CHANNELS: list[dict] = [
    # network, then handle or url; optional: label, cta, name, icon, color,
    # followers + followers_date. Counts: data/social_counts.json (`replik social`).
    {"network": "mastodon", "handle": "@dialogfeld@social.example",
     "cta": "Folgen Sie uns auf Mastodon"},
    {"network": "bluesky", "handle": "dialogfeld.example"},
    {"network": "linkedin", "handle": "company/dialogfeld"},
    {"network": "youtube", "handle": "@dialogfeld"},
    {"network": "rss", "label": "RSS-Feed"},
    {"network": "newsletter", "url": "https://newsletter.example/dialogfeld",
     "cta": "Jeden Freitag die besten Dialoge"},
]
