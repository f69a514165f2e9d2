"""The server's background threads (the rebuilder, the mail sender, the webmention worker): each
works when woken, and on its own every so often."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Waker:
    """Calls ``run_once()`` in a daemon thread: at once when woken, else every
    ``interval`` seconds, or sooner when it returns the seconds until work falls due."""

    def __init__(self, name: str, run_once: Callable[[], float | None], interval: float
                 ) -> None:
        self.name = name
        self.run_once = run_once
        self.interval = interval
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = False

    def start(self) -> None:
        """Start the thread in this process (gunicorn forks its workers after the app
        is made, and a thread does not follow a fork)."""
        with self._lock:
            if self._stop or (self._thread is not None and self._pid == os.getpid()
                              and self._thread.is_alive()):
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self.start()
        self._event.set()

    def stop(self) -> None:
        self._stop = True
        self._event.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)

    def _run(self) -> None:
        while not self._stop:
            self._event.clear()  # before the work: a wake from now on is not lost
            try:
                due = self.run_once()
            except Exception:  # noqa: BLE001 - keep the thread alive
                log.exception("replik: %s failed", self.name)
                due = None
            self._event.wait(self.interval if due is None
                             else max(0.05, min(self.interval, due)))
