"""Disqus export (XML) → the comment store.

Threads are matched to our articles by URL (or by their Disqus identifier, or
an explicit ``URL=slug`` map); posts of threads that match no article are
reported, not imported. Deleted posts go to the trash, spam to spam, the rest
is approved (Disqus exports what was public). Like every importer: the whole
file is validated first, and a bad file imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..store import Entry, Store
from . import html as htmlconv
from .articles import ArticleMatcher
from .common import (
    ImportFailed,
    Problem,
    Progress,
    Staging,
    Summary,
    commit,
    free,
    read_xml,
    stable_id,
)

NS = "http://disqus.com"
DSQ = "http://disqus.com/disqus-internals"
_ID = f"{{{DSQ}}}id"


def _child(element: Any, name: str) -> Any:
    return element.find(f"{{{NS}}}{name}")


def _text(element: Any, name: str) -> str:
    found = _child(element, name)
    return (found.text or "").strip() if found is not None else ""


def _flag(element: Any, name: str) -> bool:
    return _text(element, name).lower() == "true"


@dataclass
class _Thread:
    line: int
    link: str
    identifier: str
    forum: str
    author_email: str
    author_username: str
    posts: int = 0


@dataclass
class _Post:
    """A post as read: its entry (id, article and body are set when it is staged),
    its state, and what ties it to its thread and its parent."""

    line: int
    dsq_id: str
    thread: str
    parent: str
    username: str
    anonymous: bool
    state: str
    entry: Entry


class DisqusImport:
    def __init__(self, store: Store, matcher: ArticleMatcher, *,
                 staging_parent: Path | None = None, dry_run: bool = False) -> None:
        self.store = store
        self.matcher = matcher
        self.staging_parent = staging_parent
        self.dry_run = dry_run
        self.problems: list[Problem] = []
        self.threads: dict[str, _Thread] = {}
        self.posts: list[_Post] = []
        self.seen_posts: dict[str, int] = {}
        self.forum = ""

    def run(self, path: Path, progress: Progress | None = None) -> Summary:
        summary = Summary(source=str(path))
        root = None
        for element in read_xml(path, self.problems, progress, lambda: len(self.posts)):
            if root is None and (root := element.getroottree().getroot()).tag != f"{{{NS}}}disqus":
                self.problems.append(Problem(root.sourceline, "this is not a Disqus export: the"
                                             " root element is not <disqus> in the disqus.com"
                                             " namespace"))
                break
            if element.getparent() is not root:
                continue
            if element.tag == f"{{{NS}}}thread":
                self._thread(element)
            elif element.tag == f"{{{NS}}}post":
                self._post(element)
            elif element.tag == f"{{{NS}}}category" and not self.forum:
                self.forum = _text(element, "forum")
            free(element)
        if self.problems:
            raise ImportFailed(str(path), self.problems)
        with Staging(self.staging_parent) as staging:
            self._stage(staging, summary)
            commit(staging, self.store, summary, None, dry_run=self.dry_run,
                   progress=progress)
        return summary

    # -- reading ----------------------------------------------------------------
    def _thread(self, element: Any) -> None:
        line = element.sourceline or 0
        dsq_id = (element.get(_ID) or "").strip()
        if not dsq_id:
            self.problems.append(Problem(line, "<thread> without a dsq:id attribute"))
            return
        if dsq_id in self.threads:
            self.problems.append(Problem(line, f"thread {dsq_id} appears twice (first on line"
                                               f" {self.threads[dsq_id].line})"))
            return
        author = _child(element, "author")
        self.threads[dsq_id] = _Thread(
            line=line, link=_text(element, "link"), identifier=_text(element, "id"),
            forum=_text(element, "forum"),
            author_email=(_text(author, "email").lower() if author is not None
                          and not _flag(author, "isAnonymous") else ""),
            author_username=_text(author, "username") if author is not None else "",
        )

    def _post(self, element: Any) -> None:
        line = element.sourceline or 0
        dsq_id = (element.get(_ID) or "").strip()
        if not dsq_id:
            self.problems.append(Problem(line, "<post> without a dsq:id attribute"))
            return
        if dsq_id in self.seen_posts:
            self.problems.append(Problem(line, f"post {dsq_id} appears twice (first on line"
                                               f" {self.seen_posts[dsq_id]})"))
            return
        self.seen_posts[dsq_id] = line
        thread = _child(element, "thread")
        thread_id = (thread.get(_ID) or "").strip() if thread is not None else ""
        if not thread_id:
            self.problems.append(Problem(line, f"post {dsq_id} names no thread"))
            return
        created = _text(element, "createdAt")
        try:
            date = datetime.fromisoformat(created.replace("Z", "+00:00"))
            if date.tzinfo is None:
                raise ValueError("no time zone")
        except ValueError:
            self.problems.append(Problem(line, f"post {dsq_id} has a malformed createdAt"
                                               f" {created!r} (expected e.g."
                                               " 2013-10-10T19:20:29Z)"))
            return
        parent = _child(element, "parent")
        author = _child(element, "author")
        get = (lambda name: _text(author, name)) if author is not None else (lambda name: "")
        state = ("spam" if _flag(element, "isSpam") else "trash" if _flag(element, "isDeleted")
                 else "pending" if _text(element, "isApproved").lower() == "false"
                 else "approved")
        entry = Entry(id="", article="", body=_text(element, "message"),
                      date=date.astimezone(UTC), author=get("name"), url=get("link"),
                      email=get("email"), ip=_text(element, "ipAddress"),
                      extra={"Disqus-Post-Id": dsq_id, "Disqus-Thread-Id": thread_id,
                             "Original-Offset": "+00:00"})
        self.posts.append(_Post(
            line=line, dsq_id=dsq_id, thread=thread_id,
            parent=(parent.get(_ID) or "").strip() if parent is not None else "",
            username=get("username"), anonymous=author is not None and _flag(author, "isAnonymous"),
            state=state, entry=entry,
        ))

    # -- writing ----------------------------------------------------------------
    def _stage(self, staging: Staging, summary: Summary) -> None:
        slugs = {dsq_id: self.matcher.match(thread.link, thread.identifier)
                 for dsq_id, thread in self.threads.items()}
        ours = {p.dsq_id: stable_id(p.entry.date, "disqus", getattr(
                    self.threads.get(p.thread), "forum", "") or self.forum, p.dsq_id)
                for p in self.posts}
        for post in self.posts:
            thread = self.threads.get(post.thread)
            if thread is None:
                summary.skip("post of a thread that is not in the export")
                continue
            thread.posts += 1
            slug = slugs[post.thread]
            if slug is None:
                summary.skip("post of a thread that matches no article")
                continue
            entry, state = post.entry, post.state
            entry.id = ours[post.dsq_id]
            entry.article = slug
            entry.body = htmlconv.comment_body(entry.body)
            if post.parent:
                if post.parent in ours:
                    entry.reply_to = ours[post.parent]
                else:
                    summary.notes.append(f"line {post.line}: post {post.dsq_id} answers post"
                                         f" {post.parent}, which is not in the export")
            # The thread's (verified) author answering in their own thread is staff.
            entry.staff = not post.anonymous and bool(
                (thread.author_username and post.username == thread.author_username)
                or (thread.author_email and entry.email.lower() == thread.author_email))
            if state == "spam":
                entry.spam_verdict = "spam"
                entry.spam_reason = "marked as spam in Disqus"
            summary.entries[(entry.type, state)] += 1
            staging.add(entry, state)
        for dsq_id, thread in self.threads.items():
            if slugs[dsq_id] is None and thread.posts:
                summary.notes.append(
                    f"thread {thread.link or thread.identifier or '(no link)'!r}"
                    f" (line {thread.line}, {thread.posts} posts) matches no article;"
                    " map it with --map URL=SLUG")
