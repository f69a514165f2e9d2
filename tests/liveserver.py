"""A WSGI app served on a free loopback port in a thread, for tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server


class Holder:
    """A WSGI app that can be set after the server has its port."""

    def __init__(self, app: Callable | None = None) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        assert self.app is not None, "no app set yet"
        return self.app(environ, start_response)


@contextmanager
def live_server(app: Callable | None = None, name: str = "127.0.0.1"
                ) -> Iterator[tuple[str, Holder]]:
    """Serve ``app`` on a free loopback port in a thread; yields (base URL, holder).

    ``name`` is the host name the base URL uses (the server binds 127.0.0.1).
    """
    holder = Holder(app)
    server = make_server("127.0.0.1", 0, holder, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://{name}:{server.server_port}", holder
    finally:
        server.shutdown()
        thread.join(5)


def free_port() -> int:
    """A loopback port nobody listens on (for servers started in another process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], what: str = "", timeout: float = 10.0) -> Any:
    """Poll ``predicate`` until it returns something true, and return that; fail the
    test (naming ``what``) if it does not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}")
