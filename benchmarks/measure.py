"""Run a command in a fresh process and measure its wall time and peak memory."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Measurement:
    seconds: float  # wall time
    cpu_seconds: float  # user + system: steadier than wall time on a busy machine
    peak_rss_mb: float
    returncode: int
    user_seconds: float = 0.0  # the two parts of cpu_seconds
    system_seconds: float = 0.0


#: Runs the measured command for ``run_measured``: forks, execs it, waits for it with
#: wait4() and writes "status wall user system maxrss" to the file in argv[1].
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_pid, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    out.write(f"{status} {wall} {usage.ru_utime} {usage.ru_stime} {usage.ru_maxrss}")
"""


def run_measured(argv: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
                 ) -> Measurement:
    """Run ``argv`` with output to ``log``; wait4() gives this one child's peak RSS.

    (RUSAGE_CHILDREN would report the maximum over every child this process ever
    waited for, so the second build would inherit the first one's peak.) The
    command is started by a small launcher process that forks it: a process
    spawned straight from this one (posix_spawn and subprocess use vfork) starts
    its peak RSS at this process's own peak, which a benchmark that checked
    100,000 files in between had raised to 150 MB.
    """
    result = log.with_name(f".{log.name}.rusage")
    launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(result), *argv]
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    old_cwd = os.getcwd()
    os.chdir(cwd)  # posix_spawn has no cwd argument (before Python 3.13)
    try:
        pid = os.posix_spawn(launcher[0], launcher,
                             env if env is not None else dict(os.environ),
                             file_actions=actions)
        _pid, launcher_status = os.waitpid(pid, 0)
    finally:
        os.chdir(old_cwd)
    try:
        status, wall, user, system, maxrss = result.read_text().split()
    except (OSError, ValueError):
        raise RuntimeError(f"the launcher of {argv[0]} failed"
                           f" ({os.waitstatus_to_exitcode(launcher_status)})") from None
    result.unlink()
    # Linux reports ru_maxrss in KiB.
    return Measurement(float(wall), float(user) + float(system), int(maxrss) / 1024,
                       os.waitstatus_to_exitcode(int(status)), float(user), float(system))


def summarize(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


def best_cpu_of(work: Callable[[Any], object], items: list[Any], repeat: int) -> float:
    """The least CPU seconds of ``repeat`` runs of ``work`` over all ``items``
    (micro-benchmarks: the least is the run least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for item in items:
            work(item)
        best = min(best, time.process_time() - start)
    return best


def file_creation_us(folder: Path, count: int = 200) -> float:
    """What creating one empty file costs in ``folder`` (µs): the file system's state.

    On ext4 this moves from about 15 to several hundred µs: for about 30 s after
    many files were deleted, each new inode is found only after skipping the
    recently freed ones. Builds create thousands of files, so it is reported."""
    probe = folder / "file-system-probe"
    probe.mkdir(parents=True)
    started = time.perf_counter()
    for number in range(count):
        os.close(os.open(probe / str(number), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return round((time.perf_counter() - started) / count * 1e6, 1)
