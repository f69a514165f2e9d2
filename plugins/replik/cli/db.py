"""``replik db upgrade`` makes or moves on the PostgreSQL schema (``REPLIK_DATABASE_URL``);
``replik db migrate`` moves a store between files and PostgreSQL."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click

from . import load


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


def _open(where: str) -> tuple[Any, Any]:
    """The store and the state at ``where``: a postgresql:// URL, or a store folder
    (its state is the state.sqlite3 in it)."""
    from ..state import FILE_NAME, State

    if where.startswith(("postgresql://", "postgres://")):
        from .. import pg
        from ..pgstore import PgStore

        db = pg.database(where)
        try:
            db.pool()
        except (pg.SchemaError, OSError) as exc:
            raise click.ClickException(f"{db}: {exc}") from None
        return PgStore(db), State(db)
    from ..store import Store

    return Store(Path(where)), State(Path(where) / FILE_NAME)


@db_group.command("migrate")
@click.option("--from", "source", required=True, metavar="FOLDER|URL",
              help="The store to copy: a folder (comments/) or a postgresql://… URL.")
@click.option("--to", "target", required=True, metavar="FOLDER|URL",
              help="Where to copy it (a database needs `replik db upgrade` first).")
@click.option("--merge", is_flag=True,
              help="Copy into a target that holds entries already (what it holds is kept).")
@click.pass_context
def migrate(ctx: click.Context, source: str, target: str, merge: bool) -> None:
    """Copy every entry (every field, every state), the audit trail and the state
    (subscriptions, mail queue, sent linkbacks, …) from one store to another, files to
    PostgreSQL or back, through a JSON export. Safe to repeat: nothing is added twice.
    Stop the servers first, so nothing new arrives meanwhile."""
    from ..exporters.jsonfile import export_json
    from ..importers.common import ImportFailed
    from ..importers.jsonio import import_json
    from ..pgstore import PgStore
    from ..settings import cache_path, store_path
    from ..spam import Guard, held_bodies
    from ..storespec import StoreError

    settings = load(ctx)
    (from_store, from_state), (to_store, to_state) = _open(source), _open(target)
    if not merge and (to_store.ids() or next(iter(to_store.audit_trail()), None)):
        raise click.ClickException(f"{to_store.location} holds entries already: copy into "
                                   "an empty store, or add --merge to add what it lacks")
    scratch = cache_path(settings)
    scratch.mkdir(parents=True, exist_ok=True)
    # The exchange file holds personal data: private (0600), removed afterwards.
    with tempfile.NamedTemporaryFile("w+", encoding="utf-8", dir=scratch,
                                     prefix=".migrate-", suffix=".json") as exchange:
        count = export_json(from_store, exchange, from_state)
        exchange.flush()
        try:
            summary = import_json(Path(exchange.name), to_store, state=to_state,
                                  staging_parent=scratch)
        except (ImportFailed, StoreError) as exc:
            raise click.ClickException(f"{to_store.location}: {exc}") from None
    if isinstance(to_store, PgStore):  # the duplicate index, as the file guard derives it
        from .. import pg

        pg.Guard(to_store.db).fill(held_bodies(to_store))
    elif Path(target).resolve() == store_path(settings).resolve():
        # The site's own file store: its derived index is rebuilt on the next claim.
        (cache_path(settings) / "intake" / Guard.INDEX).unlink(missing_ok=True)
    for line in summary.lines()[1:]:
        click.echo(line)
    click.echo(f"Copied {count} entries from {from_store.location} to {to_store.location}.")


commands = [db_group]
