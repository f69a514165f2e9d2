"""``replik worker``: rebuild requests, webmention verification and mail (worker.py)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import click

from . import load


@click.command("worker")
@click.option("--once", is_flag=True, help="Do what is queued, then exit (tests, cron).")
@click.option("--settings", "settings_path", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The blog's Pelican configuration file (as `replik --settings`).")
@click.pass_context
def worker(ctx: click.Context, once: bool, settings_path: Path | None) -> None:
    """Run the background jobs: approve-to-live rebuilds (and the publish hook),
    webmention verification and the readers' mail.

    Needed when the server does not run them itself: with REPLIK_DATABASE_URL (or
    REPLIK_WORKER = True). Any number of workers may run at once; none does a job
    another one does. Stops cleanly on SIGTERM, after the job at hand.
    """
    from ..worker import Worker

    if settings_path is not None:
        ctx.find_root().obj["settings_path"] = settings_path
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    runner = Worker(load(ctx))
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, runner.stop)
    if once:
        click.echo(f"{runner.drain()} jobs done.", err=True)
        if runner.failures:
            raise click.ClickException("the rebuild failed (see above); it stays queued")
        return
    click.echo("replik worker: running (SIGTERM stops it)", err=True)
    runner.run()
    click.echo("replik worker: stopped", err=True)


commands = [worker]
