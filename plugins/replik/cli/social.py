"""``replik social``: follower counts of the company's channels (refresh, set, show)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import click

from . import load


def _channels(ctx: click.Context) -> tuple[dict[str, Any], list[Any]]:
    """The blog's settings (with the badges' defaults) and its SOCIAL_CHANNELS."""
    from social_badges.channels import ChannelConfigError, parse_channels, with_defaults

    settings = with_defaults(load(ctx).pelican)
    try:
        return settings, parse_channels(settings)
    except ChannelConfigError as exc:
        raise click.ClickException(f"pelicanconf.py: {exc}") from None


@click.group("social")
def social() -> None:
    """Follower counts of the channels in SOCIAL_CHANNELS (stored in SOCIAL_COUNTS_FILE)."""


@social.command("refresh")
@click.option("--only", "only", multiple=True, metavar="NAME",
              help="Refresh only this channel (repeatable).")
@click.option("--strict", is_flag=True,
              help="Exit with status 1 when any channel failed (for cron jobs and CI).")
@click.pass_context
def refresh_command(ctx: click.Context, only: tuple[str, ...], strict: bool) -> None:
    """Fetch public follower counts (Mastodon, Bluesky) and store them with the time.

    The build only reads the stored file. A channel that fails keeps its previous
    count, which is left out of the site once it is older than
    SOCIAL_COUNT_MAX_AGE_DAYS.
    """
    from social_badges.counts import CountsFileError, counts_path
    from social_badges.refresh import refresh

    settings, channels = _channels(ctx)
    unknown = set(only) - {c.name for c in channels}
    if unknown:
        raise click.UsageError(
            f"no channel named {', '.join(sorted(unknown))}; names: "
            f"{', '.join(c.name for c in channels) or '(none configured)'}")
    try:
        outcomes = refresh(settings, channels, set(only) if only else None)
    except CountsFileError as exc:
        raise click.ClickException(f"{exc}; fix or remove it, then run this again") from None
    width = max((len(o.name) for o in outcomes), default=0)
    for outcome in outcomes:
        style = {"ok": "green", "failed": "red"}.get(outcome.status)
        label = click.style(f"{outcome.status:<7}", fg=style)
        click.echo(f"{outcome.name:<{width}}  {label} {outcome.message}")
    counts = Counter(o.status for o in outcomes)
    path = counts_path(settings)
    written = f"updated {path}" if counts["ok"] else f"{path} unchanged"
    click.echo(f"{counts['ok']} refreshed, {counts['failed']} failed, {counts['skipped']}"
               f" skipped; {written}.")
    if strict and counts["failed"]:
        ctx.exit(1)


@social.command("set")
@click.argument("name")
@click.argument("count", type=click.IntRange(min=0))
@click.pass_context
def set_command(ctx: click.Context, name: str, count: int) -> None:
    """Record a follower count by hand (for networks without a public count)."""
    from social_badges.counts import CountsFileError, counts_path
    from social_badges.refresh import set_count

    settings, channels = _channels(ctx)
    channel = next((c for c in channels if c.name == name), None)
    if channel is None:
        raise click.UsageError(f"no channel named {name!r} in SOCIAL_CHANNELS")
    try:
        set_count(settings, channel, count)
    except CountsFileError as exc:
        raise click.ClickException(f"{exc}; fix or remove it, then run this again") from None
    click.echo(f"{name}: {count} followers recorded in {counts_path(settings)}.")


@social.command("show")
@click.pass_context
def show_command(ctx: click.Context) -> None:
    """List the channels with their stored counts and whether the site shows them."""
    from social_badges.counts import CountsFileError, counts_path, current_count, read_counts

    settings, channels = _channels(ctx)
    try:
        counts = read_counts(counts_path(settings))
    except CountsFileError as exc:
        raise click.ClickException(str(exc)) from None
    max_age = float(settings["SOCIAL_COUNT_MAX_AGE_DAYS"])
    now = datetime.now(UTC)
    for channel in channels:
        entry = counts.get(channel.name)
        shown = current_count(channel, counts, max_age, now)
        if entry is None and shown is None:
            state = "no count"
        else:
            stored = entry["followers"] if entry else channel.followers
            when = entry["fetched"] if entry else channel.followers_date
            age = (now - when).days if when else 0
            state = f"{stored} followers, {age} days old" + (
                "" if shown is not None else f" (too old: over {max_age:g} days, not shown)")
        click.echo(f"{channel.name:<12} {channel.label:<12} {channel.url}  {state}")


commands = [social]
