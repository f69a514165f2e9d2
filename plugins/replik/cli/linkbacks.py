"""``replik linkbacks``: send our pingbacks/webmentions, work the webmention queue."""

from __future__ import annotations

import click

from . import load


@click.group("linkbacks")
def linkbacks() -> None:
    """Send linkbacks for our posts and verify received webmentions."""


@linkbacks.command("send")
@click.option("--dry-run", is_flag=True,
              help="Only list which source -> target pairs would be notified; send nothing.")
@click.pass_context
def send_command(ctx: click.Context, dry_run: bool) -> None:
    """Notify the posts our articles link to (webmention, else pingback).

    Only new or changed articles are handled; what was sent is remembered in
    the state file (comments/state.sqlite3), so running this again sends nothing twice.
    A post published before and gone now (deleted) has its webmentions sent
    once more: its address answers 410 Gone, so the receivers delete them.
    """
    from ..linkbacks import send

    settings = load(ctx)

    def show(outcome: send.Outcome) -> None:
        arrow = f"{outcome.source} -> {outcome.target}"
        if outcome.kind == "planned":
            click.echo(f"would notify {arrow}" + (" (post deleted: tell the receiver)"
                       if outcome.deleted else " (link removed: tell the receiver)"
                       if outcome.removed else ""))
            return
        status = "ok" if outcome.ok else "FAILED"
        via = f"{outcome.kind} {outcome.endpoint}".strip()
        click.echo(f"{status:6} {arrow}{' (post deleted)' if outcome.deleted else ''}"
                   f" via {via}: {outcome.detail}")

    try:
        outcomes = send.run(settings, dry_run=dry_run, progress=show)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not outcomes:
        click.echo("Nothing to send: every post's links have been notified.")
    elif dry_run:
        click.echo(f"{len(outcomes)} notification(s) would be sent (dry run).")
    else:
        failed = sum(not o.ok for o in outcomes)
        click.echo(f"{len(outcomes) - failed} handled, {failed} failed"
                   + (" (they are tried again next time)" if failed else "") + ".")
        if failed:
            ctx.exit(1)


@linkbacks.command("work")
@click.pass_context
def work_command(ctx: click.Context) -> None:
    """Verify the queued webmentions now (the server also does this in the background)."""
    from ..linkbacks import webmention
    from ..linkbacks.receive import Receiver
    from ..state import open_state

    settings = load(ctx)
    queue = open_state(settings).webmentions
    results = webmention.work(Receiver(settings), queue)
    for job, outcome in results:
        click.echo(f"{job.source} -> {job.target}: {outcome}")
    click.echo(f"{len(results)} webmention(s) processed, {len(queue)} waiting for a retry.")


commands: list[click.Command] = [linkbacks]
