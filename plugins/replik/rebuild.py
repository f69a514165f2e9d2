"""Approve-to-live: rebuild only the outputs a moderation decision changes.

Pelican 4.12 has no partial write, so a long-lived ``SiteBuilder`` keeps one
Pelican run in memory (its generators and their shared context, built once).
On each ``sync()`` it finds the articles whose approved comments changed (the
store's ``approved_stamps``),
re-attaches their comments, and renders through Pelican's own generator code
only the pages that show one of them: the article page, the listing pages
(index, category, tag, author, archives) holding it, and the comment feeds.
Every file is written atomically (temporary file + rename), so a reader or a
failed rebuild never leaves a half-written page.

``Rebuilder`` runs a ``SiteBuilder`` in a background thread: requests within a
short debounce window are batched into one sync, a lock (``state.mutex``, an
``flock`` beside the state file) keeps two rebuilds (from several server
processes) from running at once, a failure is recorded and retried, and the
publish hook runs after each successful rebuild. The last result is kept in the
state file (``state.rebuild``) so any server process can tell the desk whether
a decision is live.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

from pelican import Pelican, signals
from pelican.generators import ArticlesGenerator
from pelican.paginator import Paginator
from pelican.utils import get_relative_path, path_to_url, sanitised_join
from pelican.writers import Writer

from . import heap
from .feeds import atomic_write, write_comment_feeds
from .fingerprint import tree_fingerprint
from .plugin import attach_thread
from .settings import with_defaults
from .state import open_state
from .storespec import open_store

log = logging.getLogger(__name__)

# -- writing -----------------------------------------------------------------
class _AtomicText:
    """A text file handle that lands on disk in one rename when closed."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.parts: list[bytes] = []

    def write(self, text: str | bytes) -> int:
        # Templates write text; feedgenerator writes encoded bytes.
        self.parts.append(text.encode("utf-8") if isinstance(text, str) else text)
        return len(text)

    def __enter__(self) -> _AtomicText:
        return self

    def __exit__(self, exc_type: Any, *_exc: Any) -> None:
        if exc_type is None:
            atomic_write(self.path, b"".join(self.parts))


class AtomicWriter(Writer):
    """Pelican's writer, but every file is replaced atomically (and kept if unchanged)."""

    def _open_w(self, filename: str, encoding: str, override: bool = False) -> Any:
        if filename == os.devnull:
            return open(os.devnull, "w", encoding=encoding)
        self._written_files.add(filename)
        return _AtomicText(filename)


class SelectiveWriter(AtomicWriter):
    """Writes only the pages that show one of ``changed`` (articles, by identity).

    The pagination loop mirrors ``Writer.write_file`` so that every page that is
    written is byte for byte what a full build writes; the pages left out are the
    ones whose content does not depend on the changed articles.
    """

    def __init__(self, output_path: str, settings: dict[str, Any], changed: list[Any]) -> None:
        super().__init__(output_path, settings=settings)
        self.changed = {id(item) for item in changed}
        self.rendered: list[str] = []

    def _shows_change(self, items: Any) -> bool:
        return any(id(item) in self.changed for item in items or ())

    def write_feed(self, *args: Any, **kwargs: Any) -> None:
        """Post feeds show no comments: a decision never changes them."""

    def write_file(self, name: Any, template: Any, context: dict[str, Any],
                   relative_urls: bool = False, paginated: dict[str, Any] | None = None,
                   template_name: str | None = None, override_output: bool = False,
                   url: str | None = None, **kwargs: Any) -> None:
        if not name:
            return
        if "article" in kwargs:
            if id(kwargs["article"]) in self.changed:
                self._render(template, context, name, kwargs, relative_urls)
            return
        if paginated is None:
            paginated = {k: v for k, v in kwargs.items() if k in {"articles", "dates"}}
        listed = [item for seq in paginated.values() for item in seq]
        if not self._shows_change(listed) and listed:
            return
        if paginated and template_name in self.settings["PAGINATED_TEMPLATES"]:
            per_page = (self.settings["PAGINATED_TEMPLATES"][template_name]
                        or self.settings["DEFAULT_PAGINATION"])
            paginators = {key: Paginator(name, url, val, self.settings, per_page)
                          for key, val in paginated.items()}
            for page_num in range(next(iter(paginators.values())).num_pages):
                paginated_kwargs = kwargs.copy()
                shown: list[Any] = []
                for key, paginator in paginators.items():
                    page = paginator.page(page_num + 1)
                    shown.extend(page.object_list)
                    paginated_kwargs.update({
                        f"{key}_paginator": paginator,
                        f"{key}_page": page,
                        f"{key}_previous_page": paginator.page(page_num) if page_num > 0 else None,
                        f"{key}_next_page": (paginator.page(page_num + 2)
                                             if page_num + 1 < paginator.num_pages else None),
                    })
                if self._shows_change(shown):
                    self._render(template, context, page.save_as, paginated_kwargs,
                                 relative_urls)
        else:
            self._render(template, context, name, kwargs, relative_urls)

    def _render(self, template: Any, context: dict[str, Any], name: str,
                kwargs: dict[str, Any], relative_urls: bool) -> None:
        # The same steps as Writer.write_file's local helpers.
        localcontext = context.copy()
        localcontext["localsiteurl"] = localcontext.get("localsiteurl", None)
        if relative_urls:
            relative_url = path_to_url(get_relative_path(name))
            localcontext["SITEURL"] = relative_url
            localcontext["localsiteurl"] = relative_url
        localcontext["output_file"] = name
        localcontext.update(kwargs)
        if localcontext["localsiteurl"]:
            context["localsiteurl"] = localcontext["localsiteurl"]
        output = template.render(localcontext)
        path = sanitised_join(self.output_path, name)
        atomic_write(Path(path), output.encode("utf-8"))
        self.rendered.append(path)
        signals.content_written.send(path, context=localcontext)


