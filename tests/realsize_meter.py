"""What a real-size test reports for its stage: parameters, peak memory and seconds.

Memory is the peak of the summed RSS of the test process and all its children (the session's Ray
cluster and the actors the stage started), above what they held before the stage began.
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


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


@contextmanager
def measured(stage: str, params: int, capsys: pytest.CaptureFixture) -> Iterator[None]:
    """Time the block and sample memory every 0.2 s; print one line past pytest's capture."""
    root = psutil.Process()
    base = peak = _tree_rss(root)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.2):
            peak = max(peak, _tree_rss(root))

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
            print(f"\nrealsize {stage}: {params / 1e6:,.1f}M parameters, peak memory +{(peak - base) / GIB:.2f} GiB "
                  f"(test process tree RSS), {seconds:.0f} s")  # fmt: skip
