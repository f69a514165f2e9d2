"""Import, export and personal-data commands: ``replik import wordpress|disqus|json``,
``replik export``, ``replik forget`` and ``replik export-person``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TextIO

import click

from ..importers.common import ImportFailed, Summary
from ..settings import Settings, cache_path, project_path
from ..state import FILE_NAME, State, open_state
from ..store import Store, StoreError
from ..storespec import CommentStore, open_store
from . import load, rebuild


def _store(settings: Settings, comments: Path | None) -> CommentStore:
    return Store(comments) if comments is not None else open_store(settings)


def _state(settings: Settings, comments: Path | None) -> State:
    """The state beside the store: the site's, or the state file in a --comments folder."""
    return open_state(settings) if comments is None else State(comments / FILE_NAME)


class ImportProgress(AbstractContextManager["ImportProgress"]):
    """How a long import goes, on standard error (the summary goes to standard output).

    On a terminal: a bar for each phase (reading the export, writing into the store)
    with the comments so far and their rate. Elsewhere (a log, a pipe): a plain line
    every ``every`` seconds, so a short import writes none.
    """

    LABELS = {"read": "Reading the export", "write": "Writing into the store"}

    def __init__(self, file: TextIO | None = None, *, every: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.file = file if file is not None else sys.stderr
        self.tty = self.file.isatty()
        self.every = every
        self.clock = clock
        self.phase = ""
        self.started = self.last_line = 0.0
        self.bar: Any = None

    def __call__(self, phase: str, done: int, total: int, comments: int) -> None:
        now = self.clock()
        if phase != self.phase:
            self.close()
            self.phase, self.started, self.last_line = phase, now, now
            if self.tty:
                self.bar = click.progressbar(length=max(total, 1), label=self.LABELS[phase],
                                             file=self.file, show_eta=True, show_pos=False,
                                             item_show_func=lambda text: text)
                self.bar.__enter__()
        elapsed = now - self.started
        rate = f"{comments / elapsed:,.0f}/s" if elapsed > 0 else "…"
        if self.bar is not None:
            self.bar.update(done - self.bar.pos, f"{comments:,} comments, {rate}")
        elif now - self.last_line >= self.every:
            self.last_line = now
            percent = 100 * done // total if total else 100
            click.echo(f"{self.LABELS[phase]}: {percent} % ({comments:,} comments, {rate})",
                       file=self.file)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __exit__(self, *exc: object) -> None:
        self.close()


def _import(ctx: click.Context, kind: str, comments_dir: Path | None, dry_run: bool,
            run: Callable[[Settings, CommentStore, ImportProgress], Summary]) -> Summary:
    """Run an importer with a progress display; report what it did (or why it failed)."""
    settings = load(ctx)
    store = _store(settings, comments_dir)
    try:
        with ImportProgress() as progress:
            summary = run(settings, store, progress)
    except StoreError as exc:
        raise click.ClickException(f"the store refused an entry: {exc}. Entries moved in"
                                   " before it are kept; run the import again to finish."
                                   ) from None
    except ImportFailed as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)
    if dry_run:
        click.echo("Dry run: nothing was written.")
    elif summary.new_entries:
        store.audit("cli", f"import-{kind}", source=Path(summary.source).name,
                    new=summary.new_entries, existing=summary.existing_entries)
    return summary


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)
_COMMENTS = click.option("--comments", "comments_dir", type=_DIR, default=None,
                         help="The comment store (default: REPLIK_STORE, comments/).")
_DRY_RUN = click.option("--dry-run", is_flag=True,
                        help="Read and check everything, write nothing.")


@click.group("import")
def import_group() -> None:
    """Bring posts and comments from WordPress, Disqus or a Replik JSON export."""


@import_group.command("wordpress")
@click.argument("export", type=_FILE)
@click.option("--content", "content_dir", type=_DIR, default=None,
              help="Where posts and pages go (default: the blog's PATH, content/).")
@_COMMENTS
@click.option("--overwrite", is_flag=True,
              help="Replace content files that differ from the export (default: keep them).")
@_DRY_RUN
@click.option("--attachments", "attachments_file", type=click.Path(dir_okay=False,
              path_type=Path), default=None,
              help="Write the attachment URLs to fetch here (default:"
                   " wordpress-attachments.txt in the blog's folder).")
@click.pass_context
def import_wordpress_cmd(ctx: click.Context, export: Path, content_dir: Path | None,
                         comments_dir: Path | None, overwrite: bool, dry_run: bool,
                         attachments_file: Path | None) -> None:
    """Import a WordPress export (Tools → Export → All content): posts and pages into
    content/, comments, pingbacks and trackbacks into the store.

    Importing the same file again changes nothing; a newer export adds what is new.
    A file with errors imports nothing.
    """
    from ..importers.wordpress import import_wordpress

    settings = load(ctx)
    content = content_dir if content_dir is not None else Path(settings.path)
    summary = _import(ctx, "wordpress", comments_dir, dry_run, lambda settings, store, progress:
                      import_wordpress(export, store, content, settings, overwrite=overwrite,
                                       dry_run=dry_run, staging_parent=cache_path(settings),
                                       progress=progress))
    if summary.attachments and not dry_run:
        target = attachments_file or project_path(settings, "wordpress-attachments.txt")
        target.write_text("\n".join(summary.attachments) + "\n", encoding="utf-8")
        click.echo(f"The attachments (images, files) stay on the old site; their addresses"
                   f" are listed in {target}. Download them into"
                   f" {content}/images/ to serve them from this blog.")


@import_group.command("disqus")
@click.argument("export", type=_FILE)
@_COMMENTS
@click.option("--map", "mappings", multiple=True, metavar="URL=SLUG",
              help="Attach the thread at URL to the article SLUG (repeatable).")
