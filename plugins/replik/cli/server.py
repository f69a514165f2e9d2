"""``replik serve`` (the built site plus the app, locally) and ``replik recheck``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import Flask

from ..settings import Settings
from . import load


def protections(settings: Settings) -> list[str]:
    from .. import notify, spam

    lines = spam.describe(settings)
    lines.append(f"Email to moderators: {notify.mail_status(settings)}")
    webhook = settings.webhook_url
    lines.append(f"Webhook: {'on: ' + str(webhook) if webhook else 'off (REPLIK_WEBHOOK_URL)'}")
    lines.append("Origin check: comments only from " + (settings.siteurl or
                                                             "this server's own address"))
    return lines


def _is_local(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return not url or host in ("127.0.0.1", "localhost", "::1")


LOCAL_MODERATOR = "redaktion"
LOCAL_PASSWORD_ENV = "REPLIK_PASSWORD_LOCAL_SERVE"


def local_moderator(settings: Settings, host: str) -> tuple[str, str] | None:
    """With no moderator configured, make one account for this local run only.

    Only on a loopback address: the password is random, printed once at start, and
    lives in this process's environment, never in a file.
    """
    from ..server.auth import accounts, make_hash

    if accounts(settings) or host not in ("127.0.0.1", "localhost", "::1"):
        return None
    password = secrets.token_urlsafe(12)
    # In the environment, so that --reload's server process inherits the same account.
    os.environ[LOCAL_PASSWORD_ENV] = make_hash(password)
    os.environ["REPLIK_MODERATORS"] = f"{LOCAL_MODERATOR}:{LOCAL_PASSWORD_ENV}"
    return LOCAL_MODERATOR, password


def build_local_app(settings: Settings) -> Flask:
    from ..server import site
    from ..server.app import create_app

    app = create_app(settings=settings)
    app.register_blueprint(site.bp)
    return app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--reload", is_flag=True, help="Restart when the Python code changes.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, reload: bool) -> None:
    """Serve the built site, the comment intake and the moderation desk on one port.

    For local use: embedded defaults, no Akismet key and no mail server needed.
    In production run the app with gunicorn behind a web server (see docs/intake.md).
    """
    from werkzeug.serving import run_simple

    settings = load(ctx)
    base = f"http://{host}:{port}"
    if _is_local(settings.siteurl):
        # A local SITEURL means "this server": follow --host/--port (origin check, links).
        settings = settings.replace(SITEURL=base, FEED_DOMAIN=base)
    if not os.environ.get("REPLIK_SECRET_KEY"):
        # One process: a key made now signs sessions and links until it stops.
        os.environ["REPLIK_SECRET_KEY"] = secrets.token_hex(32)
    local_login = local_moderator(settings, host)
    output = Path(settings.output_path)
    if not (output / "index.html").is_file():
        click.echo(f"Note: {output}/index.html is missing; build the site first (make html).")
    app = build_local_app(settings)
    click.echo(f"Replik serving {output}/ and the comment app on {base}/")
    for line in protections(settings):
        click.echo(f"  {line}")
    click.echo(f"  Comment form posts to {base}{settings.intake_url}")
    desk = f"{base}{settings.desk_path}"
    if local_login:
        click.echo(f"  Moderation desk: {desk} — log in as {local_login[0]!r} with password "
                   f"{local_login[1]} (made for this run only; set REPLIK_MODERATORS for real"
                   " accounts, see README)")
    else:
        click.echo(f"  Moderation desk: {desk}")
    run_simple(host, port, app, use_reloader=reload, threaded=True)


@click.command()
@click.option("--all", "include_all", is_flag=True,
              help="Check every pending entry, not only those marked unchecked.")
@click.pass_context
def recheck(ctx: click.Context, include_all: bool) -> None:
    """Ask Akismet again about pending entries it could not check before."""
    from ..spam import akismet_client
    from ..spam import recheck as run_recheck

    settings = load(ctx)
    client, status = akismet_client(settings)
    if client is None:
        raise click.ClickException(f"Akismet is {status}; nothing can be rechecked")
    results = run_recheck(settings, include_all_pending=include_all)
    if not results:
        click.echo("Nothing to recheck.")
        return
    for item in results:
        click.echo(f"{item.entry_id}  {item.verdict:9}  -> {item.moved_to:7}  {item.reason}")
    moved = sum(1 for r in results if r.moved_to == "spam")
    still = sum(1 for r in results if r.verdict == "unchecked")
    click.echo(f"{len(results)} checked, {moved} moved to spam, {still} still unchecked.")


commands: list[click.Command] = [serve, recheck]
