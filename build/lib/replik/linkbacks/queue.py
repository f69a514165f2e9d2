"""The webmention queue: received requests waiting for verification, kept in the store.

It survives restarts and works with several server processes and a CLI worker at
once, using the store's protocol: a job is written to ``queue/tmp/``, fsync'd
and renamed into ``queue/new/``; a worker claims it with one rename into
``queue/cur/`` (only one worker can win); when done the file is removed, and a
job to retry goes back into ``new/`` with a later ``not_before``. A worker that
dies leaves its job in ``cur/``, which ``recover()`` puts back after a while.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ..store import fsync_dir, new_id, write_temp

log = logging.getLogger(__name__)

STALE_CLAIM_SECONDS = 600


@dataclass
class Job:
    source: str
    target: str
    ip: str = ""
    user_agent: str = ""
    received: float = 0.0
    attempts: int = 0
    not_before: float = 0.0


class Queue:
    def __init__(self, store_root: str | os.PathLike[str], name: str = "webmention") -> None:
        self.root = Path(store_root) / "queue" / name

    def _dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _write(self, job: Job, name: str) -> None:
        data = json.dumps(asdict(job), ensure_ascii=False, sort_keys=True).encode("utf-8")
        tmp = write_temp(self._dir("tmp"), name, data)
        target = self._dir("new") / name
        try:
            os.rename(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)

    def put(self, job: Job) -> str:
        """Add a job durably; returns its name."""
        job.received = job.received or time.time()
        name = f"{new_id()}.json"
        self._write(job, name)
        return name

    def pending(self) -> list[Path]:
        folder = self.root / "new"
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix == ".json")

    def __len__(self) -> int:
        return len(self.pending())

    def claim(self, now: float | None = None) -> Iterator[tuple[Path, Job]]:
        """Claim ready jobs one by one, oldest first (each claim is one rename)."""
        now = time.time() if now is None else now
        for path in self.pending():
            try:
                job = Job(**json.loads(path.read_text("utf-8")))
            except FileNotFoundError:
                continue  # another worker took it
            except (ValueError, TypeError) as exc:
                log.error("replik: dropping unreadable webmention job %s: %s", path, exc)
                path.unlink(missing_ok=True)
                continue
            if job.not_before > now:
                continue
            claimed = self._dir("cur") / path.name
            try:
                os.rename(path, claimed)
                os.utime(claimed)  # the claim's age, not the job's, decides staleness
            except FileNotFoundError:
                continue
            yield claimed, job

    def done(self, claimed: Path) -> None:
        claimed.unlink(missing_ok=True)

    def retry(self, claimed: Path, job: Job, delay: float) -> None:
        """Put a claimed job back for a later attempt."""
        job.attempts += 1
        job.not_before = time.time() + delay
        self._write(job, claimed.name)
        claimed.unlink(missing_ok=True)

    def recover(self, stale_after: float = STALE_CLAIM_SECONDS) -> int:
        """Return jobs claimed by a worker that died (older than ``stale_after``)."""
        folder = self.root / "cur"
        if not folder.is_dir():
            return 0
        count = 0
        now = time.time()
        for path in folder.iterdir():
            try:
                if now - path.stat().st_mtime < stale_after:
                    continue
                os.rename(path, self._dir("new") / path.name)
                count += 1
            except FileNotFoundError:
                continue
        return count