@_DRY_RUN
@click.pass_context
def import_disqus_cmd(ctx: click.Context, export: Path, comments_dir: Path | None,
                      mappings: tuple[str, ...], dry_run: bool) -> None:
    """Import a Disqus export (XML). Threads are matched to the blog's articles by URL,
    by Disqus identifier or by --map; threads that match no article are reported."""
    from ..importers.articles import ArticleMatcher, content_articles
    from ..importers.disqus import DisqusImport

    explicit: dict[str, str] = {}
    for mapping in mappings:
        url, sep, slug = mapping.rpartition("=")
        if not sep or not url or not slug or "/" in slug or slug in (".", ".."):
            raise click.BadParameter(f"{mapping!r} is not URL=SLUG", param_hint="--map")
        explicit[url] = slug
    matcher = ArticleMatcher(content_articles(load(ctx)), explicit)
    _import(ctx, "disqus", comments_dir, dry_run, lambda settings, store, progress:
            DisqusImport(store, matcher, staging_parent=cache_path(settings),
                         dry_run=dry_run).run(export, progress))


@import_group.command("json")
@click.argument("export", type=_FILE)
@_COMMENTS
@_DRY_RUN
@click.pass_context
def import_json_cmd(ctx: click.Context, export: Path, comments_dir: Path | None,
                    dry_run: bool) -> None:
    """Import a file made by `replik export --format json`: entries, audit trail and
    state (entries and state rows already here are kept as they are)."""
    from ..importers.jsonio import import_json

    _import(ctx, "json", comments_dir, dry_run, lambda settings, store, progress:
            import_json(export, store, state=_state(settings, comments_dir),
                        staging_parent=cache_path(settings), dry_run=dry_run,
                        progress=progress))


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "wxr"]), default="json",
              show_default=True, help="json: every field of every entry, the audit trail"
                                      " and the state (a backup); wxr: comments as"
                                      " WordPress imports them.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write here instead of standard output.")
@_COMMENTS
@click.pass_context
def export_cmd(ctx: click.Context, fmt: str, output: Path | None,
               comments_dir: Path | None) -> None:
    """Export the whole comment store. It holds personal data (e-mail and IP
    addresses): keep the file as safe as the store."""
    settings = load(ctx)
    store = _store(settings, comments_dir)
    state = _state(settings, comments_dir)
    target = output.with_name(f".{output.name}.partial") if output else None
    binary = fmt == "wxr"  # WXR is written as bytes, JSON as text
    try:
        with (open(target, "wb" if binary else "w", encoding=None if binary else "utf-8")
              if target else nullcontext(sys.stdout.buffer if binary else sys.stdout)) as handle:
            if binary:
                from ..exporters.wxr import export_wxr
                from ..importers.articles import content_articles

                count = export_wxr(store, handle, settings, content_articles(settings))
            else:
                from ..exporters.jsonfile import export_json

                count = export_json(store, handle, state)
    except StoreError as exc:
        if target is not None:
            target.unlink(missing_ok=True)
        raise click.ClickException(f"cannot export: {exc}") from None
    if output is not None and target is not None:
        target.replace(output)
        click.echo(f"Exported {count} entries to {output}.", err=True)


@click.command("forget")
@click.argument("email")
@click.option("--delete", is_flag=True,
              help="Delete the person's entries instead of anonymising them.")
@click.option("--build", is_flag=True, help="Rebuild the site afterwards.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--as", "actor", default="cli", show_default=True,
              help="Who does this (for the audit log).")
@click.pass_context
def forget_cmd(ctx: click.Context, email: str, delete: bool, build: bool, yes: bool,
               actor: str) -> None:
    """Erase the personal data of the person with EMAIL: e-mail, IP address, user agent,
    referrer and web address go, the name becomes a neutral label (or, with --delete,
    the entries go); reply subscriptions and mails to the address go too, and their
    IP addresses go from the state file (desk login attempts, queued webmentions).
    Caches are cleared; rebuild the site to update it."""
    from ..personal import entries_of, forget

    settings = load(ctx)
    found = entries_of(open_store(settings), email)
    if not found:
        click.echo(f"No entries with the e-mail address {email}.")
    elif not yes:
        verb = "Delete" if delete else "Anonymise"
        click.confirm(f"{verb} {len(found)} entries of {email}?", abort=True)
    result = forget(settings, email, delete=delete, actor=actor)
    if result.deleted:
        click.echo(f"Deleted {len(result.deleted)} entries.")
    if result.changed:
        click.echo(f"Anonymised {len(result.changed)} entries.")
    if result.subscriptions:
        click.echo(f"Removed {result.subscriptions} reply subscriptions.")
    if result.state_cleared:
        click.echo(f"Cleared their addresses from {result.state_cleared} rows of the state file.")
    if result.cache_cleared:
        click.echo(f"Cleared the cache {result.cache_cleared}.")
    if found:
        rebuild(ctx, build, hint="Rebuild the site so its pages and feeds no longer show the"
                " old data: `make html` (or repeat with --build), then publish.",
                kept="the data is already removed from the store")


@click.command("export-person")
@click.argument("email")
@click.option("--as", "actor", default="cli", show_default=True,
              help="Who does this (for the audit log).")
@click.pass_context
def export_person_cmd(ctx: click.Context, email: str, actor: str) -> None:
    """Print everything stored about the person with EMAIL, as JSON."""
    from ..personal import export_person

    data = export_person(load(ctx), email, actor=actor)
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


commands: list[click.Command] = [import_group, export_cmd, forget_cmd, export_person_cmd]
