"""Helpers for the intake tests: a tiny blog of their own and a live server on loopback.

The blog uses the project's pelicanconf.py (and so the shipped theme) with its own
content, store and output in ``tmp_path``, so the tests do not depend on the sample
content. This module holds no tests.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import akismet
import httpx
from sitebuilder import write_post

from replik.settings import load_settings
from replik.store import Entry, Store, new_id

ROOT = Path(__file__).resolve().parents[1]

POSTS = {
    "offene-debatte": ("Offene Debatte", "2026-03-05 11:47", ""),
    "geschlossen": ("Geschlossene Runde", "2026-02-01 09:00", "Comments: closed\n"),
}


def write_content(site: Path) -> None:
    for slug, (title, date, extra) in POSTS.items():
        write_post(site, slug, title, date, extra)


def make_settings(site: Path, siteurl: str = "http://127.0.0.1:8000", **overrides: Any) -> dict:
    """The project's settings, pointed at a blog in ``site``."""
    write_content(site)
    override = {
        "PATH": str(site / "content"),
        "OUTPUT_PATH": str(site / "output"),
        "REPLIK_STORE": str(site / "comments"),
        "REPLIK_CACHE": str(site / "cache"),
        "SITEURL": siteurl,
        "FEED_DOMAIN": siteurl,
        "CACHE_CONTENT": False,
        "LOAD_CONTENT_CACHE": False,
        "DELETE_OUTPUT_DIRECTORY": False,
    }
    settings = load_settings(ROOT / "pelicanconf.py", override=override)
    settings.update(overrides)
    return settings


def build_site(settings: dict) -> None:
    """A real Pelican build of the test blog."""
    from pelican import Pelican
    from pelican.settings import configure_settings

    Pelican(configure_settings(dict(settings))).run()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]




def approved(store_root: Path, article: str, author: str = "Erika", body: str = "Erster!",
             email: str = "erika@example.org") -> Entry:
    entry = Entry(id=new_id(), article=article, body=body, date=datetime.now(UTC),
                  author=author, email=email)
    return Store(store_root).add(entry, "approved")


def form(article: str = "offene-debatte", **values: str) -> dict[str, str]:
    data = {"article": article, "reply_to": "", "author": "Erika Muster",
            "email": "erika@example.org", "url": "", "body": "Ein guter Beitrag, danke.",
            "consent": "yes", "homepage": ""}
    data.update(values)
    return data


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Origin": base}, follow_redirects=False,
                        timeout=10)


class HamClient(akismet.TestSyncClient):
    comment_check_response = akismet.CheckResponse.HAM


class SpamClient(akismet.TestSyncClient):
    comment_check_response = akismet.CheckResponse.SPAM


class DiscardClient(akismet.TestSyncClient):
    comment_check_response = akismet.CheckResponse.DISCARD


class RecordingHamClient(HamClient):
    """Remembers what it was asked, to check the fields sent to Akismet."""

    calls: list[tuple[str, dict]] = []

    def comment_check(self, user_ip: str, **kwargs: Any) -> akismet.CheckResponse:
        type(self).calls.append((user_ip, kwargs))
        return super().comment_check(user_ip, **kwargs)


def _time_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectTimeout("timed out", request=request)


class FailingClient(akismet.TestSyncClient):
    """The package's test client whose transport times out, as an unreachable Akismet."""

    def __init__(self, config: akismet.Config | None = None,
                 http_client: httpx.Client | None = None) -> None:
        super().__init__(config=config, http_client=http_client)
        self._http_client = httpx.Client(transport=httpx.MockTransport(_time_out))


def write_conf(site: Path, siteurl: str = "http://127.0.0.1:8000", **extra: Any) -> Path:
    """A pelicanconf.py for the test blog: the project's file plus our paths (for the CLI)."""
    write_content(site)
    lines = [
        f"exec(open({str(ROOT / 'pelicanconf.py')!r}, encoding='utf-8').read())",
        f"PATH = {str(site / 'content')!r}",
        f"OUTPUT_PATH = {str(site / 'output')!r}",
        f"THEME = {str(ROOT / 'theme')!r}",
        f"PLUGIN_PATHS = [{str(ROOT / 'plugins')!r}]",
        f"REPLIK_STORE = {str(site / 'comments')!r}",
        f"REPLIK_CACHE = {str(site / 'cache')!r}",
        f"SITEURL = {siteurl!r}",
        f"FEED_DOMAIN = {siteurl!r}",
        "CACHE_CONTENT = False",
        "LOAD_CONTENT_CACHE = False",
    ]
    lines += [f"{key} = {value!r}" for key, value in extra.items()]
    conf = site / "pelicanconf.py"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf


def _invalid_key(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="invalid")  # what Akismet answers to a bad key


class InvalidKeyClient(akismet.TestSyncClient):
    """The package's test client answering as Akismet does to a wrong key or blog URL."""

    def __init__(self, config: akismet.Config | None = None,
                 http_client: httpx.Client | None = None) -> None:
        super().__init__(config=config, http_client=http_client)
        self._http_client = httpx.Client(transport=httpx.MockTransport(_invalid_key))
