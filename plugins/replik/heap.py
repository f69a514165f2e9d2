"""Keep a server's long-lived objects out of the garbage collector's full passes.

A server process builds its settings, the article index (Pelican's articles) and
Babel's locale data once and keeps them. Python's full collection walks every
tracked object: measured on the intake, 30-40 ms each time, a stall for every
request in that worker, which set the benchmark's tail latency. Frozen objects
are skipped by the collector; what is created later is collected as usual.

This module is the only code that freezes or unfreezes (the build does neither: it
gained nothing measurable, see docs/benchmarks.md), so nothing undoes a settle.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()


def settle() -> None:
    """Freeze what is alive now (after start-up, or after the article index was read
    again: the old index is collected first, so nothing frozen is kept by mistake)."""
    with _lock:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
