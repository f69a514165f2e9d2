"""WordPress export (WXR) → posts and pages in content/, comments in the store.

The file is read once, as a stream (lxml ``iterparse``; each ``<item>`` is
dropped from memory once handled), so exports of any size import in bounded
memory. While reading, everything is validated and written into a private
staging area; only when the whole file proved good is it moved into the real
store and content folder. A bad file imports nothing.

Ids are reproducible (the original date plus a hash of the blog's address and
the WordPress comment id), so importing the same export again changes nothing,
and a newer export adds only what is new.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from ..settings import Settings
from ..store import Entry, Store
from . import html as htmlconv
from .common import (
    ImportFailed,
    Problem,
    Progress,
    Staging,
    Summary,
    commit,
    format_offset,
    free,
    read_xml,
    stable_id,
)

WP_NS = re.compile(r"^https?://wordpress\.org/export/1\.\d+/$")
EXCERPT_NS = re.compile(r"^https?://wordpress\.org/export/1\.\d+/excerpt/$")
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"

# comment_approved -> our state.
STATES = {"1": "approved", "0": "pending", "spam": "spam", "trash": "trash",
          "post-trashed": "trash"}
TYPES = {"": "comment", "comment": "comment", "pingback": "pingback",
         "trackback": "trackback", "webmention": "webmention"}
POST_STATUS = {"publish": "published", "draft": "draft", "pending": "draft",
               "future": "draft", "private": "draft"}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_ZERO_DATE = "0000-00-00 00:00:00"
_ELLIPSIS = re.compile(r"^\s*\[(?:\.\.\.|…|&#8230;)\]\s*|\s*\[(?:\.\.\.|…|&#8230;)\]\s*$")
_TAG = re.compile(r"<[^>]+>")


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


@dataclass
class _Post:
    line: int
    post_id: str = ""
    title: str = ""
    link: str = ""
    creator: str = ""
    content: str = ""
    excerpt: str = ""
    post_date: str = ""
    post_date_gmt: str = ""
    pub_date: str = ""
    comment_status: str = ""
    post_name: str = ""
    status: str = ""
    post_type: str = ""
    password: str = ""
    attachment_url: str = ""
    categories: list[tuple[str, str]] = field(default_factory=list)  # (domain, name)
    comments: list[dict[str, Any]] = field(default_factory=list)


class WordPressImport:
    """One import of one WXR file into one project."""

    def __init__(self, store: Store, content_dir: Path | None, settings: Settings, *,
                 staging_parent: Path | None, overwrite: bool, dry_run: bool) -> None:
        self.store = store
        self.content_dir = content_dir
        self.zone = ZoneInfo(settings.timezone)
        self.slug_options = {
            "regex_subs": settings.pelican.get("SLUG_REGEX_SUBSTITUTIONS", ()),
            "preserve_case": bool(settings.pelican.get("SLUGIFY_PRESERVE_CASE", False)),
            "use_unicode": bool(settings.pelican.get("SLUGIFY_USE_UNICODE", False)),
        }
        self.staging_parent = staging_parent
        self.overwrite = overwrite
        self.dry_run = dry_run
        self.problems: list[Problem] = []
        self.site = ""
        self.authors: dict[str, dict[str, str]] = {}  # login -> email, name, id
        self.author_user_ids: dict[str, set[str]] = {}  # login -> WordPress user ids
        self.seen_wxr = False
        self.comment_lines: dict[int, int] = {}  # WordPress comment id -> line
        self.slugs: set[str] = set()
        self.pages_with_comments = 0
        self.comments_read = 0

    # -- the run ---------------------------------------------------------------
    def run(self, path: Path, progress: Progress | None = None) -> Summary:
        self.summary = Summary(source=str(path))
        # What the store holds already is not staged again (a repeated import reads
        # the file and writes nothing); commit() looks again for what came meanwhile.
        self.known = self.store.ids()
        with Staging(self.staging_parent) as staging:
            self.staging = staging
            for element in read_xml(path, self.problems, progress, lambda: self.comments_read):
                self._on_end(element)
            if not self.seen_wxr and not self.problems:
                self.problems.append(Problem(None, "this is not a WordPress export (WXR): no"
                                                   " element in the wordpress.org/export"
                                                   " namespace"))
            if self.problems:
                raise ImportFailed(str(path), self.problems)
            # Not needed any more: their memory is free for commit() (at 100,000
            # comments, each of them holds 10-15 MB).
            self.known = set()
            self.comment_lines = {}
            if self.pages_with_comments:
                self.summary.notes.append(
                    f"{self.pages_with_comments} comments belong to pages; they are in the"
                    " store, but the site shows comments under articles")
            commit(staging, self.store, self.summary, self.content_dir, self.overwrite,
                   self.dry_run, progress)
        return self.summary

    def _on_end(self, element: Any) -> None:
        tag = element.tag
        if not isinstance(tag, str):
            return
        ns, local = _split(tag)
        if not self.seen_wxr and WP_NS.match(ns):
            self.seen_wxr = True
        parent = element.getparent()
        if parent is None or parent.tag != "channel":
            return  # inside an item (handled with it) or around the channel
        if local == "item" and not ns:
            self._item(element)
        elif WP_NS.match(ns) and local == "author":
            self._author(element)
        elif WP_NS.match(ns) and local in ("base_blog_url", "base_site_url"):
            if local == "base_blog_url" or not self.site:
                self.site = (element.text or "").strip()
        elif not ns and local == "link" and not self.site:
            self.site = (element.text or "").strip()
        free(element)  # done with this child of <channel>

    def _author(self, element: Any) -> None:
        values = {_split(child.tag)[1]: (child.text or "").strip()
                  for child in element if isinstance(child.tag, str)}
        login = values.get("author_login", "")
        if login:
            self.authors[login] = {
                "email": values.get("author_email", "").lower(),
                "name": html.unescape(values.get("author_display_name", "")) or login,
            }
            if values.get("author_id"):
                self.author_user_ids.setdefault(login, set()).add(values["author_id"])

    # -- one item ---------------------------------------------------------------
    def _read_item(self, element: Any) -> _Post:
        post = _Post(line=element.sourceline or 0)
        for child in element:
            if not isinstance(child.tag, str):
                continue
            ns, local = _split(child.tag)
            text = child.text or ""
            if not ns and local in ("title", "link", "pubDate"):
                setattr(post, "pub_date" if local == "pubDate" else local, text.strip())
            elif not ns and local == "category":
                post.categories.append((child.get("domain", ""), text.strip()))
            elif ns == CONTENT_NS and local == "encoded":
                post.content = text
            elif ns == DC_NS and local == "creator":
                post.creator = text.strip()
            elif EXCERPT_NS.match(ns) and local == "encoded":
                post.excerpt = text
            elif WP_NS.match(ns):
                if local == "comment":
                    values: dict[str, Any] = {"line": child.sourceline}
                    for part in child:
                        if isinstance(part.tag, str):
                            values[part.tag.rpartition("}")[2]] = part.text or ""
                    post.comments.append(values)
                    self.comments_read += 1
                elif local in ("post_id", "post_date", "post_date_gmt", "comment_status",
                               "post_name", "status", "post_type", "attachment_url"):
                    setattr(post, local, text.strip())
                elif local == "post_password":
                    post.password = text
        return post

    def _item(self, element: Any) -> None:
        post = self._read_item(element)
        kind = post.post_type
        skipped = ""  # why the comments of an item that is not imported are skipped
        if kind == "attachment":
            if post.attachment_url:
                self.summary.attachments.append(post.attachment_url)
            skipped = "comment on an attachment"
        elif kind not in ("post", "page"):
            self.summary.skip(f"item of type {kind or '(none)'!r}: not a post or page")
            skipped = f"comment on a {kind or 'typeless item'}"
        elif post.status in ("trash", "auto-draft", "inherit"):
            self.summary.skip(f"{kind} with status {post.status!r}")
            skipped = f"comment on a {kind} with status {post.status!r}"
        if skipped:
            if post.comments:
                self.summary.skip(skipped, len(post.comments))
            return
        date = self._post_date(post)
        if date is None:
            return
        slug = self._slug(post)
        self._write_post(post, slug, date)
        if post.comments:
            if kind == "page":
                self.pages_with_comments += len(post.comments)
            self._comments(post, slug)

    # -- dates -----------------------------------------------------------------
    def _local_and_utc(self, local: str, gmt: str, line: int, what: str
                       ) -> tuple[datetime, timedelta] | None:
        """The date in UTC and its original UTC offset (WordPress stores both)."""
        local, gmt = local.strip(), gmt.strip()
        for value, label in ((local, "date"), (gmt, "date_gmt")):
            if value and value != _ZERO_DATE and not _DATE_RE.match(value):
                self.problems.append(Problem(line, f"{what} has a malformed {label} {value!r}"
                                                   " (expected YYYY-MM-DD HH:MM:SS)"))
                return None
        try:
            # Checked above: YYYY-MM-DD HH:MM:SS, which fromisoformat reads (in a
            # tenth of strptime's time: it is called twice for every comment).
            local_dt = (datetime.fromisoformat(local)
                        if local and local != _ZERO_DATE else None)
            gmt_dt = (datetime.fromisoformat(gmt)
                      if gmt and gmt != _ZERO_DATE else None)
        except ValueError as exc:
            self.problems.append(Problem(line, f"{what} has an impossible date: {exc}"))
            return None
        if gmt_dt is not None:
            utc = gmt_dt.replace(tzinfo=UTC)
            offset = (local_dt - gmt_dt) if local_dt is not None else timedelta(0)
            # Offsets are whole minutes; clamp nonsense (clock drift) to UTC.
            offset = timedelta(minutes=round(offset.total_seconds() / 60))
            if abs(offset) > timedelta(hours=14):
                offset = timedelta(0)
            return utc, offset
        if local_dt is not None:
            aware = local_dt.replace(tzinfo=self.zone)
            return aware.astimezone(UTC), aware.utcoffset() or timedelta(0)
        return None

    def _post_date(self, post: _Post) -> datetime | None:
        found = self._local_and_utc(post.post_date, post.post_date_gmt, post.line,
                                    f"{post.post_type} {post.post_id or '?'}")
        if found is not None:
            utc, offset = found
            return utc.astimezone(timezone(offset))
        if post.pub_date:
            try:
                return parsedate_to_datetime(post.pub_date)
            except (TypeError, ValueError):
                pass
        self.problems.append(Problem(post.line, f"{post.post_type} {post.post_id or '?'}"
                                                " has no usable date"))
        return None

    # -- posts and pages ------------------------------------------------------------
    def _slug(self, post: _Post) -> str:
        slug = unquote(post.post_name).strip()
        if not slug or "/" in slug or slug in (".", ".."):
            from pelican.utils import slugify  # only here: importing Pelican takes 0.3 s

            slug = slugify(post.title or f"{post.post_type}-{post.post_id}", **self.slug_options)
        slug = slug or f"{post.post_type}-{post.post_id}"
        if slug in self.slugs:
            slug = f"{slug}-{post.post_id}"
        self.slugs.add(slug)
        return slug

    def _write_post(self, post: _Post, slug: str, date: datetime) -> None:
        status = POST_STATUS.get(post.status, "draft")
        if post.password:
            status = "draft"
            self.summary.notes.append(f"{post.post_type} {slug!r} was password-protected in"
                                      " WordPress: imported as a draft")
        counter = self.summary.posts if post.post_type == "post" else self.summary.pages
        counter[status] += 1
        author = self.authors.get(post.creator, {}).get("name") or post.creator
        categories = [name for domain, name in post.categories if domain == "category" and name]
        tags = [name for domain, name in post.categories if domain == "post_tag" and name]
        # Pelican has one category; the others become tags so nothing is lost.
        primary = next((c for c in categories if c.lower() != "uncategorized"),
                       categories[0] if categories else "")
        tags += [c for c in categories if c != primary and c.lower() != "uncategorized"]
        tags = list({tag.lower(): tag for tag in reversed(tags)}.values())[::-1]
        title = post.title or slug
        if not post.title:
            self.summary.notes.append(f"{post.post_type} {slug!r} has no title: its slug is used")
        summary = " ".join(_TAG.sub(" ", html.unescape(post.excerpt)).split())
        meta = {
            "Title": title,
            "Date": date.isoformat(sep=" "),
            "Slug": slug,
            "Author": author,
            "Category": primary if post.post_type == "post" else "",
            "Tags": ", ".join(tags),
            "Status": status,
            "Summary": summary,
            "Comments": "closed" if post.comment_status == "closed" else "",
            "Wordpress_id": post.post_id,
        }
        fmt, body = htmlconv.post_body(post.content)
        folder = "pages/" if post.post_type == "page" else ""
        text = _markdown_file(meta, body) if fmt == "md" else _html_file(meta, body)
        self.staging.write_content(f"{folder}{slug}.{fmt}", text)

    # -- comments -----------------------------------------------------------------
    def _comments(self, post: _Post, slug: str) -> None:
        post_author = self.authors.get(post.creator, {})
        author_email = post_author.get("email", "")
        author_ids = self.author_user_ids.setdefault(post.creator, set())
        # Learn the post author's user id from their own comments (WordPress.com
        # exports do not list user ids with the authors).
        for c in post.comments:
            uid = (c.get("comment_user_id") or "").strip()
            email = (c.get("comment_author_email") or "").strip().lower()
            if author_email and email == author_email and uid not in ("", "0"):
                author_ids.add(uid)
        built: list[tuple[dict[str, Any], Entry, str]] = []
        ours: dict[str, str] = {}
        for c in post.comments:
            made = self._comment(c, post, slug)
            if made is None:
                continue
            entry, state = made
            wp_id = entry.extra["WP-Comment-Id"]
            ours[wp_id] = entry.id
            uid = entry.extra.get("WP-User-Id", "")
            email = entry.email.lower()
            entry.staff = entry.type == "comment" and (
                bool(author_email and email == author_email) or (uid in author_ids))
            built.append((c, entry, state))
        for c, entry, state in built:
            parent = (c.get("comment_parent") or "0").strip()
            if parent and parent != "0":
                if parent in ours:
                    entry.reply_to = ours[parent]
                else:
                    self.summary.notes.append(
                        f"line {c['line']}: comment {entry.extra['WP-Comment-Id']} answers"
                        f" comment {parent}, which is not in the export; imported at the top")
            self.summary.entries[(entry.type, state)] += 1
            if entry.id in self.known:
                self.summary.existing_entries += 1
            elif not self.problems:
                self.staging.add(entry, state)

    def _comment(self, c: dict[str, Any], post: _Post, slug: str) -> tuple[Entry, str] | None:
        line = c["line"]
        wp_id = (c.get("comment_id") or "").strip()
        if not wp_id.isdigit():
            self.problems.append(Problem(line, f"comment without a numeric comment_id"
                                               f" ({wp_id!r})"))
            return None
        number = int(wp_id)
        if number in self.comment_lines:
            self.problems.append(Problem(line, f"comment id {wp_id} appears twice (first on"
                                               f" line {self.comment_lines[number]})"))
            return None
        self.comment_lines[number] = line
        approved = (c.get("comment_approved") or "").strip()
        state = STATES.get(approved)
        if state is None:
            self.problems.append(Problem(line, f"comment {wp_id} has an unknown"
                                               f" comment_approved value {approved!r}"))
            return None
        raw_type = (c.get("comment_type") or "").strip()
        entry_type = TYPES.get(raw_type)
        if entry_type is None:
            self.summary.skip(f"comment of type {raw_type!r}: not a reader comment or linkback")
            return None
        when = self._local_and_utc(c.get("comment_date") or "", c.get("comment_date_gmt") or "",
                                   line, f"comment {wp_id}")
        if when is None:
            if not any(p.line == line for p in self.problems):
                self.problems.append(Problem(line, f"comment {wp_id} has no date"))
            return None
        utc, offset = when
        author = html.unescape((c.get("comment_author") or "").strip())
        url = (c.get("comment_author_url") or "").strip()
        content = c.get("comment_content") or ""
        extra = {"WP-Comment-Id": wp_id, "WP-Post-Id": post.post_id,
                 "Original-Offset": format_offset(offset)}
        uid = (c.get("comment_user_id") or "").strip()
        if uid not in ("", "0"):
            extra["WP-User-Id"] = uid
        entry = Entry(
            id=stable_id(utc, "wordpress", self.site, wp_id),
            article=slug,
            body="",
            date=utc,
            type=entry_type,
            author=author,
            url=url,
            email=(c.get("comment_author_email") or "").strip(),
            ip=(c.get("comment_author_IP") or "").strip(),
            extra=extra,
        )
        if entry.is_linkback:
            entry.title = author
            entry.source = url
            text = html.unescape(_TAG.sub("", content))
            entry.body = _ELLIPSIS.sub("", text).strip()
        elif entry.id not in self.known:  # the text of one already there is not needed
            entry.body = htmlconv.comment_body(content)
        if state == "spam":
            entry.spam_verdict = "spam"
            entry.spam_reason = "marked as spam in WordPress"
        return entry, state


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _markdown_file(meta: dict[str, str], body: str) -> str:
    head = "".join(f"{key}: {_one_line(value)}\n" for key, value in meta.items() if value)
    return f"{head}\n{body}"


def _html_file(meta: dict[str, str], body: str) -> str:
    title = html.escape(_one_line(meta["Title"]), quote=False)
    metas = "".join(
        f'    <meta name="{key.lower()}" content="{html.escape(_one_line(value))}">\n'
        for key, value in meta.items() if value and key != "Title"
    )
    return (f"<html>\n  <head>\n    <title>{title}</title>\n{metas}  </head>\n"
            f"  <body>\n{body}  </body>\n</html>\n")


def import_wordpress(path: Path, store: Store, content_dir: Path | None, settings: Settings,
                     *, overwrite: bool = False, dry_run: bool = False,
                     staging_parent: Path | None = None,
                     progress: Progress | None = None) -> Summary:
    """Import a WXR file with the blog's settings (time zone and slug rules)."""
    return WordPressImport(store, content_dir, settings, staging_parent=staging_parent,
                           overwrite=overwrite, dry_run=dry_run).run(path, progress)
