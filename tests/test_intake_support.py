"""Helpers for the intake tests: a tiny blog of their own and a live server on loopback.

The blog uses the project's pelicanconf.py (and so the shipped theme) with its own
content, store and output in ``tmp_path``, so the tests do not depend on the sample
content. This module holds no tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import akismet
import httpx
from sitebuilder import blog_paths, write_posts, write_project_conf

from replik.settings import Settings, load_settings
from replik.store import Entry, Store, new_id

ROOT = Path(__file__).resolve().parents[1]


def make_settings(site: Path, siteurl: str = "http://127.0.0.1:8000",
                  **overrides: Any) -> Settings:
    """The project's settings, pointed at a blog in ``site``."""
    write_posts(site)
    override = {**blog_paths(site, siteurl), "DELETE_OUTPUT_DIRECTORY": False}
    return load_settings(ROOT / "pelicanconf.py", override=override).replace(**overrides)


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
    write_posts(site)
    return write_project_conf(site, **blog_paths(site, siteurl), **extra)


def _invalid_key(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="invalid")  # what Akismet answers to a bad key


class InvalidKeyClient(akismet.TestSyncClient):
    """The package's test client answering as Akismet does to a wrong key or blog URL."""

    def __init__(self, config: akismet.Config | None = None,
                 http_client: httpx.Client | None = None) -> None:
        super().__init__(config=config, http_client=http_client)
        self._http_client = httpx.Client(transport=httpx.MockTransport(_invalid_key))
