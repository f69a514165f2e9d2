"""Moving what older versions kept in files into the state file, once.

Before the state file held them, the used one-click links were marker files in
``<cache>/used-links/``, the webmention queue JSON files in
``<store>/queue/webmention/{new,cur}/`` and the sent linkbacks one JSON file,
``<store>/sent/linkbacks.json``. The first ``open_state`` of a process moves
whatever of these it finds into their tables, so an upgraded site loses nothing:

- the sent-log is renamed to ``linkbacks.json.migrated`` (kept, as it was the
  only record; delete it once the upgrade has settled);
- the queue folder and the used-link markers are removed (their jobs and links
  are in the state file now; an unreadable job file is dropped with an error in
  the log, as the old worker dropped it).

Each move is one exclusive transaction that writes the rows and renames the old
file or folder away before it commits (renaming it back if the commit fails): of
several processes starting at once, one moves the data and the others find
nothing left to move.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any

from .settings import Settings, cache_path, store_path
from .state import Job, SentLinkbacks, State

log = logging.getLogger(__name__)

MIGRATED = ".migrated"


def upgrade(state: State, settings: Settings) -> None:
    """Move every old file the settings point to into ``state`` (errors are logged)."""
    store = store_path(settings)
    for step, path in ((migrate_used_links, cache_path(settings) / "used-links"),
                       (migrate_queue, store / "queue"),
                       (migrate_sent_log, sent_log_path(settings))):
        if not path.exists():
            continue
        try:
            step(state, path)
        except Exception as exc:  # noqa: BLE001 - the file stays; the next start tries again
            log.error("replik: cannot move %s into the state file %s: %s", path, state.db, exc)


def sent_log_path(settings: Settings) -> Path:
    return store_path(settings) / "sent" / "linkbacks.json"


def _moved(path: Path) -> Path:
    return path.with_name(path.name + MIGRATED)


def _move_in(state: State, path: Path, write: Any) -> bool:
    """Run ``write(db)`` and rename ``path`` away in one transaction; False if it is gone."""
    moved = _moved(path)
    try:
        with state.transaction() as db:
            if not path.exists():
                return False  # another process moved it first
            write(db)
            if moved.is_dir():
                shutil.rmtree(moved)  # left by a move that crashed after its commit
            os.replace(path, moved)
    except BaseException:
        if moved.exists() and not path.exists():
            os.replace(moved, path)
        raise
    return True


def migrate_used_links(state: State, folder: Path) -> None:
    """``<cache>/used-links/<nonce>-<entry>`` files (holding the expiry) into ``used_links``."""
    rows = []
    for marker in folder.iterdir():
        nonce, _, entry = marker.name.partition("-")
        try:
            rows.append((nonce, entry, int(marker.read_text() or 0)))
        except (OSError, ValueError):
            continue  # half-written: its link was never used
    if _move_in(state, folder, lambda db: db.executemany(
            "INSERT INTO used_links (nonce, entry, expires) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING", rows)):
        shutil.rmtree(_moved(folder), ignore_errors=True)
        log.info("replik: moved %d used one-click links into %s", len(rows), state.db)


def migrate_queue(state: State, folder: Path) -> None:
    """``<store>/queue/webmention/{new,cur}/*.json`` into ``webmention_queue``."""
    names = {f.name for f in fields(Job)} - {"id"}
    jobs = []
    for path in sorted([*folder.glob("webmention/new/*.json"),
                        *folder.glob("webmention/cur/*.json")], key=lambda p: p.name):
        try:
            data = json.loads(path.read_text("utf-8"))
            jobs.append(Job(**{k: v for k, v in data.items() if k in names}))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.error("replik: dropping unreadable webmention job %s: %s", path, exc)

    def write(db: Any) -> None:
        db.executemany(
            "INSERT INTO webmention_queue (source, target, ip, user_agent, received, attempts, "
            "not_before) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(j.source, j.target, j.ip, j.user_agent, j.received, j.attempts, j.not_before)
             for j in jobs])

    if _move_in(state, folder, write):
        shutil.rmtree(_moved(folder), ignore_errors=True)
        log.info("replik: moved %d queued webmentions into %s", len(jobs), state.db)


def migrate_sent_log(state: State, path: Path) -> None:
    """``<store>/sent/linkbacks.json`` into ``sent_linkbacks`` and ``published_posts``;
    the file is renamed to ``linkbacks.json.migrated``. Records already in the state
    file win (they are newer). A broken file raises ValueError and stays where it is."""
    try:
        loaded = json.loads(path.read_text("utf-8"))
        sent = loaded.get("sent", {})
        rows = [(str(source), str(target), dict(record))
                for source, targets in sent.items() for target, record in targets.items()]
        published = [(str(url),) for url in loaded.get("published", [])]
    except FileNotFoundError:
        return
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"{path} is not a valid sent-log ({exc}); fix or remove it") from None

    def write(db: Any) -> None:
        for source, target, record in rows:
            SentLinkbacks.insert(db, source, target, record, replace=False)
        db.executemany("INSERT INTO published_posts (url) VALUES (?) ON CONFLICT DO NOTHING",
                       published)

    if _move_in(state, path, write):
        log.info("replik: moved %s into %s (the old file is now %s)", path, state.db,
                 _moved(path).name)
