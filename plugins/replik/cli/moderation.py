"""Moderation from the command line: list, show, approve, spam, ham, trash, restore,
delete, reply, edit."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from ..moderation import Moderation, Outcome
from ..render import count_links
from ..settings import Settings
from ..store import STATES, TYPES, Entry, StoreError
from ..storespec import open_store
from . import load, rebuild

#: What ``list --json`` and ``show`` print of an entry, in this order (and its extra headers).
_FIELDS = ("id", "state", "article", "type", "date", "author", "url", "reply_to", "staff",
           "title", "source", "spam_verdict", "spam_reason", "body", "email", "ip",
           "user_agent", "referrer")


def entry_dict(entry: Entry) -> dict[str, Any]:
    """An entry as JSON-ready data, private fields included."""
    data = {name: getattr(entry, name) for name in _FIELDS}
    data["date"] = entry.date.isoformat()
    if entry.extra:
        data["extra"] = dict(entry.extra)
    return data


def _zone(settings: Settings) -> tuple[str, ZoneInfo]:
    """The site's TIMEZONE: every time the commands print is in it (the store keeps
    each entry's own offset: UTC from the server, the original one from imports)."""
    name = settings.timezone
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC", ZoneInfo("UTC")


def _local(when: datetime | str, zone: ZoneInfo) -> datetime | str:
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            return when
    return when.astimezone(zone) if when.tzinfo else when


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _rebuild_hint(ctx: click.Context, build: bool) -> None:
    from ..rebuild import separate_worker
    from ..state import open_state

    settings = load(ctx)
    if separate_worker(settings) and settings.rebuild:  # `replik worker` puts it live
        open_state(settings).rebuilds.put()
        click.echo("A rebuild is queued: `replik worker` puts the change on the site.",
                   err=True)
        return
    rebuild(ctx, build, hint="Run `make html` (or repeat with --build) to put the change on"
            " the site.", kept="the decision is kept")


@click.command("list")
@click.option("--state", type=click.Choice([*STATES, "all"]), default="pending", show_default=True)
@click.option("--article", default="", help="Only entries of this article slug.")
@click.option("--type", "entry_type", type=click.Choice(TYPES), help="Only this type.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_cmd(ctx: click.Context, state: str, article: str, entry_type: str | None, limit: int,
             as_json: bool) -> None:
    """The moderation queue (pending entries by default), newest first; times in the
    site's TIMEZONE."""
    settings = load(ctx)
    store = open_store(settings)
    states = STATES if state == "all" else (state,)
    entries = [e for s in states for e in store.entries(s, article)
               if not entry_type or e.type == entry_type]
    entries.sort(key=lambda e: (e.date, e.id), reverse=True)
    entries = entries[:limit] if limit > 0 else entries
    if as_json:
        click.echo(json.dumps([entry_dict(e) for e in entries], ensure_ascii=False, indent=2))
        return
    if not entries:
        click.echo(f"No {state if state != 'all' else ''} entries.".replace("  ", " "))
        return
    zone_name, zone = _zone(settings)
    date_head = f"DATE ({zone_name})"
    width = max(16, len(date_head))
    click.echo(f"{'ID':<31} {'STATE':<8} {'TYPE':<10} {date_head:<{width}} {'ARTICLE':<22} "
               f"{'AUTHOR':<18} TEXT")
    for e in entries:
        who = e.title or e.author if e.is_linkback else e.author
        when = f"{_local(e.date, zone):%Y-%m-%d %H:%M}"
        click.echo(
            f"{e.id:<31} {e.state:<8} {e.type:<10} {when:<{width}} "
            f"{_one_line(e.article, 22):<22} {_one_line(who, 18):<18} {_one_line(e.body, 40)}"
        )


