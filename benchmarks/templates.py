"""µs per comment for the theme's discussion: partials/comments.html and the form.

``python -m benchmarks.templates [--articles 200] [--comments 20]`` builds that many
threads from realistic comments (sitegen's texts, names and reply rate; the
threads are built before timing, so Markdown rendering is not counted), renders
each article's discussion the way article.html does, in an environment set up like
Pelican's (autoescaping off, trim_blocks, the plugin's ``_()``) with a context of
Pelican's size, and prints the CPU time per comment, best of ``--repeat`` runs:
with the comment form (discussion), the thread alone (thread), and the form
per article.
Not part of ``make bench``: it runs in a few seconds on one core.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jinja2 import Environment, FileSystemLoader

from benchmarks import sitegen
from benchmarks.measure import best_cpu_of
from replik.i18n import install_into
from replik.settings import Settings
from replik.store import Entry
from replik.thread import LazyThread, ThreadView

THEME = Path(__file__).resolve().parents[1] / "theme"
DISCUSSION = ('{% from "partials/comment_form.html" import comment_form with context %}'
              '{% include "partials/comments.html" %}')


def make_articles(count: int, comments: int, seed: int = sitegen.DEFAULT_SEED) -> list[Any]:
    rng = random.Random(seed)
    start = sitegen._post_dates(rng, 1)[0]
    articles = []
    for n in range(count):
        entries: list[Entry] = []
        for k in range(comments):
            author, url, _email = sitegen._person(rng)
            # About a third of the benchmark site's comments are replies.
            parent = rng.choice(entries) if entries and rng.random() < 0.36 else None
            entries.append(Entry(
                id=f"{(start + timedelta(days=n)):%Y%m%dT%H%M%S}{k:06d}Z-{n:04x}{k:04x}",
                article=f"beitrag-{n}", body=sitegen._comment_body(rng, None),
                date=start + timedelta(days=n, minutes=37 * k), author=author, url=url,
                reply_to=parent.id if parent else "", staff=rng.random() < 0.06))
        thread = LazyThread(entries, 5, "de", "Europe/Berlin")
        thread.build()
        articles.append(SimpleNamespace(
            slug=f"beitrag-{n}", lang="de", comment_count=comments, comments_open=True,
            comments=ThreadView(thread, flat=False), comments_flat=ThreadView(thread, flat=True)))
    return articles


def environment() -> Environment:
    """Set up as Pelican sets ours up."""
    env = Environment(loader=FileSystemLoader(str(THEME / "templates")), trim_blocks=True,
                      lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    install_into(env, Settings.of({"THEME": str(THEME), "DEFAULT_LANG": "de"}))
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--comments", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    articles = make_articles(args.articles, args.comments)
    env = environment()
    # Pelican hands every page its settings and lists: a context of about 150 names.
    context = {f"SETTING_{i}": i for i in range(150)}
    context.update(SITEURL="https://example.org", REPLIK_INTAKE_URL="/replik/comment",
                   REPLIK_PREVIEW_URL="/replik/preview")
    with_form = env.from_string(DISCUSSION)
    thread_only = env.from_string('{% include "partials/comments.html" %}')
    form_only = env.from_string(DISCUSSION.split("%}", 1)[0] + "%}{{ comment_form(article.slug) }}")
    renders: dict[str, Callable[[Any], str]] = {
        "discussion": lambda a: with_form.render(context, article=a),
        "thread": lambda a: thread_only.render(context, article=a, comment_form=lambda slug: ""),
        "form": lambda a: form_only.render(context, article=a),
    }
    comments = args.articles * args.comments
    size = len(renders["discussion"](articles[0])) / args.comments
    print(f"{args.articles} articles x {args.comments} comments, about {size:.0f} bytes of "
          "HTML a comment")
    for name, render in renders.items():
        seconds = best_cpu_of(render, articles, args.repeat)
        per = (f"{seconds * 1e6 / args.articles:7.1f} µs/article" if name == "form"
               else f"{seconds * 1e6 / comments:7.1f} µs/comment")
        print(f"{name:>10}: {per}  ({seconds:.3f} s CPU)")


if __name__ == "__main__":
    main()
