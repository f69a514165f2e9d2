"""The ``replik`` command line: moderation and maintenance.

Each feature keeps its commands in its own module of this package; they are
collected here. ``load(ctx)`` is the one way a command gets the blog's settings.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from ..settings import Settings
from ..storespec import StoreError, open_store


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except StoreError as exc:  # a missing entry, a refused change: the message says it
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--settings", "settings_path", default="pelicanconf.py", show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The blog's Pelican configuration file.",
)
@click.pass_context
def main(ctx: click.Context, settings_path: Path) -> None:
    """Replik: moderate comments, pingbacks and webmentions of a Pelican blog."""
    ctx.obj = {"settings_path": settings_path}


def load(ctx: click.Context) -> Settings:
    """The blog's settings (read once per command)."""
    obj = ctx.find_root().obj
    if "settings" not in obj:
        from ..settings import load_settings

        try:
            obj["settings"] = load_settings(obj["settings_path"])
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from None
        except SyntaxError as exc:
            raise click.ClickException(
                f"{exc.filename}, line {exc.lineno}: {exc.msg}; fix the settings file"
            ) from None
        except (ValueError, OSError) as exc:
            # Pelican refuses settings it cannot use (a missing content folder or theme).
            raise click.ClickException(
                f"{obj['settings_path']}: {exc}") from None
        # Put back what a killed process left half done in the store (an edit's held
        # copy), so that no command misses an entry.
        store = open_store(obj["settings"])
        try:
            store.sweep()
        except OSError as exc:
            click.echo(f"Warning: cannot tidy {store.location}: {exc}", err=True)
    return obj["settings"]


def rebuild(ctx: click.Context, build: bool, hint: str, kept: str) -> None:
    """Rebuild the site with Pelican when ``build`` (--build) is given, else print ``hint``.
    A failed build raises an error that ends with ``kept`` (what already happened)."""
    if not build:
        click.echo(hint, err=True)
        return
    conf = Path(ctx.find_root().obj["settings_path"]).resolve()
    click.echo("Rebuilding the site …", err=True)
    result = subprocess.run([sys.executable, "-m", "pelican", "-s", str(conf)], check=False,
                            capture_output=True, text=True, cwd=conf.parent)
    if result.returncode != 0:
        click.echo(result.stdout[-2000:] + result.stderr[-2000:], err=True)
        raise click.ClickException(f"the rebuild failed (see above); {kept}")
    click.echo("Site rebuilt.", err=True)


# Each feature's module defines ``commands``, a list of click commands or groups
# (imported last: they use load and rebuild from here).
from . import db, desk, io, linkbacks, mail, moderation, server, social, worker  # noqa: E402

for _module in (moderation, io, server, social, linkbacks, desk, mail, db, worker):
    for _command in _module.commands:
        main.add_command(_command)
