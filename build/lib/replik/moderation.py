"""Moderation decisions, shared by the CLI and the web desk.

Every decision is one store operation plus one audit record. Marking spam and
"not spam" also sends Akismet feedback (submit-spam / submit-ham).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import audit
from .settings import store_path
from .store import Entry, EntryNotFound, Store, StoreError, new_id

ACTIONS = ("approve", "spam", "ham", "trash", "restore", "delete")
# The state each action leads to ("restore" goes back to where the entry came from).
TARGET_STATE = {"approve": "approved", "spam": "spam", "ham": "pending", "trash": "trash"}


@dataclass
class Outcome:
    entry: Entry
    action: str
    from_state: str
    to_state: str
    note: str = ""


class Moderation:
    """Moderation actions on the store of one blog, done by one actor."""

    def __init__(self, settings: dict[str, Any], actor: str = "cli") -> None:
        self.settings = settings
        self.actor = actor
        self.store = Store(store_path(settings))

    # -- decisions ---------------------------------------------------------
    def decide(self, action: str, entry_id: str) -> Outcome:
        if action not in ACTIONS:
            raise StoreError(f"unknown action {action!r} (expected one of {', '.join(ACTIONS)})")
        before = self.store.get(entry_id)
        if action == "delete":
            self.store.delete(entry_id)
            return self._log(Outcome(before, action, before.state, "deleted"))
        if action == "restore":
            if before.state != "trash":
                raise StoreError(f"entry {entry_id} is {before.state}, not in the trash")
            target = self._state_before_trash(entry_id)
        else:
            target = TARGET_STATE[action]
        if action == "ham" and before.state not in ("spam", "pending"):
            raise StoreError(f"entry {entry_id} is {before.state}; only spam can be marked ham")
        entry = self.store.move(entry_id, target)
        outcome = Outcome(entry, action, before.state, target)
        if action in ("spam", "ham"):
            outcome.note = self._feedback(entry, is_spam=(action == "spam"))
        return self._log(outcome)

    def reply(self, parent_id: str, text: str, author: str | None = None) -> Outcome:
        """A staff answer under ``parent_id``, approved at once.

        Answering a pending entry approves it too (as WordPress does): an answer
        under an invisible comment would make no sense on the page.
        """
        text = text.strip()
        if not text:
            raise StoreError("the reply is empty")
        parent = self.store.get(parent_id)
        if parent.state in ("spam", "trash"):
            raise StoreError(f"entry {parent_id} is {parent.state}; approve it before answering")
        if parent.state == "pending":
            self.decide("approve", parent_id)
        name = author or self.settings.get("REPLIK_STAFF_NAME") or self.actor
        reply = Entry(
            id=new_id(),
            article=parent.article,
            body=text,
            date=datetime.now(UTC),
            author=str(name),
            reply_to=parent.id,
            staff=True,
            spam_verdict="ham",
            spam_reason="staff",
        )
        self.store.add(reply, "approved", fresh=True)
        return self._log(Outcome(reply, "reply", "", "approved", note=f"reply to {parent.id}"))

    def edit(self, entry_id: str, text: str) -> Outcome:
        entry = self.store.get(entry_id)
        if text == entry.body:
            return Outcome(entry, "edit", entry.state, entry.state, note="unchanged")
        entry.body = text
        entry.extra["Edited"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.store.update(entry)
        return self._log(Outcome(entry, "edit", entry.state, entry.state))

    # -- helpers -----------------------------------------------------------
    def _state_before_trash(self, entry_id: str) -> str:
        last = "pending"
        for item in audit.read(self.store.root, entry_id):
            if item.get("to") == "trash" and item.get("from") in ("pending", "approved", "spam"):
                last = item["from"]
        return last

    def _feedback(self, entry: Entry, is_spam: bool) -> str:
        """Tell Akismet about a moderator's spam/ham decision; returns a short note."""
        from .spam import send_feedback

        return send_feedback(self.settings, entry, is_spam)

    def _log(self, outcome: Outcome) -> Outcome:
        detail = {"note": outcome.note} if outcome.note else {}
        audit.record(
            self.store.root, self.actor, outcome.action, outcome.entry.id,
            outcome.from_state, outcome.to_state, **detail,
        )
        return outcome


__all__ = ["ACTIONS", "Moderation", "Outcome", "EntryNotFound", "StoreError"]
