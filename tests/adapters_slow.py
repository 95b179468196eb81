"""Products that take time, for the self-tests of declared windows, cells, people and plans
(--mdm tests.adapters_slow:NAME; tests/test_slow_products.py).

What this module knows: how to vary the realistic mock (mdm/mock) the way a slow product varies:
random delays within its declared windows (`within`), deliveries later than it declares (`late`),
a pool whose wiped or retired devices need a person before they are back (`person`, `person_5`),
a request budget (`budget`), and a wrapper that writes down every call it gets (`counting`, env
CERTCONFORM_CALLS_FILE). What it does not know: what the suite concludes from them.
"""
from __future__ import annotations

import os
import random
import threading
import time

from certconform.mdm.mock import MockMDM

WINDOW = 0.08  # seconds of the declared windows of `within` (delays drawn up to it)


class RandomWithin(MockMDM):
    """Every delivery, revocation and removal lands after a random delay up to its declared window
    (WINDOW): a slow product that keeps its word."""

    def __init__(self, seed: int | None = None, window: float = WINDOW):
        self.window = window
        self._random = random.Random(seed)
        super().__init__(realistic=True, revocation_delay=window, removal_delay=window, delivery_delay=window)

    def _delay(self, kind: str) -> float:
        return self._random.uniform(0.0, self.window * 0.95)

    def capabilities(self) -> dict:
        caps = super().capabilities()
        caps["windows"] = {"delivery": self.window, "revocation": self.window, "removal": self.window,
                           "propagation": 0.0, "device_action": 0.0}
        caps["settle_s"] = self.window
        return caps


def within() -> RandomWithin:
    return RandomWithin(seed=int(os.environ.get("CERTCONFORM_TEST_SEED", "1")))


class LateDelivery(MockMDM):
    """Declares a delivery window of 0.1 s but delivers 0.4 s after the check-in."""

    def __init__(self):
        super().__init__(realistic=True, revocation_delay=0.02, removal_delay=0.02, delivery_delay=0.4)

    def capabilities(self) -> dict:
        caps = super().capabilities()
        caps["windows"]["delivery"] = 0.1
        return caps


def late() -> LateDelivery:
    return LateDelivery()


class PersonPool(MockMDM):
    """A pool of `size` devices per platform; a wiped or retired device is out of the pool until a
    person re-enrols it, which the simulated person does `person_s` seconds later
    (awaiting_person() lists it until then)."""

    INSTRUCTIONS = {"wipe": "re-enrol the wiped device {device} in the lab", "retire": "re-enrol the retired device {device}"}

    def __init__(self, size: int = 2, person_s: float = 0.3):
        self.person_s = person_s
        self._away: list[tuple[str, str, float]] = []  # (platform, device, back at)
        self._lock = threading.Lock()
        super().__init__(realistic=True, revocation_delay=0.02, removal_delay=0.02,
                         pool={p: size for p in ("windows", "ios", "macos", "android_knox", "android_work",
                                                  "android_legacy")})

    def reset(self) -> None:
        super().reset()
        self._away = []

    def _end(self, action, target) -> None:
        was = target.enrolled
        super()._end(action, target)
        if was and not target.enrolled and action.__name__ in ("wipe", "retire"):
            self._bound[target.platform] += 1  # not back in the pool yet: a person must act
            self._away.append((target.platform, target.name, time.monotonic() + self.person_s))

    def _people(self) -> None:
        now = time.monotonic()
        for item in [a for a in self._away if a[2] <= now]:
            self._away.remove(item)
            self._bound[item[0]] -= 1

    def apply(self, event: dict) -> None:
        self._people()
        super().apply(event)

    def awaiting_person(self) -> list[dict]:
        self._people()
        return [{"platform": p, "device": f"lab-{p}-{d}", "instruction": "re-enrol it"} for p, d, _ in self._away]

    def capabilities(self) -> dict:
        caps = super().capabilities()
        caps["needs_person"] = dict(self.INSTRUCTIONS)
        return caps


def person() -> PersonPool:
    return PersonPool()


class Budget(MockMDM):
    """Declares at most 150 requests a second."""

    RATE = 150

    def __init__(self):
        super().__init__(realistic=True, revocation_delay=0.02, removal_delay=0.02)

    def capabilities(self) -> dict:
        return dict(super().capabilities(), max_requests_per_s=self.RATE)


class Counting:
    """The realistic mock behind a wrapper that appends every call's name and time to the file
    env CERTCONFORM_CALLS_FILE names (a plan must make none but capabilities)."""

    def __init__(self, inner=None):
        self.inner = inner or MockMDM(realistic=True, revocation_delay=0.02, removal_delay=0.02)
        self.path = os.environ.get("CERTCONFORM_CALLS_FILE")
        self._lock = threading.Lock()

    def _note(self, name: str) -> None:
        if self.path:
            with self._lock, open(self.path, "a", encoding="utf-8") as handle:
                handle.write(f"{name} {time.monotonic():.6f}\n")

    def reset(self):
        self._note("reset")
        self.inner.reset()

    def apply(self, event):
        self._note("apply")
        self.inner.apply(event)

    def observe(self):
        self._note("observe")
        return self.inner.observe()

    def capabilities(self):
        self._note("capabilities")
        return self.inner.capabilities()


def counting() -> Counting:
    return Counting()


def counting_budget() -> Counting:
    return Counting(Budget())
