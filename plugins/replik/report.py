"""The dialogue report: how well does the team keep the conversation going?

For a period [since, until) -- entries counted by their arrival date -- overall,
per article and per week:

- ``received``: entries by type (staff answers are not "received");
- ``approved`` / ``spam`` / ``trash`` / ``pending``: where those entries are now;
- ``decision_median``: median seconds from arrival to the first moderator
  decision in the audit log (entries filed at intake without one are left out);
- ``answer_share``: of the approved reader comments, the share with a staff reply;
- ``answer_median`` / ``answer_p90``: seconds from a reader comment to its first
  staff reply (p90 by the nearest-rank method: the smallest value with at least
  90 % of the values at or below it);
- ``staff_answers`` / ``answers_delivered``: approved staff answers, and those
  that reached a subscribed reader by mail (reply notifications);
- ``subscribed`` / ``subscribed_share``: approved reader comments whose author
  confirmed a reply subscription, and their share;
- ``unanswered``: approved reader comments without a staff reply that are older
  than ``REPLIK_ANSWER_WITHIN`` hours, oldest first.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from babel.numbers import format_decimal

from .render import as_aware
from .settings import Settings
from .storespec import STATES, TYPES, CommentStore, Entry, StoreError, open_store

DECISIONS = ("approve", "spam", "trash", "delete")
#: The period a report covers when none is given.
DEFAULT_DAYS = 28


# -- reading the store fast ------------------------------------------------------
class EntryCache:
    """Every entry of a store, reading again only those whose stamp changed since
    last time (``entry_stamps``)."""

    #: More changed entries than this are read in one pass over the store.
    MANY = 20

    def __init__(self, store: CommentStore) -> None:
        self.store = store
        self._read: dict[str, tuple[tuple[str, Hashable], Entry]] = {}

    def entries(self) -> list[Entry]:
        stamps = self.store.entry_stamps()
        changed = {i for i, stamp in stamps.items()
                   if i not in self._read or self._read[i][0] != stamp}
        if len(changed) > self.MANY:
            found = (e for e in self.store.all_entries() if e.id in changed)
        else:
            found = filter(None, map(self._find, changed))
        fresh = {i: item for i, item in self._read.items() if i in stamps and i not in changed}
        # An entry changed again since its stamp was taken is read again next time.
        fresh.update((e.id, (stamps[e.id], e)) for e in found)
        self._read = fresh
        return [item[1] for item in fresh.values()]

    def _find(self, entry_id: str) -> Entry | None:
        try:
            return self.store.find(entry_id)
        except StoreError:
            return None  # an entry that cannot be read is left out, as all_entries does


_caches: dict[str, EntryCache] = {}


def entry_cache(settings: Settings) -> EntryCache:
    store = open_store(settings)
    return _caches.setdefault(store.location, EntryCache(store))


# -- figures -------------------------------------------------------------------------
def median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)])


def _parse_time(text: str) -> datetime | None:
    try:
        return as_aware(datetime.fromisoformat(text))
    except (TypeError, ValueError):
        return None


@dataclass
class Facts:
    """What the report needs to know about one received entry."""

    entry: Entry
    decided: float | None  # seconds from arrival to the first decision
    answered: float | None  # seconds from arrival to the first staff reply


def _figures(items: list[Facts], unanswered_before: datetime, staff: list[Entry] | None = None,
             subscribed: frozenset[str] = frozenset(),
             delivered: dict[str, int] | None = None) -> dict[str, Any]:
    received = Counter(f.entry.type for f in items)
    states = Counter(f.entry.state for f in items)
    # Reader comments: the items hold no staff entry.
    readers = [f for f in items if f.entry.type == "comment" and f.entry.state == "approved"]
    answered = [f.answered for f in readers if f.answered is not None]
    subscribers = sum(1 for f in readers if f.entry.id in subscribed)
    unanswered = sorted((f.entry for f in readers
                         if f.answered is None and f.entry.date < unanswered_before),
                        key=lambda e: (e.date, e.id))

    def share(count: int) -> float | None:
        return count / len(readers) if readers else None

    return {
        "received": {t: received.get(t, 0) for t in TYPES},
        "received_total": len(items),
        **{state: states.get(state, 0) for state in STATES},
        "decision_median": median([f.decided for f in items if f.decided is not None]),
        "reader_comments_approved": len(readers),
        "answered": len(answered),
        "answer_share": share(len(answered)),
        "answer_median": median(answered),
        "answer_p90": p90(answered),
        # Reply notifications: staff answers (approved, in the period) that a
        # subscribed reader was mailed, and reader comments whose author subscribed.
        "staff_answers": len(staff or ()),
        "answers_delivered": sum(1 for e in staff or () if (delivered or {}).get(e.id)),
        "subscribed": subscribers,
        "subscribed_share": share(subscribers),
        "unanswered": [
            {"id": e.id, "article": e.article, "author": e.author,
             "date": e.date.isoformat(), "excerpt": " ".join(e.body.split())[:140]}
            for e in unanswered
        ],
    }


def week_start(when: datetime) -> datetime:
    day = when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _grouped(items: list[Any], key: Callable[[Any], Any]) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def build_report(
    settings: Settings, since: datetime, until: datetime,
    now: datetime | None = None, entries: list[Entry] | None = None,
) -> dict[str, Any]:
    """The dialogue report for entries that arrived in [since, until)."""
    now = now or datetime.now(UTC)
    if entries is None:
        entries = entry_cache(settings).entries()
    first_decision: dict[str, datetime] = {}
    for item in open_store(settings).audit_trail():
        if item.get("action") in DECISIONS and item.get("from") == "pending":
            when = _parse_time(str(item.get("time", "")))
            if when is not None and item.get("entry") not in first_decision:
                first_decision[str(item["entry"])] = when
    first_reply: dict[str, datetime] = {}
    for entry in entries:
        if entry.staff and entry.reply_to and entry.state == "approved":
            known = first_reply.get(entry.reply_to)
            if known is None or entry.date < known:
                first_reply[entry.reply_to] = entry.date

    def after(when: datetime | None, entry: Entry) -> float | None:
        return (when - entry.date).total_seconds() if when else None

    received = [e for e in entries if since <= e.date < until]
    facts = [Facts(e, after(first_decision.get(e.id), e), after(first_reply.get(e.id), e))
             for e in received if not e.staff]
    staff = [e for e in received if e.staff and e.state == "approved"]
    within = settings.answer_within
    before = now - timedelta(hours=within)
    per_week = _grouped(facts, lambda f: week_start(f.entry.date))
    staff_per_article = _grouped(staff, lambda e: e.article)
    from .state import open_state

    try:  # which comments' authors subscribed, which answers were mailed (state)
        notified = open_state(settings).subscriptions.facts()
    except Exception:  # noqa: BLE001 - a report without these figures, never none
        notified = {}
    mail = {"subscribed": frozenset(notified.get("subscribed", {})),
            "delivered": notified.get("delivered", {})}
    weeks = []
    start = week_start(since)
    while start < until:
        figures = _figures(per_week.get(start, []), before)
        weeks.append({"week": start.date().isoformat(),
                      **{key: figures[key] for key in ("reader_comments_approved",
                                                       "answer_share", "answer_median")}})
        start += timedelta(days=7)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "answer_within_hours": within,
        "overall": _figures(facts, before, staff, **mail),
        "articles": {slug: _figures(items, before, staff_per_article.get(slug), **mail)
                     for slug, items in sorted(_grouped(facts, lambda f: f.entry.article).items())},
        "weeks": weeks,
    }


def default_period(entries: list[Entry], now: datetime,
                   days: int = DEFAULT_DAYS) -> tuple[datetime, datetime, bool]:
    """The period a report shows when none is asked for: the last ``days`` days, or,
    when nothing arrived in them (a blog that is quiet, or sample data from long
    ago), the ``days`` days up to the newest entry. The flag says which."""
    since, until = now - timedelta(days=days), now + timedelta(seconds=1)
    received = [e.date for e in entries if not e.staff]
    if not received or any(since <= when < until for when in received):
        return since, until, False
    newest = max(received).astimezone(UTC)
    until = newest.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return until - timedelta(days=days), until, True


#: The longest period a report covers (a week's row each: a bound on the work).
MAX_PERIOD = timedelta(days=36525)


class DayOutOfRange(ValueError):
    """A day too close to the calendar's ends (years 1 and 9999) for a report."""


