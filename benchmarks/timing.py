"""Timing shared by the benchmarks: wall and CPU seconds of each repeat.

CPU time is reported beside wall time because this machine is often shared: when other jobs
hold the cores, wall time grows but the process's own CPU time barely moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def time_runs(fn: Callable[[], object], repeat: int) -> tuple[list[tuple[float, float]], object]:
    """(wall, CPU) seconds of each of ``repeat`` runs of ``fn``, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times, result
