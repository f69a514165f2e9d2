"""Moderation decisions, shared by the CLI, the web desk and the mail links.

Every decision is one store operation plus one audit record, kept or lost
together: the store undoes the change when the record cannot be written (a full
disk), and the caller hears ``NotSaved``. A decision names the state it was made
from (the state the moderator saw; the CLI takes the current one) and the store
moves compare-and-set: of two decisions made from the same state one wins, the
other raises ``StateChanged`` (naming who decided first, from the audit log) and
changes nothing. Marking spam and "not spam" also sends Akismet feedback
(submit-spam / submit-ham).

A reply is shown only under the entry it answers, so a reply cannot be approved
while that entry is not (``ParentNotApproved``); the build hides approved replies
whose parent is not approved (``thread.shown_entries``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .reader_mail import on_approved
from .settings import Settings
from .store import Entry, EntryNotFound, StateChanged, StoreError, new_id
from .storespec import last_decision, open_store

ACTIONS = ("approve", "spam", "ham", "trash", "restore", "delete")
# The state each action leads to ("restore" goes back to where the entry came from).
TARGET_STATE = {"approve": "approved", "spam": "spam", "ham": "pending", "trash": "trash"}


class NotSaved(StoreError):
    """The store could not be written (e.g. a full disk); nothing was changed.

    ``reason`` is the system's words; ``parent_approved`` is set when a staff reply
    failed after approving the entry it answers (that decision stands, recorded).
    """

    def __init__(self, reason: str, parent_approved: str = "") -> None:
        self.reason, self.parent_approved = reason, parent_approved
        done = (f"entry {parent_approved} is approved, but the reply could not be saved"
                if parent_approved else "nothing was changed")
        super().__init__(f"{done}: the comment store or its audit log cannot be written"
                         f" ({reason})")


class ParentNotApproved(StoreError):
    """A reply cannot go on the page while the entry it answers is not there."""

    def __init__(self, entry_id: str, parent_id: str, parent_state: str) -> None:
        self.entry_id, self.parent_id, self.parent_state = entry_id, parent_id, parent_state
        now = f"is {parent_state}" if parent_state else "no longer exists"
        super().__init__(f"entry {entry_id} answers entry {parent_id}, which {now}: approve"
                         " that one first (a reply is shown only under it)")


@dataclass
class Outcome:
    entry: Entry
    action: str
    from_state: str
    to_state: str
    note: str = ""


def display_name(settings: Settings, login: str) -> str:
    """The name a moderator's staff replies are signed with on the site.

    ``REPLIK_MODERATOR_NAMES`` (login -> name), else ``REPLIK_STAFF_NAME`` (one name
    for the whole team), else the site's ``AUTHOR``; only a site without any of
    them shows the login name, title-cased.
    """
    for candidate in (settings.moderator_names.get(login), settings.staff_name, settings.author):
        if candidate and candidate.strip():
            return candidate.strip()
    return login.title()


class Moderation:
    """Moderation actions on the store of one blog, done by one actor."""

    def __init__(self, settings: Settings, actor: str = "cli") -> None:
        self.settings = settings
        self.actor = actor
        self.store = open_store(settings)

    # -- decisions ---------------------------------------------------------
    def decide(self, action: str, entry_id: str, expected: str | None = None) -> Outcome:
        """Do ``action`` on the entry, from the state ``expected`` (default: the one it
        is in now). Raises StateChanged if it is not (or no longer) in that state."""
        if action not in ACTIONS:
            raise StoreError(f"unknown action {action!r} (expected one of {', '.join(ACTIONS)})")
        before = self.store.find(entry_id)
        if before is None:
            if expected:
                raise self._conflict(StateChanged(entry_id, expected, ""))
            raise EntryNotFound(entry_id)
        seen = expected or before.state
        if before.state != seen:
            raise self._conflict(StateChanged(entry_id, seen, before.state))
        if action == "delete":
            outcome = Outcome(before, action, seen, "deleted")
            self._change(lambda: self.store.delete(entry_id, expected=seen,
                                                   record=lambda: self._log(outcome)))
            return outcome
        if action == "restore":
            if seen != "trash":
                raise StoreError(f"entry {entry_id} is {seen}, not in the trash")
            target = self._state_before_trash(entry_id)
        else:
            target = TARGET_STATE[action]
        if action == "ham" and seen not in ("spam", "pending"):
            raise StoreError(f"entry {entry_id} is {seen}; only spam can be marked ham")
        outcome = Outcome(before, action, seen, target)

        def record() -> None:
            if action in ("spam", "ham"):  # Akismet hears the moderator's decision
                from .spam import send_feedback

                outcome.note = send_feedback(self.settings, before, action == "spam")
            self._log(outcome)

        if target == seen:
            if action != "ham":
                outcome.note = "unchanged"
                return outcome
            # "Not spam" for a held entry: it stays pending; Akismet hears it.
            self._change(record)
            return outcome
        if target == "approved":
            self._check_parent(before)
        outcome.entry = self._change(lambda: self.store.move(entry_id, target, expected=seen,
                                                              record=record))
        if action == "approve":
            on_approved(self.settings, outcome.entry)
        return outcome

    def reply(self, parent_id: str, text: str, author: str | None = None,
              expected: str | None = None) -> Outcome:
        """A staff answer under ``parent_id``, approved at once, signed with the
        moderator's display name (``author`` overrides it).

        Answering a pending entry approves it too (as WordPress does): an answer
        under an invisible comment would make no sense on the page. ``expected``:
        the state the moderator saw the entry in (see ``decide``).
        """
        text = text.strip()
        if not text:
            raise StoreError("the reply is empty")
        parent = self.store.get(parent_id)
        seen = expected or parent.state
        if parent.state != seen:
            raise self._conflict(StateChanged(parent_id, seen, parent.state))
        if seen in ("spam", "trash"):
            raise StoreError(f"entry {parent_id} is {seen}; approve it before answering")
        approved_now = ""
        if seen == "pending":
            self.decide("approve", parent_id, expected="pending")
            approved_now = parent_id
        else:
            self._check_parent(parent)
        reply = Entry(
            id=new_id(),
            article=parent.article,
            body=text,
            date=datetime.now(UTC),
            author=author or display_name(self.settings, self.actor),
            reply_to=parent.id,
            staff=True,
            spam_verdict="ham",
            spam_reason="staff",
        )
        outcome = Outcome(reply, "reply", "", "approved", note=f"reply to {parent.id}")
        self._change(lambda: self.store.add(reply, "approved", fresh=True,
                                            record=lambda: self._log(outcome)),
                     parent_approved=approved_now)
        on_approved(self.settings, reply)
        return outcome

    def edit(self, entry_id: str, text: str) -> Outcome:
        entry = self.store.get(entry_id)
        if text == entry.body:
            return Outcome(entry, "edit", entry.state, entry.state, note="unchanged")
        entry.body = text
        entry.extra["Edited"] = datetime.now(UTC).isoformat(timespec="seconds")
        outcome = Outcome(entry, "edit", entry.state, entry.state)
        self._change(lambda: self.store.update(entry, record=lambda: self._log(outcome)))
        return outcome

    # -- helpers -----------------------------------------------------------
    def _change(self, do: Any, parent_approved: str = "") -> Any:
        """Run one store change; a store that cannot be written becomes NotSaved,
        a lost race names who decided first."""
        try:
            return do()
        except StateChanged as exc:
            raise self._conflict(exc) from None
        except OSError as exc:
            raise NotSaved(exc.strerror or str(exc), parent_approved) from exc

    def _conflict(self, exc: StateChanged) -> StateChanged:
        """Name who decided first: wait for a change in progress to be recorded, then
        read the audit log."""
        if exc.by is None:
            now = self.store.settled(exc.entry_id)
            exc.actual = now.state if now else ""
            exc.by = last_decision(self.store, exc.entry_id)
        return exc

    def _check_parent(self, entry: Entry) -> None:
        """Refuse to approve a reply whose parent is not approved on its article."""
        if not entry.reply_to or entry.reply_to == entry.id:
            return
        try:
            parent = self.store.get(entry.reply_to)
        except EntryNotFound:
            raise ParentNotApproved(entry.id, entry.reply_to, "") from None
        if parent.state != "approved" or parent.article != entry.article:
            raise ParentNotApproved(entry.id, parent.id, parent.state)

    def _state_before_trash(self, entry_id: str) -> str:
        came_from = [item["from"] for item in self.store.audit_trail(entry_id)
                     if item.get("to") == "trash"
                     and item.get("from") in ("pending", "approved", "spam")]
        return came_from[-1] if came_from else "pending"

    def _log(self, outcome: Outcome) -> None:
        detail = {"note": outcome.note} if outcome.note else {}
        self.store.audit(self.actor, outcome.action, outcome.entry.id, outcome.from_state,
                         outcome.to_state, **detail)


# -- what a moderator is told (``_``: gettext in the reader's language) ----------------
def state_words(_: Callable[[str], str], state: str) -> str:
    return {"pending": _("awaiting moderation"), "approved": _("approved"),
            "spam": _("marked as spam"), "trash": _("in the trash")}.get(state, state)


def conflict_message(_: Callable[[str], str], exc: StateChanged) -> str:
    """'Already decided by anna: the entry is approved now. Nothing was changed.'"""
    who = str(exc.by.get("actor") or "") if exc.by else ""
    if not exc.actual:
        if who:
            return _("Already decided by {name}: the entry no longer exists.").format(name=who)
        return _("The entry no longer exists.")
    now = state_words(_, exc.actual)
    if who:
        return _("Already decided by {name}: the entry is {state} now. Nothing was"
                 " changed.").format(name=who, state=now)
    return _("Already decided: the entry is {state} now. Nothing was changed.").format(
        state=now)


def refusal_message(_: Callable[[str], str], exc: StoreError) -> str:
    """Why a decision was not made, for the desk and the mail links."""
    if isinstance(exc, StateChanged):
        return conflict_message(_, exc)
    if isinstance(exc, ParentNotApproved):
        if not exc.parent_state:
            return _("Not approved: this reply answers an entry that no longer exists, so"
                     " it cannot be shown.")
        return _("Not approved: this reply answers an entry that is {state}. Approve that"
                 " one first; a reply is shown only under it.").format(
                     state=state_words(_, exc.parent_state))
    if isinstance(exc, NotSaved):
        if exc.parent_approved:
            return _("The entry is approved, but your reply could not be saved: the"
                     " comment store cannot be written ({error}). Please try again"
                     " later.").format(error=exc.reason)
        return _("Nothing was changed: the comment store cannot be written ({error})."
                 " Please try again later.").format(error=exc.reason)
    return str(exc)