def parse_day(text: str, end: bool = False) -> datetime:
    """``2026-03-01`` (or a full ISO time) as an aware datetime; raises ValueError,
    also for a day at the calendar's edge that the period cannot reach past."""
    when = as_aware(datetime.fromisoformat(text.strip()))
    try:
        if end and len(text.strip()) == 10:
            when += timedelta(days=1)  # --until 2026-03-31 includes that day
        week_start(when - timedelta(days=7))  # the weeks are counted in UTC from Mondays
        week_start(when + timedelta(days=7))
    except OverflowError:  # 9999-12-31 (+1 day), 0001-01-01 (its week's Monday)
        raise DayOutOfRange(f"{text.strip()!r} is too close to the end of the calendar") from None
    return when


def hours(seconds: float | None, locale: str = "en") -> str:
    """A duration for people in ``locale``: "45 min", "3.5 h", "2.0 d" ("3,5 h" in German)."""
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{format_decimal(round(seconds / 60), locale=locale)} min"
    if seconds < 48 * 3600:
        return f"{format_decimal(seconds / 3600, format='0.0', locale=locale)} h"
    return f"{format_decimal(seconds / 86400, format='0.0', locale=locale)} d"


def percent(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.0f} %"


#: The command line's table and CSV: (key, heading, how the table shows it).
TABLE_COLUMNS = (
    ("received_total", "received", str), ("approved", "approved", str), ("spam", "spam", str),
    ("trash", "trashed", str), ("pending", "pending", str),
    ("decision_median", "to decision", hours), ("answer_share", "answered", percent),
    ("answer_median", "answer median", hours), ("answer_p90", "answer p90", hours),
    ("answers_delivered", "mailed", str), ("subscribed_share", "subscribed", percent),
)