@click.command("show")
@click.argument("entry_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show_cmd(ctx: click.Context, entry_id: str, as_json: bool) -> None:
    """Everything about one entry, with its audit trail (times in the site's TIMEZONE)."""
    settings = load(ctx)
    store = open_store(settings)
    entry = store.get(entry_id)
    trail = list(store.audit_trail(entry_id))
    if as_json:
        click.echo(json.dumps({**entry_dict(entry), "audit": trail}, ensure_ascii=False, indent=2))
        return
    zone_name, zone = _zone(settings)
    rows = entry_dict(entry)
    rows.pop("body")
    rows["date"] = f"{_local(entry.date, zone).isoformat(sep=' ')} ({zone_name})"
    extra = rows.pop("extra", {})
    rows["links"] = count_links(entry.body)
    for key, value in rows.items():
        if value not in ("", None, False):
            click.echo(f"{key + ':':<14} {value}")
    for key, value in extra.items():
        click.echo(f"{key + ':':<14} {value}")
    click.echo("")
    click.echo(entry.body)
    if trail:
        click.echo("")
        click.echo(f"History ({zone_name}):")
        for item in trail:
            when = _local(item.get("time") or "", zone)
            shown = when.isoformat(sep=" ") if isinstance(when, datetime) else when
            click.echo(f"  {shown}  {item['actor']}: {item['action']} "
                       f"{item.get('from') or '-'} → {item.get('to') or '-'}")


def _report(outcomes: list[Outcome], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([
            {"id": o.entry.id, "action": o.action, "from": o.from_state, "to": o.to_state,
             "note": o.note} for o in outcomes
        ], ensure_ascii=False, indent=2))
        return
    for o in outcomes:
        line = f"{o.entry.id}: {o.from_state or 'new'} → {o.to_state}"
        click.echo(line + (f" ({o.note})" if o.note else ""))


def _decision_command(action: str, help_text: str) -> click.Command:
    @click.command(action, help=help_text)
    @click.argument("entry_ids", nargs=-1, required=True, metavar="ID...")
    @click.option("--as", "actor", default="cli", show_default=True,
                  help="Who decides (for the audit log).")
    @click.option("--build", is_flag=True, help="Rebuild the site afterwards.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_context
    def command(ctx: click.Context, entry_ids: tuple[str, ...], actor: str, build: bool,
                as_json: bool) -> None:
        # Oldest first (ids sort by time): a comment is approved before its replies.
        _decide_each(ctx, Moderation(load(ctx), actor), action, sorted(dict.fromkeys(entry_ids)),
                     as_json, build, hint=build or not as_json)

    return command


def _decide_each(ctx: click.Context, moderation: Moderation, action: str, entry_ids: list[str],
                 as_json: bool, build: bool, hint: bool) -> None:
    """``action`` on each entry, from its current state; report, then rebuild (or say how
    to) when ``hint`` and anything changed. Exits 1 if any entry failed."""
    outcomes, failures = [], []
    for entry_id in entry_ids:
        try:
            outcomes.append(moderation.decide(action, entry_id))
        except StoreError as exc:
            failures.append(str(exc))
    _report(outcomes, as_json)
    for failure in failures:
        click.echo(f"Error: {failure}", err=True)
    if outcomes and hint:
        _rebuild_hint(ctx, build)
    if failures:
        ctx.exit(1)


@click.command("delete")
@click.argument("entry_ids", nargs=-1, required=True, metavar="ID...")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--as", "actor", default="cli", show_default=True)
@click.option("--build", is_flag=True, help="Rebuild the site afterwards.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def delete_cmd(ctx: click.Context, entry_ids: tuple[str, ...], yes: bool, actor: str,
               build: bool, as_json: bool) -> None:
    """Delete entries permanently (asks first unless --yes)."""
    moderation = Moderation(load(ctx), actor)
    missing = [i for i in entry_ids if moderation.store.find(i) is None]
    if missing:
        raise click.ClickException(
            "no entry with id " + ", ".join(missing) + " in the comment store; nothing deleted")
    if not yes:
        click.confirm(f"Delete {len(entry_ids)} entr{'y' if len(entry_ids) == 1 else 'ies'} "
                      "for ever?", abort=True)
    _decide_each(ctx, moderation, "delete", list(entry_ids), as_json, build, hint=not as_json)


@click.command("reply")
@click.argument("entry_id")
@click.option("--text", help="The answer (Markdown). Without it, $EDITOR opens.")
@click.option("--as", "actor", default="cli", show_default=True,
              help="Who answers (for the audit log).")
@click.option("--name", default=None, help="Name shown with the answer (default: the --as"
              " moderator's REPLIK_MODERATOR_NAMES entry, else REPLIK_STAFF_NAME, else"
              " AUTHOR).")
@click.option("--build", is_flag=True, help="Rebuild the site afterwards.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def reply_cmd(ctx: click.Context, entry_id: str, text: str | None, actor: str, name: str | None,
              build: bool, as_json: bool) -> None:
    """Answer an entry as staff; the answer is approved at once."""
    moderation = Moderation(load(ctx), actor)
    if text is None:
        text = click.edit("\n# Write your answer above. Lines starting with # are dropped.\n")
        text = "\n".join(ln for ln in (text or "").splitlines() if not ln.startswith("#"))
    outcome = moderation.reply(entry_id, text, author=name)
    _report([outcome], as_json)
    if not as_json:
        _rebuild_hint(ctx, build)


@click.command("edit")
@click.argument("entry_id")
@click.option("--text", help="The new text; without it, $EDITOR opens with the current text.")
@click.option("--as", "actor", default="cli", show_default=True)
@click.option("--build", is_flag=True, help="Rebuild the site afterwards.")
@click.pass_context
def edit_cmd(ctx: click.Context, entry_id: str, text: str | None, actor: str,
             build: bool) -> None:
    """Edit an entry's text (opens $EDITOR)."""
    moderation = Moderation(load(ctx), actor)
    if text is None:
        text = click.edit(moderation.store.get(entry_id).body, extension=".md")
        if text is None:
            click.echo("No change.")
            return
    outcome = moderation.edit(entry_id, text)
    if outcome.note == "unchanged":
        click.echo("No change.")
        return
    _report([outcome], False)
    _rebuild_hint(ctx, build)


commands: list[click.Command] = [
    list_cmd,
    show_cmd,
    _decision_command("approve", "Approve entries: they appear on the site after a rebuild."),
    _decision_command("spam", "Mark entries as spam (and tell Akismet: submit-spam)."),
    _decision_command("ham", "Mark entries as not spam: back to pending (Akismet: submit-ham)."),
    _decision_command("trash", "Move entries to the trash."),
    _decision_command("restore", "Take entries out of the trash, back to where they were."),
    delete_cmd,
    reply_cmd,
    edit_cmd,
]
