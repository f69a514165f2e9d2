"""Approve-to-live: rebuild only the outputs a moderation decision changes.

Pelican 4.12 has no partial write, so a ``SiteBuilder`` keeps one Pelican run in
memory. Its ``sync()`` finds the articles whose approved entries changed (the
store's ``approved_stamps``), attaches their threads as the full build does, and
renders through Pelican's own generator code only the pages that show them
(``writers.SelectiveWriter``) and their comment feeds, every file atomically.

Decisions ask by a request in the state (``state.rebuilds``). A rebuilder claims
every request waiting and syncs once for all, under the ``rebuild`` mutex (never
two at once, on any node), runs the publish hook and records the outcome in the
state (``state.rebuild``: the desk asks it whether a decision is live); a failed
rebuild gives its requests back. The rebuilder is the server's thread
(``Rebuilder``), or ``replik worker`` when ``separate_worker`` (``RebuildQueue``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

from pelican import Pelican, signals
from pelican.generators import ArticlesGenerator

from . import heap
from .articles import generator_args
from .background import Waker
from .fingerprint import tree_fingerprint
from .generators import attach_thread, commentable
from .settings import Settings
from .state import database_url, open_state
from .storespec import open_store
from .writers import AtomicWriter, CommentFeeds, SelectiveWriter

log = logging.getLogger(__name__)


class SiteBuilder:
    """One Pelican run kept in memory; ``sync()`` brings the output up to date."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = open_store(settings)
        self.pelican: Pelican | None = None
        self.generators: list[Any] = []
        self.signatures: dict[str, Any] = {}
        self.fingerprint: tuple[int, int] = (0, 0)
        self.last_written: list[str] = []

    # -- full build ----------------------------------------------------------
    def _watched(self) -> list[Path]:
        roots = [Path(self.settings.path), Path(self.settings.theme)]
        return [root for root in roots if root.is_dir()]

    def full_build(self) -> None:
        """What ``pelican`` does, keeping the generators for later syncs."""
        self.fingerprint = tree_fingerprint(*self._watched())
        self.signatures = self.store.approved_stamps()
        pelican = Pelican(dict(self.settings.pelican))
        args = generator_args(Settings.of(pelican.settings))
        generators = [cls(**args) for cls in pelican._get_generator_classes()]
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

    @staticmethod
    def _generate_pages(gen: ArticlesGenerator, writer: SelectiveWriter,
                        changed: list[Any]) -> None:
        """ArticlesGenerator.generate_pages, but article pages only for ``changed``.

        Pelican's own loop asks every article for its URL (slow on a big site) just
        to skip it; the listing pages go through Pelican's code and the writer's filter.
        """
        write = partial(writer.write_file, relative_urls=gen.settings["RELATIVE_URLS"])
        wanted = {id(a) for a in changed}
        for article in filter(lambda a: id(a) in wanted, chain(
                gen.translations, gen.articles, gen.hidden_translations, gen.hidden_articles)):
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
        for draft in filter(lambda a: id(a) in wanted, chain(gen.drafts_translations, gen.drafts)):
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
        settings = Settings.of(self.pelican.settings)
        # generators.attach_comments for the changed articles: their folders read again.
        changed = [a for a in commentable(gen) if a.slug in slugs]
        entries = {a.slug: list(self.store.entries("approved", a.slug)) for a in changed}
        for article in changed:
            attach_thread(article, entries[article.slug], settings, self.store,
                          read_texts=False)
        writer = SelectiveWriter(self.pelican.output_path, self.pelican.settings, changed)
        self._generate_pages(gen, writer, changed)
        written = sorted(writer._written_files)
        written += CommentFeeds(settings, Path(self.pelican.output_path)).finish(
            gen.context.get("articles", []), only=slugs)
        self.signatures = current
        self.last_written = written
        return written


# -- the background worker -------------------------------------------------------
#: The name of the lock that serialises rebuilds (``State.mutex``).
LOCK_NAME = "rebuild"


def read_status(settings: Settings) -> dict[str, Any]:
    """The last rebuild's outcome (``{}`` before the first one)."""
    return open_state(settings).rebuild.read()


