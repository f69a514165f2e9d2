"""The reply-notification benchmark: one staff answer to a thread with 1,000 subscribers.

A store with one approved reader comment and a state file with N confirmed
subscribers to its thread (``all``); then:

- ``queue``: ``Moderation.reply`` (what the desk does for "publish reply") with
  N subscribers, against the same call on a thread without subscribers: the
  difference is what queueing N mails adds to a decision (target: ≤ 1 s);
- ``delivery``: ``reader_mail.deliver`` sends the N mails to a local aiosmtpd on
  loopback (one connection per round of 100): mails per second.

Run it alone with ``python -m benchmarks.notify [--subscribers N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGET_SECONDS = 1.0


def _settings(root: Path) -> Any:
    from replik.settings import Settings

    return Settings.from_mapping({
        "PATH": str(root / "content"), "REPLIK_PROJECT_ROOT": str(root),
        "REPLIK_STORE": "comments", "REPLIK_CACHE": "cache",
        "SITEURL": "https://blog.example", "SITENAME": "Benchmark", "DEFAULT_LANG": "de",
        "TIMEZONE": "Europe/Berlin", "REPLIK_NOTIFY_BATCH_MINUTES": 0,
    })


def _thread(settings: Any, slug: str, subscribers: int) -> str:
    """An approved comment on ``slug`` and ``subscribers`` confirmed subscriptions."""
    from replik.settings import store_path
    from replik.state import open_state
    from replik.store import Entry, Store, new_id

    store = Store(store_path(settings))
    store.ensure()
    parent = Entry(id=new_id(), article=slug, body="Eine Frage an die Redaktion.",
                   date=datetime.now(UTC), author="Leserin", email="leserin@example.org")
    store.add(parent, "approved")
    now = time.time()
    with open_state(settings).transaction() as db:  # set-up in one transaction
        db.executemany(
            "INSERT INTO subscriptions (email, email_key, name, article, entry, scope, title, "
            "permalink, lang, created, confirmed) VALUES (?,?,?,?,'','all',?,?,'de',?,?)",
            [(f"leser{i}@example.org", f"leser{i}@example.org", f"Leser {i}", slug,
              "Ein Beitrag", f"https://blog.example/{slug}/", now, now)
             for i in range(subscribers)])
    return parent.id


def measure(subscribers: int = 1000, workdir: Path | None = None) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    from replik import reader_mail
    from replik.moderation import Moderation
    from replik.state import open_state

    root = Path(tempfile.mkdtemp(prefix="replik-bench-notify-", dir=workdir))
    saved = {k: os.environ.get(k) for k in ("REPLIK_SMTP_HOST", "REPLIK_SMTP_PORT",
                                            "REPLIK_SMTP_FROM", "REPLIK_SECRET_KEY")}
    try:
        settings = _settings(root)
        quiet = _thread(settings, "ohne-abonnenten", 0)
        busy = _thread(settings, "mit-abonnenten", subscribers)
        moderation = Moderation(settings, actor="bench")
        moderation.reply(quiet, "Aufwärmen.")  # imports, first connection
        started = time.perf_counter()
        moderation.reply(quiet, "Antwort ohne Abonnenten.")
        plain = time.perf_counter() - started
        started = time.perf_counter()
        moderation.reply(busy, "Antwort an alle Abonnenten.")
        with_subscribers = time.perf_counter() - started
        queued = len(open_state(settings).outbox.listing("queued"))

        class Count:
            received = 0

            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                Count.received += 1
                return "250 OK"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = Controller(Count(), hostname="127.0.0.1", port=port)
        controller.start()
        try:
            os.environ.update({"REPLIK_SMTP_HOST": "127.0.0.1", "REPLIK_SMTP_PORT": str(port),
                               "REPLIK_SMTP_FROM": "blog@blog.example",
                               "REPLIK_SECRET_KEY": "bench-" + "k" * 32})
            started = time.perf_counter()
            counts = reader_mail.deliver(settings)
            delivery = time.perf_counter() - started
        finally:
            controller.stop()
        return {
            "subscribers": subscribers,
            "queued": queued,
            "reply_without_subscribers_s": round(plain, 4),
            "reply_with_subscribers_s": round(with_subscribers, 4),
            "queue_s": round(with_subscribers - plain, 4),
            "target_s": TARGET_SECONDS,
            "sent": counts["sent"],
            "received": Count.received,
            "delivery_s": round(delivery, 3),
            "mails_per_s": round(counts["sent"] / delivery, 1) if delivery else None,
        }
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)


def run(report: dict[str, Any], subscribers: int = 1000) -> None:
    result = measure(subscribers)
    result["summary"] = [
        f"staff answer to a thread with {result['subscribers']} subscribers: "
        f"{result['reply_with_subscribers_s'] * 1000:.0f} ms "
        f"(without subscribers {result['reply_without_subscribers_s'] * 1000:.0f} ms; "
        f"queueing {result['queued']} mails adds {result['queue_s'] * 1000:.0f} ms, "
        f"target ≤ {TARGET_SECONDS:g} s)",
        f"delivery to a local aiosmtpd: {result['sent']} mails in {result['delivery_s']:.2f} s"
        f" = {result['mails_per_s']} mails/s",
    ]
    report["notify"] = result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1000)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    run(report, args.subscribers)
    print("\n".join(report["notify"]["summary"]))


if __name__ == "__main__":
    main()
