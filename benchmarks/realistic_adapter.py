"""The mock in its realistic mode with the benchmark's delays (spec `realistic_adapter:adapter`,
imported through PYTHONPATH=benchmarks by realistic_time.py and slow_products.py, so any checkout
can be measured).

What this module knows: env CERTCONFORM_BENCH_DELAY (seconds until a revocation or removal lands,
default 0.2), the same for both, and env CERTCONFORM_BENCH_DELIVERY_DELAY (seconds until a
check-in's certificates land, default 0; only checkouts whose mock has a delivery delay).
What it does not know: what is timed.
"""
from __future__ import annotations

import os

from certconform.mdm.mock import MockMDM


def adapter() -> MockMDM:
    delay = float(os.environ.get("CERTCONFORM_BENCH_DELAY", "0.2"))
    delivery = float(os.environ.get("CERTCONFORM_BENCH_DELIVERY_DELAY", "0") or 0)
    if delivery:
        return MockMDM(realistic=True, revocation_delay=delay, removal_delay=delay, delivery_delay=delivery)
    return MockMDM(realistic=True, revocation_delay=delay, removal_delay=delay)
