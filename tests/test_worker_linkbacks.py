"""`replik worker` announces new posts only once its publish hook has put them online:
the linked blog fetches our post as soon as it is told (a pingback checks at once).
A real worker build, a real hook, a webmention endpoint on loopback."""

from __future__ import annotations

import pytest
from linkback_support import make_settings
from test_linkbacks_send import SITE, WebmentionEndpoint, receivers, write_post  # noqa: F401
from werkzeug.wrappers import Request, Response

from replik.state import open_state
from replik.worker import Worker


class Online(WebmentionEndpoint):
    """An endpoint that notes whether our pages were online when it was told."""

    def __init__(self, published) -> None:
        super().__init__()
        self.published = published
        self.online: list[bool] = []

    def respond(self, request: Request) -> Response:
        self.online.append(self.published.exists())
        return super().respond(request)


@pytest.mark.parametrize("hook_fails_first", [False, True])
def test_the_worker_sends_linkbacks_after_the_publish_hook(
        tmp_path, receivers, monkeypatch, hook_fails_first):  # noqa: F811
    monkeypatch.delenv("REPLIK_DATABASE_URL", raising=False)
    published, fail = tmp_path / "published", tmp_path / "fail-once"
    if hook_fails_first:  # the upload fails once: the retry's build is not a full one
        fail.touch()
    hook = f"if [ -e {fail} ]; then rm {fail}; exit 1; fi; touch {published}"
    settings = make_settings(tmp_path, SITE, PLUGINS=["replik", "replik.linkbacks"],
                             REPLIK_LINKBACK_SEND_ON_BUILD=True, REPLIK_WORKER=True,
                             REPLIK_PUBLISH_HOOK=hook)
    endpoint = receivers.pages["/wm/link"] = Online(published)
    write_post(tmp_path, "linkliste", [receivers.base + "/b"])
    worker = Worker(settings)
    worker.rebuilder.retry_delays = (0.0,)
    open_state(settings).rebuilds.put()
    for _attempt in range(3):
        worker.drain()
        if published.exists():
            break
    assert worker.failures == 0 and published.exists()
    assert endpoint.online == [True]
    assert endpoint.received == [{"source": f"{SITE}/linkliste/",
                                  "target": receivers.base + "/b"}]
    open_state(settings).rebuilds.put()  # the next decision's rebuild announces nothing
    assert worker.drain() == 1 and len(endpoint.received) == 1
