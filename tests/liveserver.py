"""A WSGI app served on a free loopback port in a thread, for tests."""

from __future__ import annotations

import threading
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
