"""Engine throughput on a fixed batch: the figures of the deployment table.

Measured as a benchmark tool measures (warm-up calls first, then the median
of timed calls), never in a test. Preprocessing and image decoding are not
included; box decoding and NMS are (they are part of every engine).
"""
import statistics
import time
from typing import Dict

import numpy as np

from ssd_ext.deployment.backends.interface import Engine


def time_engine(engine: Engine, images: np.ndarray, warmup: int = 3, repeats: int = 10
                ) -> Dict[str, float]:
    """``latency_ms`` (median of ``repeats`` calls on ``images`` [B, 3, H, W])
    and ``images_per_s`` (B over that median)."""
    for _ in range(warmup):
        engine(images)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine(images)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return dict(latency_ms=1000 * median, images_per_s=len(images) / median)
