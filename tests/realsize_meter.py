"""What a real-size test reports for its stage: parameters, peak memory and seconds.

Memory is the peak, over samples every 0.2 s, of what the test process and all its children (the
session's Ray cluster and the actors the stage starts) hold beyond what each held when the stage
began: a new process counts whole, an older one by its growth, one that ended (an earlier stage's
actor) no longer counts.
"""

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from safetensors import safe_open

GIB = 1 << 30


def safetensors_params(folder: Path) -> int:
    """Parameters stored in the ``*.safetensors`` files under ``folder`` (read from the headers only)."""
    total = 0
    for path in folder.rglob("*.safetensors"):
        with safe_open(str(path), "pt") as f:
            total += sum(math.prod(f.get_slice(key).get_shape()) for key in f.keys())
    return total


def _tree_rss(root: psutil.Process) -> dict[int, int]:
    rss = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            rss[process.pid] = process.memory_info().rss
        except psutil.Error:
            continue
    return rss


@contextmanager
def measured(stage: str, params: int, capsys: pytest.CaptureFixture) -> Iterator[None]:
    """Time the block and sample memory every 0.2 s; print one line past pytest's capture."""
    root = psutil.Process()
    base = _tree_rss(root)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.2):
            now = _tree_rss(root)
            peak = max(peak, sum(max(0, rss - base.get(pid, 0)) for pid, rss in now.items()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
        with capsys.disabled():
            print(f"\nrealsize {stage}: {params / 1e6:,.1f}M parameters, peak memory +{peak / GIB:.2f} GiB "
                  f"(RSS added in the test's process tree), {seconds:.0f} s")  # fmt: skip