# -- the long-lived build ------------------------------------------------------
class SiteBuilder:
    """One Pelican run kept in memory; ``sync()`` brings the output up to date."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.store = open_store(settings)
        self.pelican: Pelican | None = None
        self.generators: list[Any] = []
        self.signatures: dict[str, Any] = {}
        self.fingerprint: tuple[int, int] = (0, 0)
        self.last_written: list[str] = []

    # -- full build ----------------------------------------------------------
    def _watched(self) -> list[Path]:
        roots = [Path(self.settings["PATH"]), Path(self.settings["THEME"])]
        return [root for root in roots if root.is_dir()]

    def full_build(self) -> None:
        """What ``pelican`` does, keeping the generators for later syncs."""
        self.fingerprint = tree_fingerprint(*self._watched())
        self.signatures = self.store.approved_stamps()
        pelican = Pelican(dict(self.settings))
        context = pelican.settings.copy()
        context["generated_content"] = {}
        context["static_links"] = set()
        context["static_content"] = {}
        context["localsiteurl"] = pelican.settings["SITEURL"]
        generators = [
            cls(context=context, settings=pelican.settings, path=pelican.path,
                theme=pelican.theme, output_path=pelican.output_path)
            for cls in pelican._get_generator_classes()
        ]
        for gen in generators:
            if hasattr(gen, "generate_context"):
                gen.generate_context()
            if hasattr(gen, "check_disabled_readers"):
                gen.check_disabled_readers()
        signals.all_generators_finalized.send(generators)
        for gen in generators:
            if hasattr(gen, "refresh_metadata_intersite_links"):
                gen.refresh_metadata_intersite_links()
        writer = AtomicWriter(pelican.output_path, settings=pelican.settings)
        for gen in generators:
            if hasattr(gen, "generate_output"):
                gen.generate_output(writer)
        signals.finalized.send(pelican)
        self.pelican, self.generators = pelican, generators
        self.last_written = sorted(writer._written_files)
        # The run is kept for the syncs, as long as the server runs: frozen with the
        # server's other long-lived objects (heap.py), out of the full collections.
        heap.settle()

    # -- incremental -----------------------------------------------------------
    @property
    def articles_generator(self) -> ArticlesGenerator:
        return next(g for g in self.generators if isinstance(g, ArticlesGenerator))

    def _reattach(self, articles: list[Any]) -> None:
        """plugin.attach_comments, for the given articles only."""
        settings = with_defaults(self.articles_generator.settings)
        by_slug: dict[str, list[Any]] = {}
        for article in articles:
            if article.slug not in by_slug:
                by_slug[article.slug] = list(self.store.entries("approved", article.slug))
            attach_thread(article, by_slug[article.slug], settings, self.store.location)

    @staticmethod
    def _generate_pages(gen: ArticlesGenerator, writer: SelectiveWriter,
                        changed: list[Any]) -> None:
        """ArticlesGenerator.generate_pages, but article pages only for ``changed``.

        Pelican's own loop asks every article for its URL (slow on a big site) just
        to skip it; the listing pages go through Pelican's code and the writer's filter.
        """
        write = partial(writer.write_file, relative_urls=gen.settings["RELATIVE_URLS"])
        wanted = {id(a) for a in changed}
        for article in chain(gen.translations, gen.articles, gen.hidden_translations,
                             gen.hidden_articles):
            if id(article) not in wanted:
                continue
            signals.article_generator_write_article.send(gen, content=article)
            write(article.save_as, gen.get_template(article.template), gen.context,
                  article=article, category=getattr(article, "category", None),
                  override_output=hasattr(article, "override_save_as"), url=article.url,
                  blog=True)
        gen.generate_period_archives(write)
        gen.generate_direct_templates(write)
        gen.generate_tags(write)
        gen.generate_categories(write)
        gen.generate_authors(write)
        for draft in chain(gen.drafts_translations, gen.drafts):
            if id(draft) not in wanted:
                continue
            write(draft.save_as, gen.get_template(draft.template), gen.context,
                  article=draft, category=draft.category,
                  override_output=hasattr(draft, "override_save_as"), blog=True,
                  all_articles=gen.articles, url=draft.url)

    def sync(self) -> list[str]:
        """Bring the output up to date with the store; returns the files rendered."""
        if self.pelican is None or tree_fingerprint(*self._watched()) != self.fingerprint:
            self.full_build()
            return self.last_written
        current = self.store.approved_stamps()
        slugs = {s for s in set(current) | set(self.signatures)
                 if current.get(s) != self.signatures.get(s)}
        if not slugs:
            return []
        gen = self.articles_generator
        # The same articles attach_comments covers, in the same order.
        pool = list(gen.articles) + list(gen.translations) + list(gen.drafts)
        pool += list(gen.hidden_articles)
        changed = [a for a in pool if a.slug in slugs]
        self._reattach(changed)
        settings = self.pelican.settings
        writer = SelectiveWriter(self.pelican.output_path, settings, changed)
        self._generate_pages(gen, writer, changed)
        written = list(writer.rendered)
        feed_settings = with_defaults(settings)
        written += [str(p) for p in write_comment_feeds(
            gen.context.get("articles", []), feed_settings, Path(self.pelican.output_path),
            only={a.slug for a in changed},
        )]
        self.signatures = current
        self.last_written = written
        return written


# -- the background worker -------------------------------------------------------
#: The name of the lock that serialises rebuilds (``State.mutex``).
LOCK_NAME = "rebuild"


def read_status(settings: dict[str, Any]) -> dict[str, Any]:
    """The last rebuild's outcome (``{}`` before the first one)."""
    return open_state(settings).rebuild.read()


