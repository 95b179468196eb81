"""The stateful exploration split into shards: several collected items, so `pytest -n` can run
them on several cores.

What this module knows: how a profile's budget is divided and how each shard is seeded. A
derandomized profile (`ci`, `kill`, the mutant catalogue's) runs SHARDS items, each with
max_examples / SHARDS examples and its own fixed seed, given with Hypothesis's public `seed`
decorator on the state machine: the run stays deterministic, the shards explore different
sequences, and a serial run and a parallel run explore exactly the same ones (coverage.json,
merged from the shards' reports by certconform/plugin.py, is the same). A random profile
(`thorough`) keeps one item and its own seed handling (test_stateful.fix_seed), so the seed it
prints still replays the run.
What it does not know: what the state machine does (conformance/test_stateful.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import settings

SHARDS = 4  # items of a derandomized run: enough for -n 2 to balance against the feature scenarios
# `--stateful-shards N` sets another count (certconform/plugin.py): a run against a product that
# settles (a realistic run sleeps far more than it computes) gains from more xdist workers than
# cores, and from as many shards as workers. Another count explores other sequences (each shard's
# seed names the count), so the default stays fixed: a run is only comparable with runs of the same count.


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    @property
    def seed(self) -> str | None:
        """The shard's fixed seed (None when the profile is random: one shard, seeded as before)."""
        return f"certconform-{self}" if self.count > 1 else None

    def settings(self, current: settings) -> settings:
        """`current` with this shard's share of the examples."""
        if self.count == 1:
            return current
        return settings(current, max_examples=max(1, math.ceil(current.max_examples / self.count)))


def shards_for(current: settings, count: int | None = None) -> list[Shard]:
    """The shards of a run under `current`: `count` (default SHARDS) when derandomized, else one."""
    count = (count or SHARDS) if current.derandomize else 1
    return [Shard(i, count) for i in range(1, count + 1)]
