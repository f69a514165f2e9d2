"""Reply subscriptions and the outgoing mail queue: two tables of the state file.

``Subscriptions``: who wants to hear about new answers in a thread (a post),
either to their own comment (scope ``replies``) or to every new entry (``all``).
A row is a request until the reader confirms it with the link mailed to them
(double opt-in); unconfirmed requests are deleted when their link expires.

``Outbox``: mails waiting to be sent, one row per mail, with a Message-ID fixed
when it is queued. The delivery guarantee (see ``claim`` / ``sending`` /
``sent``):

- a row is *claimed* for a while (the lease) before anything is sent; a sender
  that dies before it starts to talk to the mail server leaves a claim that
  expires, and the row is sent by the next sender;
- just before the message is handed to the mail server the row is marked
  *sending* (committed); after the server accepted it, *sent*. A row found in
  *sending* after its lease means a sender died in between: the mail may or may
  not have left, so it is **never sent again automatically** but marked
  *uncertain* (``replik mail list`` shows it, ``replik mail retry`` re-queues
  it by hand). So a crash or restart never sends a mail twice (at most once);
  the price is that such a mail may be lost.
- an SMTP error (the server said no, or was not reachable) puts the row back in
  the queue with a growing delay, and after ``max_attempts`` it is *failed*.

Several answers for one subscriber and thread within the batch window join the
one queued row (a digest): at most one mail per subscriber, thread and window.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from .state import Table

SCOPES = ("replies", "all")
#: How long unconfirmed requests and their links live.
CONFIRM_TTL = 7 * 86400
#: Sent and failed rows are kept this long (for ``replik mail list``), then dropped.
KEEP_DONE = 14 * 86400


def email_key(email: str) -> str:
    """The form of an address used for matching (the entry's author, the same person)."""
    return email.strip().casefold()


def key_hash(key: str) -> str:
    """An address as links carry it: a hash, never the address itself."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass
class Subscription:
    id: int
    email: str
    name: str
    article: str
    entry: str
    scope: str
    origin: str
    title: str
    permalink: str
    lang: str
    created: float
    confirmed: float | None

    @property
    def key(self) -> str:
        return email_key(self.email)

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("title", "permalink", "lang")}


_SUB_COLUMNS = ", ".join(f.name for f in fields(Subscription))


class Subscriptions(Table):
    def request(self, *, email: str, name: str, article: str, scope: str, entry: str = "",
                origin: str = "", title: str = "", permalink: str = "", lang: str = "",
                now: float | None = None) -> tuple[Subscription | None, str]:
        """Record a request; returns ``(row, outcome)``.

        outcome: ``new`` (a confirmation mail should go out), ``confirmed`` (the
        address already follows this), ``waiting`` (the address has a request whose
        link is still valid: no second mail until it is confirmed or expired, so the
        form cannot be used to mail an address again and again; row is None).
        """
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}")
        now = time.time() if now is None else now
        key = email_key(email)
        entry = entry if scope == "replies" else ""
        with self.state.transaction("subscriptions") as db:
            db.execute("DELETE FROM subscriptions WHERE confirmed IS NULL AND created <= ?",
                       (now - CONFIRM_TTL,))
            row = db.execute(
                f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE email_key = ? AND article = ?"
                " AND scope = ? AND entry = ?", (key, article, scope, entry)).fetchone()
            if row is not None and row[-1] is not None:
                return Subscription(*row), "confirmed"
            open_request = db.execute(
                "SELECT count(*) FROM subscriptions WHERE email_key = ? AND confirmed IS NULL",
                (key,)).fetchone()[0]
            if open_request:
                return None, "waiting"
            new = db.execute(
                "INSERT INTO subscriptions (email, email_key, name, article, entry, scope, "
                "origin, title, permalink, lang, created) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                f"RETURNING {_SUB_COLUMNS}", (email.strip(), key, name, article, entry, scope,
                                              origin, title, permalink, lang, now)).fetchone()
        return Subscription(*new), "new"

    def get(self, sub_id: int) -> Subscription | None:
        row = self.state.execute(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
        return Subscription(*row) if row else None

    def confirm(self, sub_id: int, now: float | None = None) -> bool:
        """Mark a request confirmed; False when it was confirmed already."""
        now = time.time() if now is None else now
        with self.state.transaction() as db:
            cursor = db.execute(
                "UPDATE subscriptions SET confirmed = ? WHERE id = ? AND confirmed IS NULL",
                (now, sub_id))
            changed = cursor.rowcount > 0
            if changed:
                origin = db.execute("SELECT origin FROM subscriptions WHERE id = ?",
                                    (sub_id,)).fetchone()[0]
                if origin:
                    db.execute("INSERT INTO notify_facts (entry, fact) VALUES (?, 'subscribed') "
                               "ON CONFLICT DO NOTHING", (origin,))
        return changed

    def unsubscribe(self, article: str, hashed_key: str) -> int:
        """Remove every subscription of the address (given as ``key_hash``) to a thread,
        and its mails not sent yet; returns how many subscriptions went."""
        with self.state.transaction() as db:
            keys = {key for (key,) in db.execute(
                "SELECT DISTINCT email_key FROM subscriptions WHERE article = ?", (article,))
                if key_hash(key) == hashed_key}
            removed = 0
            for key in keys:
                removed += db.execute(
                    "DELETE FROM subscriptions WHERE email_key = ? AND article = ?",
                    (key, article)).rowcount
                db.execute("DELETE FROM outbox WHERE email_key = ? AND article = ? "
                           "AND status = 'queued'", (key, article))
        return removed

    def remove(self, sub_id: int) -> bool:
        with self.state.transaction() as db:
            row = db.execute("SELECT email_key, article FROM subscriptions WHERE id = ?",
                             (sub_id,)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM subscriptions WHERE id = ?", (sub_id,))
            still = db.execute("SELECT count(*) FROM subscriptions WHERE email_key = ? AND "
                               "article = ?", row).fetchone()[0]
            if not still:
                db.execute("DELETE FROM outbox WHERE email_key = ? AND article = ? AND "
                           "status = 'queued' AND kind = 'notify'", row)
        return True

    def forget(self, email: str) -> int:
        """Remove every subscription and unsent mail of an address (``replik forget``)."""
        key = email_key(email)
        with self.state.transaction() as db:
            removed = db.execute("DELETE FROM subscriptions WHERE email_key = ?",
                                 (key,)).rowcount
            # Sent rows are kept a while for the record; the address goes from them too.
            db.execute("DELETE FROM outbox WHERE email_key = ?", (key,))
        return removed

    def listing(self, *, email: str = "", article: str = "",
                now: float | None = None) -> list[Subscription]:
        now = time.time() if now is None else now
        query = f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE (confirmed IS NOT NULL " \
                "OR created > ?)"
        args: list[Any] = [now - CONFIRM_TTL]
        if email:
            query += " AND email_key = ?"
            args.append(email_key(email))
        if article:
            query += " AND article = ?"
            args.append(article)
        rows = self.state.execute(query + " ORDER BY id", args).fetchall()
        return [Subscription(*row) for row in rows]

    def concerned(self, article: str, reply_to: str) -> list[Subscription]:
        """The confirmed subscriptions a new entry in ``article`` (answering
        ``reply_to``) concerns."""
        rows = self.state.execute(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE article = ? AND confirmed IS NOT "
            "NULL AND (scope = 'all' OR (scope = 'replies' AND entry = ? AND entry != ''))"
            " ORDER BY id", (article, reply_to)).fetchall()
        return [Subscription(*row) for row in rows]

    def count_for(self, article: str, entry_id: str) -> tuple[int, int]:
        """Confirmed subscribers told about answers to ``entry_id``: (to this entry,
        to the whole thread)."""
        replies, thread = self.state.execute(
            "SELECT count(*) FILTER (WHERE scope = 'replies' AND entry = ?), count(*) FILTER "
            "(WHERE scope = 'all') FROM subscriptions WHERE article = ? AND confirmed IS NOT "
            "NULL", (entry_id, article)).fetchone()
        return int(replies), int(thread)

    def facts(self) -> dict[str, dict[str, int]]:
        """For the report: ``{"subscribed": {entry: 1}, "delivered": {entry: count}}``."""
        out: dict[str, dict[str, int]] = {"subscribed": {}, "delivered": {}}
        for entry, fact, count in self.state.execute(
                "SELECT entry, fact, count FROM notify_facts"):
            out.setdefault(fact, {})[entry] = int(count)
        return out


# -- the queue ------------------------------------------------------------------------------
@dataclass
class Mail:
    id: int
    kind: str
    email: str
    name: str
    article: str
    subscription: int
    entries: list[str]
    title: str
    permalink: str
    lang: str
    message_id: str
    status: str
    due: float
    attempts: int
    error: str
    created: float


_MAIL_COLUMNS = ", ".join(f.name for f in fields(Mail))


def _mail(row: tuple[Any, ...]) -> Mail:
    values = list(row)
    values[6] = json.loads(values[6] or "[]")
    return Mail(*values)


def _queue(db: Any, kind: str, sub: Subscription, entries: list[str], message_id: str,
           due: float, now: float) -> int:
    """A new queued row for ``sub``'s address and thread; returns its id."""
    return int(db.execute(
        "INSERT INTO outbox (kind, email, email_key, name, article, subscription, entries, "
        "title, permalink, lang, message_id, status, due, created) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,'queued',?,?) RETURNING id",
        (kind, sub.email, sub.key, sub.name, sub.article, sub.id, json.dumps(entries),
         sub.title, sub.permalink, sub.lang, message_id, due, now)).fetchone()[0])


class Outbox(Table):
    """The ``outbox`` table: mails to send, claimed atomically by any process."""

    def add_confirmation(self, sub: Subscription, message_id: str,
                         now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self.state.transaction() as db:
            return _queue(db, "confirm", sub, [], message_id, now, now)

    def add_notices(self, subs: list[Subscription], entry_id: str, author_key: str, *,
                    batch_seconds: float, make_id: Any, now: float | None = None) -> int:
        """Queue ``entry_id`` for each subscriber (one per address, never its author);
        joins a mail still waiting for the same address and thread. Returns how many
        subscribers it will reach."""
        now = time.time() if now is None else now
        reached = 0
        with self.state.transaction("outbox") as db:
            seen: set[str] = set()
            for sub in subs:
                key = sub.key
                if key in seen or (author_key and key == author_key):
                    continue
                seen.add(key)
                reached += 1
                row = db.execute(
                    "SELECT id, entries FROM outbox WHERE email_key = ? AND article = ? AND "
                    "kind = 'notify' AND status = 'queued' ORDER BY id LIMIT 1",
                    (key, sub.article)).fetchone()
                if row is not None:
                    entries = json.loads(row[1])
                    if entry_id not in entries:
                        entries.append(entry_id)
                        db.execute("UPDATE outbox SET entries = ? WHERE id = ?",
                                   (json.dumps(entries), row[0]))
                    continue
                _queue(db, "notify", sub, [entry_id], make_id(), now + batch_seconds, now)
        return reached

    def claim(self, *, limit: int, lease: float, now: float | None = None) -> list[Mail]:
        """Take up to ``limit`` due rows for this sender for ``lease`` seconds.

        Rows left in *sending* past their lease are marked *uncertain* here (never
        sent again, see the module's docstring); expired claims are taken again.
        """
        now = time.time() if now is None else now
        with self.state.transaction() as db:
            db.execute("UPDATE outbox SET status = 'uncertain', done = ?, error = "
                       "'the sender stopped while handing the mail over' "
                       "WHERE status = 'sending' AND lease < ?", (now, now))
            db.execute("DELETE FROM outbox WHERE status IN ('sent', 'failed', 'dropped') "
                       "AND done < ?", (now - KEEP_DONE,))
            ids = [row_id for (row_id,) in db.execute(
                "SELECT id FROM outbox WHERE (status = 'queued' AND due <= ?) OR "
                "(status = 'claimed' AND lease < ?) ORDER BY due, id LIMIT ?"
                + self.state.db.skip_locked,
                (now, now, limit))]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            db.execute(f"UPDATE outbox SET status = 'claimed', lease = ?, "
                       f"attempts = attempts + 1 WHERE id IN ({marks})", (now + lease, *ids))
            rows = db.execute(f"SELECT {_MAIL_COLUMNS} FROM outbox WHERE id IN ({marks}) "
                              "ORDER BY due, id", ids).fetchall()
        return [_mail(row) for row in rows]

    def sending(self, mail_id: int, lease: float, now: float | None = None) -> bool:
        """Mark a claimed row as being handed over now; False if the claim was lost."""
        now = time.time() if now is None else now
        with self.state.transaction() as db:
            return db.execute("UPDATE outbox SET status = 'sending', lease = ? WHERE id = ? "
                              "AND status = 'claimed'", (now + lease, mail_id)).rowcount > 0

    def sent(self, mail: Mail, delivered: list[str], now: float | None = None) -> None:
        """The server accepted the mail; counts the entries it carried for the report."""
        now = time.time() if now is None else now
        with self.state.transaction() as db:
            db.execute("UPDATE outbox SET status = 'sent', done = ?, error = '' WHERE id = ?",
                       (now, mail.id))
            for entry in delivered:
                db.execute("INSERT INTO notify_facts (entry, fact) VALUES (?, 'delivered') "
                           "ON CONFLICT (entry, fact) DO UPDATE SET count = notify_facts.count + 1",
                           (entry,))

    def drop(self, mail: Mail, why: str, now: float | None = None) -> None:
        """Nothing left to send (the answers were removed, the subscriber left)."""
        now = time.time() if now is None else now
        with self.state.transaction() as db:
            db.execute("UPDATE outbox SET status = 'dropped', done = ?, error = ? WHERE id = ?",
                       (now, why, mail.id))

    def failed(self, mail: Mail, error: str, *, retry_in: float | None,
               now: float | None = None) -> None:
        """The server refused or could not be reached: queue again later, or give up."""
        now = time.time() if now is None else now
        with self.state.transaction() as db:
            if retry_in is None:
                db.execute("UPDATE outbox SET status = 'failed', done = ?, error = ? "
                           "WHERE id = ?", (now, error[:500], mail.id))
            else:
                db.execute("UPDATE outbox SET status = 'queued', due = ?, error = ? "
                           "WHERE id = ?", (now + retry_in, error[:500], mail.id))

    def retry(self, mail_id: int, now: float | None = None) -> bool:
        """Queue a failed or uncertain mail again (by hand)."""
        now = time.time() if now is None else now
        with self.state.transaction() as db:
            return db.execute("UPDATE outbox SET status = 'queued', due = ?, attempts = 0 "
                              "WHERE id = ? AND status IN ('failed', 'uncertain')",
                              (now, mail_id)).rowcount > 0

    def listing(self, status: str = "") -> list[Mail]:
        where, args = (" WHERE status = ?", (status,)) if status else ("", ())
        return [_mail(row) for row in self.state.execute(
            f"SELECT {_MAIL_COLUMNS} FROM outbox{where} ORDER BY id", args)]

    def next_due(self) -> float | None:
        row = self.state.execute(
            "SELECT min(due) FROM outbox WHERE status = 'queued'").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def of_address(self, email: str) -> list[Mail]:
        return [_mail(row) for row in self.state.execute(
            f"SELECT {_MAIL_COLUMNS} FROM outbox WHERE email_key = ? ORDER BY id",
            (email_key(email),))]