def is_live(settings: Settings, decided_at: float) -> bool:
    """Whether a rebuild that started after ``decided_at`` has finished well."""
    return float(read_status(settings).get("ok_started", 0)) >= decided_at


def separate_worker(settings: Settings) -> bool:
    """Whether ``replik worker`` runs the queues instead of the server's threads:
    REPLIK_WORKER, by default so when the state is in a database."""
    return bool(database_url()) if settings.worker is None else bool(settings.worker)


def run_publish_hook(settings: Settings) -> str:
    """Run REPLIK_PUBLISH_HOOK (a shell command, from the operator's own config)."""
    command = settings.publish_hook.strip()
    if not command:
        return ""
    env = {**os.environ, "REPLIK_OUTPUT_PATH": settings.output_path}
    result = subprocess.run(command, shell=True, env=env, capture_output=True, text=True,
                            timeout=settings.publish_timeout)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-500:]
        raise RuntimeError(f"publish hook exited with {result.returncode}: {tail}")
    return command


class RebuildQueue:
    """The server's side when ``replik worker`` rebuilds: a decision only asks."""

    builder = None

    def __init__(self, settings: Settings) -> None:
        self.state = open_state(settings)

    def request(self) -> float:
        return self.state.rebuilds.put()

    def start(self) -> None:
        """Nothing to start here: the worker runs elsewhere."""

    def stop(self) -> None:
        """Nothing to stop here."""


class Rebuilder:
    """Batches rebuild requests into one sync at a time, in a background thread
    (``start``/``request``) or called by a worker (``rebuild_once``)."""

    def __init__(self, settings: Settings, debounce: float = 0.05,
                 retry_delays: tuple[float, ...] = (1.0, 2.0, 5.0, 15.0, 60.0)) -> None:
        self.settings = settings
        self.builder = SiteBuilder(settings)
        self.debounce = debounce
        self.retry_delays = retry_delays
        self.state = open_state(settings)
        self.claimed = 0  # requests in the last rebuild
        self.failures = 0  # failed rebuilds in a row (the thread's)
        # Woken by each request; on its own only to retry, so its interval is the
        # longest retry delay.
        self._waker = Waker("replik-rebuild", self._run_once, max(retry_delays))

    # -- control ---------------------------------------------------------------
    def start(self) -> None:
        """Start the thread; its first turn builds the site (even without a request)."""
        self._waker.start()

    def request(self) -> float:
        """Ask for a rebuild; returns the time to compare with ``is_live``."""
        asked = self.state.rebuilds.put()
        self._waker.wake()
        return asked

    def stop(self) -> None:
        self._waker.stop()

    # -- work --------------------------------------------------------------------
    def rebuild_once(self, force: bool = True) -> list[str] | None:
        """One locked sync for the requests waiting (even none when ``force``), then
        the publish hook; records the result in the state. None: nothing was asked."""
        requests = self.state.rebuilds
        if not force and not requests.ready():
            return None
        with self.state.mutex(LOCK_NAME):
            claimed = requests.claim()
            self.claimed = len(claimed)
            if not claimed and not force:
                return None  # another rebuilder took them while we waited
            # Every claimed decision is in this sync (an app node's clock may be ahead).
            started = max([time.time(), *claimed.values()])
            try:
                written = self.builder.sync()
                run_publish_hook(self.settings)
            except Exception as exc:  # any failure is shown in the desk and retried
                log.exception("replik: rebuild failed")
                self.state.rebuild.failed(f"{type(exc).__name__}: {exc}", time.time())
                requests.release(claimed)
                raise
            self.state.rebuild.succeeded(started, time.time(), len(written))
            requests.done(claimed)
        return written

    def _run_once(self) -> float | None:
        """The thread's turn: one rebuild after ``debounce`` (a burst of decisions makes
        one); after a failure, the seconds until it is tried again."""
        time.sleep(self.debounce)
        try:
            self.rebuild_once(force=self.builder.pelican is None)
        except Exception:  # noqa: BLE001 - recorded by rebuild_once; tried again
            self.failures += 1
            return self.retry_delays[min(self.failures, len(self.retry_delays)) - 1]
        self.failures = 0
        return None
