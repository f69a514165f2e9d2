"""Reply notifications on the command line: ``replik subscriptions list|remove`` and
``replik mail send|list|retry`` (the outgoing queue; ``send`` is for cron)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from . import load


def _state(ctx: click.Context):  # noqa: ANN202 - State, imported late
    from ..state import open_state

    return open_state(load(ctx))


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M")


@click.group("subscriptions")
def subscriptions_group() -> None:
    """Readers' reply subscriptions (personal data: addresses)."""


@subscriptions_group.command("list")
@click.option("--email", default="", help="Only this address.")
@click.option("--article", default="", help="Only this post (slug).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def subscriptions_list(ctx: click.Context, email: str, article: str, as_json: bool) -> None:
    """List subscriptions (confirmed, and requests whose link is still valid)."""
    found = _state(ctx).subscriptions.listing(email=email, article=article)
    if as_json:
        click.echo(json.dumps([s.as_json() for s in found], ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo("No subscriptions.")
        return
    for sub in found:
        what = f"replies to {sub.entry}" if sub.scope == "replies" else "every new entry"
        status = f"confirmed {_when(sub.confirmed)}" if sub.confirmed else "unconfirmed"
        click.echo(f"{sub.id:>6}  {sub.email}  {sub.article}  {what}  ({status})")


@subscriptions_group.command("remove")
@click.argument("ids", nargs=-1, type=int)
@click.option("--email", default="", help="Remove every subscription of this address.")
@click.pass_context
def subscriptions_remove(ctx: click.Context, ids: tuple[int, ...], email: str) -> None:
    """Remove subscriptions by id (see ``list``), or all of an address with --email."""
    state = _state(ctx)
    if not ids and not email:
        raise click.UsageError("give subscription ids or --email")
    removed = sum(1 for sub_id in ids if state.subscriptions.remove(sub_id))
    missing = len(ids) - removed
    if email:
        removed += state.subscriptions.forget(email)
    click.echo(f"Removed {removed} subscriptions.")
    if missing:
        raise click.ClickException(f"{missing} of the given ids do not exist")


@click.group("mail")
def mail_group() -> None:
    """The outgoing mail queue of reply notifications."""


@mail_group.command("send")
@click.pass_context
def mail_send(ctx: click.Context) -> None:
    """Send every mail that is due now (run it from cron, or let ``replik serve`` do it)."""
    from .. import notify
    from ..reader_mail import deliver

    if not notify.smtp_enabled():
        raise click.ClickException("REPLIK_SMTP_HOST is not set: no mail can be sent")
    counts = deliver(load(ctx))
    click.echo(", ".join(f"{value} {key}" for key, value in counts.items()))


@mail_group.command("list")
@click.option("--status", default="", help="queued, claimed, sending, sent, failed, "
                                            "uncertain or dropped.")
@click.pass_context
def mail_list(ctx: click.Context, status: str) -> None:
    """List the queue (sent and failed mails are kept for 14 days)."""
    mails = _state(ctx).outbox.listing(status)
    if not mails:
        click.echo("The queue is empty.")
    for mail in mails:
        extra = f"  {mail.error}" if mail.error else ""
        click.echo(f"{mail.id:>6}  {mail.status:<9} {mail.kind:<7} {mail.email}  {mail.article}"
                   f"  due {_when(mail.due)}  tries {mail.attempts}{extra}")


@mail_group.command("retry")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.pass_context
def mail_retry(ctx: click.Context, ids: tuple[int, ...]) -> None:
    """Queue failed or uncertain mails again (an uncertain one may then arrive twice)."""
    retry = _state(ctx).outbox.retry
    refused = [str(mail_id) for mail_id in ids if not retry(mail_id)]
    click.echo(f"Queued {len(ids) - len(refused)} mails again.")
    if refused:
        raise click.ClickException("not failed or uncertain, or no such mail: "
                                   + ", ".join(refused))


commands: list[click.Command] = [subscriptions_group, mail_group]
