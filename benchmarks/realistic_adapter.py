"""The mock in its realistic mode with the benchmark's delays (spec `realistic_adapter:adapter`,
imported through PYTHONPATH=benchmarks by realistic_time.py, so any checkout can be measured).

What this module knows: env CERTCONFORM_BENCH_DELAY (seconds until a revocation or removal lands,
default 0.2), the same for both. What it does not know: what is timed (realistic_time.py).
"""
from __future__ import annotations

import os

from certconform.mdm.mock import MockMDM


def adapter() -> MockMDM:
    delay = float(os.environ.get("CERTCONFORM_BENCH_DELAY", "0.2"))
    return MockMDM(realistic=True, revocation_delay=delay, removal_delay=delay)
