"""Generate a large German-ish blog with a filled comment store, for benchmarks.

The same seed always gives the same site: posts in Markdown with categories,
tags and dates under ``content/``, approved comments (threads, staff replies,
pingbacks and webmentions) written through :meth:`replik.store.Store.add` into
``comments/``, and two Pelican configuration files:

* ``pelicanconf.py`` — the project's own settings, theme and plugins, pointed
  at the generated content and store (what ``make html`` would run);
* ``plainconf.py`` — the same posts with plain Pelican: no plugins, no comments.

API (also used by the approve-to-live benchmark)::

    from benchmarks import sitegen
    site = sitegen.ensure_site(Path("bench-out/site"), posts=1000, comments=20000)
    site.root, site.content, site.conf, site.plain_conf, site.store   # paths / Store
    site.posts                      # list[PostInfo]: slug, title, date, category …
    site.comment_counts             # {slug: approved entries}
    entry = sitegen.new_comment(site, "some-slug", seed=1)   # an Entry, not stored
    site.store.add(entry, "pending")

``ensure_site`` reuses a complete site generated earlier with the same
parameters (writing 20,000 entries durably takes minutes); ``generate`` always
writes a fresh one.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from replik.store import Entry, Store, StoreError, new_id

#: Bump when the generated site changes, so cached sites are regenerated.
GENERATOR_VERSION = 2
DEFAULT_SEED = 20100305
PROJECT_ROOT = Path(__file__).resolve().parents[1]
_COMPLETE = "site.json"
SITE_TZ = ZoneInfo("Europe/Berlin")  # the project's TIMEZONE

# --- vocabulary ---------------------------------------------------------------
_NOUNS = (
    "Kundschaft Marke Plattform Beschwerde Antwort Kommentar Shitstorm Hotline Support "
    "Community Kampagne Strategie Zielgruppe Reichweite Netzwerk Unternehmen Kundendienst "
    "Erwartung Geduld Ehrlichkeit Entschuldigung Rückfrage Lieferung Rechnung Rückerstattung "
    "Bewertung Empfehlung Nachricht Zeitleiste Algorithmus Redaktion Agentur Pressestelle "
    "Mitarbeiterin Mitarbeiter Chefetage Vertrauen Stimmung Debatte Krise Gelegenheit "
    "Tonalität Sprache Gesprächskultur Öffentlichkeit Verantwortung Transparenz Feedback "
    "Fehler Lösung Ticket Warteschleife Chatbot Newsletter Influencerin Stellungnahme"
).split()
_ADJECTIVES = (
    "ehrlich schnell langsam freundlich knapp ausführlich persönlich höflich gereizt "
    "souverän hilflos öffentlich digital geduldig klug mutig vorsichtig offen "
    "überraschend typisch peinlich gelungen menschlich sachlich laut leise"
).split()
_VERBS = (
    "antwortet reagiert schweigt erklärt verspricht entschuldigt sich lernt zeigt "
    "übersieht beruhigt verärgert überzeugt moderiert löscht ignoriert fragt nach "
    "hört zu verweist weiter"
).split(" ")
_CONNECTORS = (
    "Allerdings", "Trotzdem", "Deshalb", "Außerdem", "Immerhin", "Ehrlich gesagt",
    "Am Ende", "Zum Glück", "Leider", "Natürlich", "Interessanterweise", "Vor allem",
)
_FIRST_NAMES = (
    "Anna Jonas Lea Lukas Mia Felix Emma Paul Sophie Leon Hannah Max Marie Ben Laura "
    "Tim Julia Finn Clara Noah Jana Elias Katrin Jürgen Sabine Thomas Ülkü Özlem Björn"
).split()
_LAST_NAMES = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch "
    "Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann"
).split()
_NICKNAMES = ("kundin42", "netzbürger", "der_andere_Tim", "kaffeetasse", "bahnfahrer", "mo")
_CATEGORIES = (
    "Kundendialog", "Krisenkommunikation", "Plattformen", "Fundstücke", "Handwerk",
    "Kommentar", "Interview", "Zahlen",
)
_TAGS = (
    "Mastodon Bluesky LinkedIn YouTube Instagram TikTok Facebook X Threads Support "
    "Beschwerde Lob Entschuldigung Humor Datenschutz Barrierefreiheit Chatbots Handel "
    "Bahn Telekom Versicherungen Banken Lebensmittel Mode Reisen Behörden Sport Musik "
    "Gaming Community-Management Moderation Tonalität Krise Studie Umfrage Tipps "
    "Fehlerkultur Transparenz Newsletter Blogs"
).split()
_AUTHORS = ("Redaktion", "Katrin Wolf", "Björn Hartmann", "Özlem Yılmaz")
_STAFF_NAMES = ("Redaktion", "Katrin Wolf (Redaktion)", "Team Dialogfeld")
_DOMAINS = (
    "example.org", "beispiel.de", "blog.example.net", "kundenstimme.example",
    "netzkultur.example.de", "medienwoche.example",
)


def _slugify(text: str) -> str:
    text = text.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    text = text.replace("ß", "ss")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


# --- text ----------------------------------------------------------------------
def _sentence(rng: random.Random, words: tuple[int, int] = (6, 16)) -> str:
    n = rng.randint(*words)
    parts: list[str] = []
    if rng.random() < 0.25:
        parts.append(rng.choice(_CONNECTORS))
    while len(parts) < n:
        kind = rng.random()
        if kind < 0.4:
            parts.append(("die " if rng.random() < 0.5 else "eine ") + rng.choice(_NOUNS))
        elif kind < 0.6:
            parts.append(rng.choice(_ADJECTIVES))
        elif kind < 0.8:
            parts.append(rng.choice(_VERBS))
        else:
            parts.append(rng.choice(("und", "aber", "weil", "wenn", "dass", "nicht", "oft",
                                     "mit", "für", "ohne", "bei", "nach", "sehr", "noch")))
    text = " ".join(parts)
    return text[0].upper() + text[1:] + rng.choice(".....!?")


def _url(rng: random.Random) -> str:
    path = "/".join(_slugify(rng.choice(_NOUNS)) for _ in range(rng.randint(1, 3)))
    return f"https://{rng.choice(_DOMAINS)}/{path}"


def _decorate(rng: random.Random, sentence: str, *, links: float, emphasis: float) -> str:
    words = sentence.split(" ")
    if len(words) > 4 and rng.random() < emphasis:
        i = rng.randrange(1, len(words) - 1)
        words[i] = ("*{}*" if rng.random() < 0.6 else "**{}**").format(words[i])
    if len(words) > 4 and rng.random() < links:
        i = rng.randrange(0, len(words) - 2)
        if rng.random() < 0.6:
            words[i] = f"[{words[i]} {words[i + 1]}]({_url(rng)})"
            del words[i + 1]
        else:
            words.insert(i + 1, _url(rng))
    return " ".join(words)


def _paragraph(rng: random.Random, sentences: int, *, links: float, emphasis: float) -> str:
    return " ".join(
        _decorate(rng, _sentence(rng), links=links, emphasis=emphasis) for _ in range(sentences)
    )


def _post_body(rng: random.Random) -> str:
    blocks: list[str] = []
    for section in range(rng.randint(2, 5)):
        if section:
            blocks.append("## " + _sentence(rng, (2, 5)).rstrip(".!?"))
        for _ in range(rng.randint(1, 4)):
            blocks.append(_paragraph(rng, rng.randint(3, 7), links=0.2, emphasis=0.2))
        roll = rng.random()
        if roll < 0.25:
            blocks.append("> " + _sentence(rng) + "\n>\n> — " + rng.choice(_FIRST_NAMES))
        elif roll < 0.45:
            items = ("* " + _sentence(rng, (3, 9)) for _ in range(rng.randint(3, 6)))
            blocks.append("\n".join(items))
    return "\n\n".join(blocks) + "\n"


def _comment_body(rng: random.Random, quote_from: str | None) -> str:
    # Comment lengths are skewed: many one-liners, a few long contributions.
    sentences = max(1, min(40, int(rng.lognormvariate(1.2, 0.8))))
    paragraphs: list[str] = []
    if quote_from and rng.random() < 0.5:
        first = quote_from.split("\n\n")[0]
        paragraphs.append("> " + first[:200])
    while sentences > 0:
        n = min(sentences, rng.randint(1, 5))
        sentences -= n
        text = _paragraph(rng, n, links=0.08, emphasis=0.15)
        if n > 1 and rng.random() < 0.15:
            text = text.replace(". ", ".\n", 1)  # a reader's own line break
        paragraphs.append(text)
    if rng.random() < 0.04:
        paragraphs.append("`" + rng.choice(("#hashtag", "@support", "404", "Fehler 0815")) + "`")
    return "\n\n".join(paragraphs)


def _person(rng: random.Random) -> tuple[str, str, str]:
    if rng.random() < 0.15:
        name = rng.choice(_NICKNAMES)
    else:
        name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
    url = f"https://{_slugify(name)}.{rng.choice(_DOMAINS)}/" if rng.random() < 0.25 else ""
    email = f"{_slugify(name).replace('-', '.')}@mail.example"
    return name, url, email


# --- the site ------------------------------------------------------------------
@dataclass
class PostInfo:
    slug: str
    title: str
    date: str  # ISO 8601 with time zone
    category: str
    tags: list[str]
    closed: bool = False


@dataclass
class Site:
    root: Path
    posts: list[PostInfo]
    comment_counts: dict[str, int]
    seed: int
    params: dict[str, int] = field(default_factory=dict)

    @property
    def content(self) -> Path:
        return self.root / "content"

    @property
    def conf(self) -> Path:
        return self.root / "pelicanconf.py"

    @property
    def plain_conf(self) -> Path:
        return self.root / "plainconf.py"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def store(self) -> Store:
        return Store(self.root / "comments")

    @property
    def total_comments(self) -> int:
        return sum(self.comment_counts.values())


def _post_dates(rng: random.Random, count: int) -> list[datetime]:
    start = datetime(2021, 1, 4, 7, 0, tzinfo=UTC)
    span = (datetime(2025, 12, 31, tzinfo=UTC) - start).total_seconds()
    return sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(count))


def _comment_shares(rng: random.Random, posts: int, comments: int) -> list[int]:
    # A few posts draw most of the discussion (heavy tail), many get a handful, some none;
    # the busiest post gets at most 2 % of all comments (a few hundred at full scale).
    weights = [rng.paretovariate(1.1) - 1 for _ in range(posts)]
    total = sum(weights) or 1.0
    cap = max(1, comments // 50, -(-comments // posts))
    shares = [min(cap, int(comments * w / total)) for w in weights]
    while sum(shares) < comments:
        i = rng.randrange(posts)
        if shares[i] < cap:
            shares[i] += 1
    return shares


def _write_confs(root: Path) -> None:
    common = f'''# Generated by benchmarks/sitegen.py: the project's settings on a generated site.
import runpy as _runpy

for _key, _value in _runpy.run_path({str(PROJECT_ROOT / "pelicanconf.py")!r}).items():
    if _key.isupper():
        globals()[_key] = _value

PATH = "content"
OUTPUT_PATH = "output"
THEME = {str(PROJECT_ROOT / "theme")!r}
PLUGIN_PATHS = [{str(PROJECT_ROOT / "plugins")!r}]
REPLIK_STORE = "comments"
REPLIK_CACHE = ".replik-cache"
CACHE_CONTENT = False
LOAD_CONTENT_CACHE = False
'''
    (root / "pelicanconf.py").write_text(common, encoding="utf-8")
    plain = common + '''
# Plain Pelican: no plugins, so no comments, comment feeds or badges.
PLUGINS = []
# The theme's {% trans %} and _() need gettext; without our plugin, identity.
def _gettext(message, **variables):
    return message % variables if variables else message

def _ngettext(singular, plural, n, **variables):
    return _gettext(singular if n == 1 else plural, **variables)

def _pgettext(context, message, **variables):
    return _gettext(message, **variables)

def _npgettext(context, singular, plural, n, **variables):
    return _ngettext(singular, plural, n, **variables)

# The page's language and a date in it (the plugin's use Babel and the page's Lang).
def _page_lang():
    return DEFAULT_LANG

def _page_date(when):
    return when.strftime("%d.%m.%Y") if when else ""

_jinja = dict(globals().get("JINJA_ENVIRONMENT") or {"trim_blocks": True, "lstrip_blocks": True})
_jinja["extensions"] = [*_jinja.get("extensions", []), "jinja2.ext.i18n"]
JINJA_ENVIRONMENT = _jinja
JINJA_GLOBALS = {**(globals().get("JINJA_GLOBALS") or {}),
                 "_": _gettext, "gettext": _gettext, "ngettext": _ngettext,
                 "pgettext": _pgettext, "npgettext": _npgettext, "page_lang": _page_lang,
                 "page_date": _page_date}
'''
    (root / "plainconf.py").write_text(plain, encoding="utf-8")


def _write_post(content: Path, info: PostInfo, author: str, summary: str, body: str) -> None:
    date = datetime.fromisoformat(info.date)
    head = [
        f"Title: {info.title}",
        f"Date: {date:%Y-%m-%d %H:%M}",
        f"Category: {info.category}",
        f"Tags: {', '.join(info.tags)}",
        f"Slug: {info.slug}",
        f"Author: {author}",
        f"Summary: {summary}",
    ]
    if info.closed:
        head.append("Comments: closed")
    folder = content / "posts" / f"{date:%Y}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{info.slug}.md").write_text("\n".join(head) + "\n\n" + body, encoding="utf-8")


def _write_pages(content: Path, rng: random.Random) -> None:
    pages = content / "pages"
    pages.mkdir(parents=True, exist_ok=True)
    for title in ("Über uns", "Impressum", "Datenschutz", "Kommentarregeln"):
        body = "\n\n".join(_paragraph(rng, 4, links=0.1, emphasis=0.1) for _ in range(3))
        (pages / f"{_slugify(title)}.md").write_text(
            f"Title: {title}\nSlug: {_slugify(title)}\n\n{body}\n", encoding="utf-8"
        )


def _comments_for(
    rng: random.Random, store: Store, info: PostInfo, count: int, used: set[str]
) -> None:
    when = datetime.fromisoformat(info.date)
    written: list[Entry] = []
    for _ in range(count):
        # Discussions are busy in the first days and trail off over months.
        when += timedelta(minutes=rng.expovariate(1 / 240) + 1)
        token = f"{rng.getrandbits(32):08x}"
        entry_id = new_id(when, token)
        while entry_id in used:
            token = f"{rng.getrandbits(32):08x}"
            entry_id = new_id(when, token)
        used.add(entry_id)
        roll = rng.random()
        readers = [e for e in written if not e.is_linkback]
        if roll < 0.03:
            source = _url(rng)
            entry = Entry(
                id=entry_id, article=info.slug, date=when,
                type=rng.choice(("pingback", "pingback", "webmention", "trackback")),
                author=source.split("/")[2], url=source, source=source,
                title=_sentence(rng, (3, 8)).rstrip(".!?"),
                body=_paragraph(rng, 2, links=0, emphasis=0),
                spam_verdict="ham", ip=f"192.0.2.{rng.randint(1, 254)}",
            )
        elif roll < 0.09 and readers:
            parent = rng.choice(readers[-5:])
            entry = Entry(
                id=entry_id, article=info.slug, date=when, author=rng.choice(_STAFF_NAMES),
                staff=True, reply_to=parent.id,
                body=_comment_body(rng, None), email="redaktion@dialogfeld.example",
            )
        else:
            name, url, email = _person(rng)
            parent_entry = None
            if readers and rng.random() < 0.35:
                # Mostly answers to recent comments, which makes chains (and deep threads).
                parent_entry = readers[-1] if rng.random() < 0.4 else rng.choice(readers)
            entry = Entry(
                id=entry_id, article=info.slug, date=when, author=name, url=url, email=email,
                reply_to=parent_entry.id if parent_entry else "",
                body=_comment_body(rng, parent_entry.body if parent_entry else None),
                ip=f"198.51.100.{rng.randint(1, 254)}", spam_verdict="ham",
                user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            )
        store.add(entry, "approved")
        written.append(entry)


def generate(
    root: Path, posts: int = 1000, comments: int = 20000, seed: int = DEFAULT_SEED
) -> Site:
    """Write a fresh site into ``root`` (emptied first) and return its description."""
    if comments and not posts:
        raise ValueError("comments need at least one post to go on")
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    (root / "content").mkdir(parents=True)
    rng = random.Random(seed)
    _write_confs(root)
    _write_pages(root / "content", rng)
    store = Store(root / "comments")
    store.ensure()
    infos: list[PostInfo] = []
    seen_slugs: set[str] = set()
    for number, date in enumerate(_post_dates(rng, posts), start=1):
        title = f"{rng.choice(_ADJECTIVES).capitalize()}: {_sentence(rng, (3, 7)).rstrip('.!?')}"
        slug = _slugify(title)[:60].strip("-") + f"-{number}"
        seen_slugs.add(slug)
        local = date.astimezone(SITE_TZ)
        info = PostInfo(
            slug=slug, title=title, date=local.isoformat(),
            category=rng.choice(_CATEGORIES),
            tags=sorted(set(rng.sample(_TAGS, rng.randint(1, 4)))),
            closed=rng.random() < 0.03,
        )
        _write_post(root / "content", info, rng.choice(_AUTHORS), _sentence(rng), _post_body(rng))
        infos.append(info)
    shares = _comment_shares(rng, posts, comments) if posts else []
    used: set[str] = set()
    counts: dict[str, int] = {}
    for info, share in zip(infos, shares, strict=True):
        _comments_for(rng, store, info, share, used)
        counts[info.slug] = share
    site = Site(root=root, posts=infos, comment_counts=counts, seed=seed,
                params={"posts": posts, "comments": comments, "version": GENERATOR_VERSION})
    # Written last: its presence marks a complete site (see ensure_site).
    (root / _COMPLETE).write_text(json.dumps({
        "seed": seed, "params": site.params, "posts": [asdict(p) for p in infos],
        "comment_counts": counts, "ids": sorted(used),
    }, ensure_ascii=False, indent=1), encoding="utf-8")
    return site


def load_site(root: Path) -> Site | None:
    """The site generated earlier in ``root``, or None if there is no complete one."""
    try:
        data = json.loads((Path(root) / _COMPLETE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Site(
        root=Path(root), posts=[PostInfo(**p) for p in data["posts"]],
        comment_counts=data["comment_counts"], seed=data["seed"], params=data["params"],
    )


def ensure_site(
    root: Path, posts: int = 1000, comments: int = 20000, seed: int = DEFAULT_SEED
) -> Site:
    """Reuse the site in ``root`` if it was generated with these parameters, else generate.

    Entries added since (e.g. by the approve benchmark) are deleted through the store;
    if a generated entry is missing or has changed state, the site is generated anew.
    """
    site = load_site(root)
    wanted = {"posts": posts, "comments": comments, "version": GENERATOR_VERSION}
    if site is not None and site.seed == seed and site.params == wanted and restore(site):
        _write_confs(Path(root))  # cheap, and follows moves of the project folder
        return site
    return generate(root, posts, comments, seed)


def restore(site: Site) -> bool:
    """Bring the store back to the generated entries; False if that cannot be done."""
    try:
        data = json.loads((site.root / _COMPLETE).read_text(encoding="utf-8"))
        expected = set(data["ids"])
        found: set[str] = set()
        extra: list[str] = []
        for entry in site.store.all_entries(on_error="raise"):
            if entry.id not in expected:
                extra.append(entry.id)
            elif entry.state == "approved":
                found.add(entry.id)
        if found != expected:
            return False
        for entry_id in extra:
            site.store.delete(entry_id)
    except (OSError, ValueError, KeyError, StoreError):
        return False
    return True


def new_comment(site: Site, slug: str, seed: int = 0, reply_to: str = "") -> Entry:
    """A new reader comment on ``slug`` dated now, like one posted through the form."""
    rng = random.Random(f"{site.seed}-{seed}-{slug}")
    name, url, email = _person(rng)
    return Entry(
        id=new_id(datetime.now(UTC)), article=slug, date=datetime.now(UTC).replace(microsecond=0),
        author=name, url=url, email=email, reply_to=reply_to, body=_comment_body(rng, None),
        ip="203.0.113.7", spam_verdict="ham",
    )
