"""Webmention (W3C Recommendation, 12 January 2017): receiving.

§3.2.1 request verification happens at once (400 with a description for an
invalid or unsupported source or target, source equal to target, a target that
is not an article of ours); then the request is queued and answered with
``202 Accepted``. §3.2.2 verification runs later in a worker: the source is
fetched through the guarded fetcher and must link to the target. A repeated
webmention updates the stored entry; a source that answers 410 Gone or no
longer links to the target deletes it (§3.2.4 / the "update and delete" notes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..state import Job, WebmentionQueue
from .html import same_url
from .receive import Denied, Receiver, TargetProblem
from .verify import SourceProblem, is_http_url, verify

log = logging.getLogger(__name__)

MAX_URL = 2048
# The request body: two URLs, form-encoded, with room to spare.
MAX_BODY = 16 * 1024
# Seconds to wait before each retry of a source that failed on its side.
RETRY_DELAYS = (60.0, 300.0, 1800.0)


@dataclass
class Answer:
    status: int
    message: str
    retry_after: int = 0


def accept(receiver: Receiver, queue: WebmentionQueue, source: str, target: str, ip: str = "",
           user_agent: str = "") -> Answer:
    """The synchronous checks; queue the request if they pass."""
    source, target = source.strip(), target.strip()
    if not source or not target:
        return Answer(400, "Both source and target are required (form fields).")
    if len(source) > MAX_URL or len(target) > MAX_URL:
        return Answer(400, f"source and target may be at most {MAX_URL} characters long.")
    for name, url in (("source", source), ("target", target)):
        if not is_http_url(url):
            return Answer(400, f"{name} must be an http or https URL.")
    if same_url(source, target):
        return Answer(400, "source and target must not be the same URL.")
    try:
        receiver.article_for(target)
    except TargetProblem as exc:
        return Answer(400, f"target is not accepted: {exc}.")
    try:
        receiver.check_policy(source, ip)
    except Denied as exc:
        if exc.retry_after:
            return Answer(429, f"{exc}.", exc.retry_after)
        return Answer(400, f"source is not accepted: {exc}.")
    queue.put(Job(source=source, target=target, ip=ip, user_agent=user_agent))
    return Answer(202, "Accepted: the webmention will be verified and then moderated.")


def process(receiver: Receiver, job: Job) -> str:
    """Verify one queued webmention and store, update or delete; returns what happened.

    Raises SourceProblem with kind ``upstream``/``unreachable`` when a retry may help.
    """
    try:
        article = receiver.article_for(job.target)
    except TargetProblem as exc:
        return f"dropped: {exc}"
    existing = receiver.pairs.find(job.source, article.slug)
    try:
        source = verify(job.source, job.target, receiver.settings)
    except SourceProblem as exc:
        if exc.kind in ("upstream", "unreachable"):
            raise
        if exc.kind in ("gone", "nolink") and existing is not None:
            receiver.remove(existing, str(exc))
            return f"deleted {existing.id}: {exc}"
        return f"dropped: {exc}"
    if existing is not None:
        if existing.state == "trash":
            return f"ignored: {existing.id} was trashed by a moderator"
        receiver.update(existing, source, job.target, "webmention")
        return f"updated {existing.id}"
    entry = receiver.save("webmention", source, job.target, article, ip=job.ip,
                          user_agent=job.user_agent)
    return f"stored {entry.id} ({entry.state})"


def work(receiver: Receiver, queue: WebmentionQueue,
         stop: Callable[[], bool] = bool) -> list[tuple[Job, str]]:
    """Process every ready job once (until ``stop()``); returns (job, outcome) pairs.

    Jobs are claimed one at a time, so several workers (server processes, the
    CLI) share the queue; a job retried is not ready again before its delay.
    """
    results: list[tuple[Job, str]] = []
    while not stop() and (claimed := queue.claim()):
        [job] = claimed
        try:
            outcome = process(receiver, job)
        except SourceProblem as exc:
            if job.attempts < len(RETRY_DELAYS):
                delay = RETRY_DELAYS[job.attempts]
                queue.retry(job.id, delay)
                outcome = f"retry in {delay:.0f} s: {exc}"
            else:
                queue.done(job.id)
                outcome = f"dropped after {job.attempts + 1} attempts: {exc}"
        except Exception as exc:  # noqa: BLE001 - one bad job must not stop the queue
            log.exception("replik: webmention job %s failed", job.id)
            queue.done(job.id)
            outcome = f"dropped: {exc.__class__.__name__}: {exc}"
        else:
            queue.done(job.id)
        log.info("replik: webmention %s -> %s: %s", job.source, job.target, outcome)
        results.append((job, outcome))
    return results