def is_live(settings: dict[str, Any], decided_at: float) -> bool:
    """Whether a rebuild that started after ``decided_at`` has finished well."""
    return float(read_status(settings).get("ok_started", 0)) >= decided_at


def run_publish_hook(settings: dict[str, Any]) -> str:
    """Run REPLIK_PUBLISH_HOOK (a shell command, from the operator's own config)."""
    command = str(settings.get("REPLIK_PUBLISH_HOOK") or "").strip()
    if not command:
        return ""
    env = {**os.environ, "REPLIK_OUTPUT_PATH": str(settings["OUTPUT_PATH"])}
    result = subprocess.run(command, shell=True, env=env, capture_output=True, text=True,
                            timeout=float(settings.get("REPLIK_PUBLISH_TIMEOUT", 300)))
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-500:]
        raise RuntimeError(f"publish hook exited with {result.returncode}: {tail}")
    return command


class Rebuilder:
    """Batches rebuild requests into one sync at a time, in a background thread."""

    def __init__(self, settings: dict[str, Any], debounce: float = 0.05,
                 retry_delays: tuple[float, ...] = (1.0, 2.0, 5.0, 15.0, 60.0)) -> None:
        self.settings = settings
        self.builder = SiteBuilder(settings)
        self.debounce = debounce
        self.retry_delays = retry_delays
        self.state = open_state(settings)
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    # -- control ---------------------------------------------------------------
    def start(self, warm: bool = True) -> None:
        with self._guard:
            if self._thread is not None and self._thread.is_alive():
                return
            if warm:
                self._wanted.set()
            self._thread = threading.Thread(target=self._loop, name="replik-rebuild",
                                            daemon=True)
            self._thread.start()

    def request(self) -> float:
        """Ask for a rebuild; returns the time to compare with ``is_live``."""
        asked = time.time()
        self.start(warm=False)
        self._wanted.set()
        return asked

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- work --------------------------------------------------------------------
    def rebuild_once(self) -> list[str]:
        """One locked sync plus the publish hook; records the result in the state file."""
        started = time.time()
        try:
            with self.state.mutex(LOCK_NAME):
                written = self.builder.sync()
                run_publish_hook(self.settings)
        except Exception as exc:  # any failure is shown in the desk and retried
            log.exception("replik: rebuild failed")
            self.state.rebuild.failed(f"{type(exc).__name__}: {exc}", time.time())
            raise
        self.state.rebuild.succeeded(started, time.time(), len(written))
        return written

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wanted.wait()
            if self._stop.is_set():
                return
            time.sleep(self.debounce)  # let a burst of decisions arrive
            self._wanted.clear()
            try:
                self.rebuild_once()
                failures = 0
            except Exception:
                delay = self.retry_delays[min(failures, len(self.retry_delays) - 1)]
                failures += 1
                if self._stop.wait(delay):
                    return
                self._wanted.set()
