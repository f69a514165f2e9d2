"""Linkbacks: receiving pingbacks, trackbacks and webmentions, and sending our own.

- ``html``: reading a linking page (links, title, excerpt);
- ``mf2``: microformats2 (author, kind of response);
- ``verify``: fetching a source through ``replik.fetch`` and checking its link;
- ``receive``: targets, policy, known pairs, storing (shared by the protocols);
- ``pingback``, ``trackback``, ``webmention``: the three protocols (webmentions
  wait in the state file's queue, ``state.webmentions``);
- ``send``: discovering endpoints of the posts we link to and notifying them.
"""

from __future__ import annotations

from typing import Any


def send_after_build(pelican: Any) -> None:
    """Pelican's ``finalized``: notify linked posts when REPLIK_LINKBACK_SEND_ON_BUILD is set."""
    import logging

    from ..settings import Settings
    from .send import run

    settings = Settings.of(pelican.settings)
    if not settings.linkback_send_on_build:
        return
    log = logging.getLogger(__name__)
    try:
        outcomes = run(settings)
    except Exception as exc:  # noqa: BLE001 - a failed notification must not fail the build
        log.error("replik: sending linkbacks failed: %s", exc)
        return
    for outcome in outcomes:
        level = logging.INFO if outcome.ok else logging.WARNING
        log.log(level, "replik: linkback %s -> %s via %s: %s", outcome.source, outcome.target,
                outcome.kind, outcome.detail)


def register() -> None:
    """A Pelican plugin of its own (``PLUGINS += ["replik.linkbacks"]`` in publishconf.py)."""
    from pelican import signals

    signals.finalized.connect(send_after_build)
