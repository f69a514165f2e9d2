"""Personal-data requests: everything stored about a person, and forgetting them.

A person is found by e-mail address (case-insensitive), the one identifier
every reader comment carries. The audit log records each request with a hash
of the address, never the address itself.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .i18n import gettext_for
from .importers.jsonio import entry_to_json
from .settings import Settings, cache_path, project_path, store_path
from .state import open_state
from .storespec import PRIVATE_FIELDS, CommentStore, Entry, open_store

#: Header fields of imported entries that identify a person (the blog's user id).
PERSONAL_EXTRA = ("WP-User-Id",)
# The label that replaces a forgotten person's name (translated by the catalogs).
LABEL_MSGID = "Deleted user"


def person_key(email: str) -> str:
    """How the audit log names a person: a hash, so the log holds no address."""
    return "sha256:" + hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:16]


def entries_of(store: CommentStore, email: str) -> list[Entry]:
    wanted = email.strip().lower()
    if not wanted:
        return []
    return sorted((e for e in store.all_entries() if e.email.strip().lower() == wanted),
                  key=lambda e: e.id)


def export_person(settings: Settings, email: str, actor: str = "cli") -> dict[str, Any]:
    """Everything stored about the person with ``email``, as JSON-ready data."""
    store = open_store(settings)
    found = entries_of(store, email)
    state = open_state(settings)
    subscriptions = [s.as_json() for s in state.subscriptions.listing(email=email)]
    mails = [{"id": m.id, "kind": m.kind, "article": m.article, "status": m.status,
              "entries": m.entries, "created": m.created}
             for m in state.outbox.of_address(email)]
    store.audit(actor, "export-person", person=person_key(email), entries=len(found))
    return {"email": email.strip(), "entries": [entry_to_json(e) for e in found],
            "subscriptions": subscriptions, "mails": mails}


@dataclass
class ForgetResult:
    changed: list[str] = field(default_factory=list)  # ids anonymised
    deleted: list[str] = field(default_factory=list)  # ids removed
    subscriptions: int = 0  # reply subscriptions removed (with their unsent mails)
    cache_cleared: str = ""
    state_cleared: int = 0  # rows of the state file that held one of their addresses


def forget(settings: Settings, email: str, *, delete: bool = False,
           actor: str = "cli") -> ForgetResult:
    """Remove a person's personal data from every entry (or the entries, with delete)."""
    store = open_store(settings)
    result = ForgetResult()
    # REPLIK_FORGOTTEN_NAME, else the catalog's translation of "Deleted user".
    label = settings.forgotten_name or gettext_for(settings)(LABEL_MSGID)
    found = entries_of(store, email)
    addresses = {entry.ip for entry in found if entry.ip}
    for entry in found:
        if delete:
            store.delete(entry.id)
            result.deleted.append(entry.id)
            continue
        for name in PRIVATE_FIELDS:
            setattr(entry, name, "")
        for key in PERSONAL_EXTRA:
            entry.extra.pop(key, None)
        if not entry.is_linkback:
            # A reader's name and home page identify them; a linkback's are a site's.
            entry.author = label
            entry.url = ""
        store.update(entry)
        result.changed.append(entry.id)
    result.subscriptions = open_state(settings).subscriptions.forget(email)
    result.state_cleared = _clear_state(settings, addresses)
    result.cache_cleared = _clear_cache(settings, store_path(settings))
    store.audit(actor, "forget", person=person_key(email), delete=delete,
                entries=result.deleted or result.changed, subscriptions=result.subscriptions)
    return result


def _clear_state(settings: Settings, addresses: set[str]) -> int:
    """Forget the person's addresses in the state file: desk login attempts and queued
    webmentions sent from them (nothing else there names a reader)."""
    if not addresses:
        return 0
    state = open_state(settings)
    return state.logins.forget(addresses) + state.webmentions.forget(addresses)


def _clear_cache(settings: Settings, store_root: Path) -> str:
    """Remove the derived caches (they may hold rendered names); they are rebuilt."""
    cache = cache_path(settings).resolve()
    project = project_path(settings, ".").resolve()
    store = store_root.resolve()
    # Never remove the project, the store, or anything holding them.
    if cache in (project, store) or cache in store.parents or cache in project.parents:
        return ""
    if cache.is_dir():
        shutil.rmtree(cache)
        return str(cache)
    return ""
