"""Desk commands: ``replik passwd NAME`` and ``replik report``."""

from __future__ import annotations

import csv
import io
import json
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from ..report import MAX_PERIOD, TABLE_COLUMNS, DayOutOfRange, build_report, parse_day
from . import load


@click.command("passwd")
@click.argument("name")
@click.pass_context
def passwd(ctx: click.Context, name: str) -> None:
    """Make a password hash for moderator NAME.

    Put the printed hash into the environment variable that REPLIK_MODERATORS
    names for NAME, e.g. REPLIK_MODERATORS = {"anna": "REPLIK_PASSWORD_ANNA"}
    and REPLIK_PASSWORD_ANNA='<hash>'. The password itself is stored nowhere.
    """
    from ..server.auth import make_hash, moderator_variables

    password = click.prompt(f"Password for {name}", hide_input=True,
                            confirmation_prompt=True)
    if len(password) < 10:
        raise click.ClickException("use at least 10 characters for a moderator password")
    click.echo(make_hash(password))
    variable = None
    with suppress(click.ClickException):  # no usable settings: the generic hint
        variable = moderator_variables(load(ctx)).get(name)
    hint = f"export {variable}='<the hash above>'" if variable else \
        f'add "{name}": "REPLIK_PASSWORD_{name.upper()}" to REPLIK_MODERATORS in pelicanconf.py'
    click.echo(f"Next: {hint}", err=True)


def _day(value: str | None, end: bool, default: datetime) -> datetime:
    if not value:
        return default
    try:
        return parse_day(value, end=end)
    except DayOutOfRange:
        raise click.BadParameter(f"{value!r} is outside the years 2 to 9998") from None
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-03-31") from None


def _csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    keys = [key for key, _label, _show in TABLE_COLUMNS]
    writer.writerow(["article", *keys, "unanswered"])
    for name, figures in [("(all)", report["overall"]), *report["articles"].items()]:
        writer.writerow([name, *("" if figures[k] is None else figures[k] for k in keys),
                         len(figures["unanswered"])])
    return out.getvalue()


def _table(report: dict[str, Any]) -> str:
    header = ["article", *(label for _key, label, _show in TABLE_COLUMNS), "waiting"]
    rows = [[name, *(show(figures[key]) for key, _label, show in TABLE_COLUMNS),
             str(len(figures["unanswered"]))]
            for name, figures in [("(all)", report["overall"]), *report["articles"].items()]]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                       for i, cell in enumerate(row)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    unanswered = report["overall"]["unanswered"]
    if unanswered:
        lines += ["", f"Without a staff answer after {report['answer_within_hours']:g} hours"
                      " (oldest first):"]
        lines += [f"  {u['date'][:16]}  {u['article']}  {u['author'] or '?'}: {u['excerpt'][:60]}"
                  f"  [{u['id']}]" for u in unanswered]
    return "\n".join(lines)


@click.command("report")
@click.option("--since", help="First day (YYYY-MM-DD); default: 28 days ago.")
@click.option("--until", help="Last day, included (YYYY-MM-DD); default: now.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times in seconds).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (times in seconds).")
@click.pass_context
def report(ctx: click.Context, since: str | None, until: str | None, as_json: bool,
           as_csv: bool) -> None:
    """The dialogue report: received, decided and answered entries, overall and per
    article, for the entries that arrived in the period."""
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    now = datetime.now(UTC)
    start = _day(since, False, now - timedelta(days=28))
    end = _day(until, True, now + timedelta(seconds=1))
    if end <= start:
        raise click.BadParameter("--until must not come before --since")
    if end - start > MAX_PERIOD:
        raise click.BadParameter("a report covers at most 100 years")
    data = build_report(load(ctx), start, end, now=now)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif as_csv:
        click.echo(_csv(data), nl=False)
    else:
        click.echo(f"Dialogue report {start:%Y-%m-%d} – {(end - timedelta(seconds=1)):%Y-%m-%d}")
        click.echo(_table(data))


commands: list[click.Command] = [passwd, report]
