"""``replik db upgrade``: make or move on the PostgreSQL schema (``REPLIK_DATABASE_URL``)."""

from __future__ import annotations

import click


@click.group("db")
def db_group() -> None:
    """The PostgreSQL database named by the environment variable REPLIK_DATABASE_URL."""


@db_group.command("upgrade")
def upgrade() -> None:
    """Create the tables, or bring them to this version's schema (safe to repeat)."""
    from ..state import database_url

    url = database_url()
    if not url:
        raise click.ClickException(
            "REPLIK_DATABASE_URL is not set: put the database's postgresql://… URL in the "
            "environment (without it Replik keeps everything in files and needs no database)")
    import psycopg

    from .. import pg

    try:
        before, after = pg.upgrade(url)
    except psycopg.Error as exc:
        raise click.ClickException(f"{pg.database(url)}: {exc}") from None
    click.echo(f"Schema version {after}" + (f" (was {before})." if before != after
                                            else ": nothing to do."))


commands = [db_group]
