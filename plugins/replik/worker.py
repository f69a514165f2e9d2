"""``replik worker``: the background jobs in a process of their own.

Three queues in the state: rebuild requests (approve-to-live: every request
waiting goes into one rebuild, then the publish hook), received webmentions to
verify, and the readers' outgoing mail. Each claim is a lease taken with
``SKIP LOCKED`` on PostgreSQL (a transaction on SQLite), and rebuilds run under
the ``rebuild`` mutex, so any number of workers, on any node, never do one job
twice. With the file store the server runs the same jobs in its own threads
(rebuild.Rebuilder, and ``background.Waker``s for the webmentions and the mail)
unless REPLIK_WORKER is set (``rebuild.separate_worker``).
"""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace
from typing import Any

from . import notify, reader_mail
from .linkbacks import send_after_build, webmention
from .linkbacks.receive import Receiver
from .rebuild import Rebuilder
from .settings import Settings
from .state import open_state

log = logging.getLogger(__name__)


class Worker:
    """Runs what is due in the queues; ``drain`` until empty, or ``run`` until stopped."""

    def __init__(self, settings: Settings, poll: float = 0.2) -> None:
        self.settings = settings
        self.poll = poll  # seconds between looks at the queues while they are empty
        self.state = open_state(settings)
        # Linkbacks go out after the publish hook has put the pages online (the linked
        # blogs fetch our post at once), not from inside the build (`make rsync_upload`
        # sends them after its upload, too).
        self.send_linkbacks = settings.linkback_send_on_build
        build = settings.replace(REPLIK_LINKBACK_SEND_ON_BUILD=False)
        self.rebuilder = Rebuilder(build) if settings.rebuild else None
        self.unannounced = False
        self.receiver = Receiver(settings) if settings.webmention_worker else None
        self.mail = settings.notify_readers and notify.smtp_enabled()
        self.stopping = threading.Event()
        self.failures = 0
        self._retry_at = 0.0

    def rebuild(self, force: bool = False) -> int:
        """One rebuild for the requests waiting; 1 if it ran, else 0."""
        if self.rebuilder is None or time.time() < self._retry_at:
            return 0
        started = time.perf_counter()
        run = self.rebuilder.builder.pelican
        try:
            written = self.rebuilder.rebuild_once(force=force)
        except Exception as exc:  # noqa: BLE001 - recorded for the desk; retried later
            delays = self.rebuilder.retry_delays
            delay = delays[min(self.failures, len(delays) - 1)]
            self.failures += 1
            self._retry_at = time.time() + delay
            log.error("replik worker: rebuild failed (retry in %.0f s): %s", delay, exc)
            return 0
        finally:  # a full build (new posts are in no other) has posts to announce
            self.unannounced |= self.rebuilder.builder.pelican is not run
        if written is None:
            return 0
        self.failures = 0
        log.info("replik worker: rebuild of %d requests: %d files in %.2f s",
                 self.rebuilder.claimed, len(written), time.perf_counter() - started)
        if self.unannounced and self.send_linkbacks:  # online now: the hook ran
            self.unannounced = False
            # The settings are all the build's signal receiver reads of Pelican.
            send_after_build(SimpleNamespace(settings=dict(self.settings.pelican)))
        return 1

    def step(self, warm: bool = False) -> int:
        """Every job due now, once; returns how many were done."""
        done = self.rebuild(force=warm)
        if self.receiver is not None and not self.stopping.is_set():
            done += len(webmention.work(self.receiver, self.state.webmentions,
                                        stop=self.stopping.is_set))
        if self.mail and not self.stopping.is_set():
            counts = reader_mail.deliver(self.settings)
            if any(counts.values()):
                log.info("replik worker: mail: %s",
                         ", ".join(f"{n} {what}" for what, n in counts.items() if n))
            done += sum(counts.values())
        return done

    def drain(self) -> int:
        """Work until nothing is due (``--once``); returns the jobs done."""
        total = 0
        while not self.stopping.is_set() and (done := self.step()):
            total += done
        return total

    def run(self) -> None:
        """Work until ``stop`` (SIGTERM): the first rebuild is a full build, so that the
        first decision only waits for the fast path."""
        warm = True
        while not self.stopping.is_set():
            try:
                done = self.step(warm=warm)
            except ConnectionError as exc:  # the database restarts: look again after a poll
                log.warning("replik worker: %s", exc)
                done = 0
            warm = warm and self.failures > 0
            if not done:
                self.stopping.wait(self.poll)

    def stop(self, *_: Any) -> None:
        """Stop after the job at hand (a signal handler, too)."""
        self.stopping.set()
