# What this module knows: Intune's documented latencies and Graph's documented limits, each with
# the page it comes from (docs/graph-wire.md, "Time"), the delays the emulator actually uses
# (each within its documented bound, or marked as a choice where a page gives no figure), the time
# scale that turns Intune's hours into a rehearsal's seconds, and a scheduler of delayed effects
# that runs when the emulator is next called (no thread acts behind a client's back).
# What it does not know: what a delayed effect does (tenant.py) or HTTP (app.py).
"""Documented Intune latencies, the emulator's time scale and its scheduler of delayed effects."""
from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, fields, replace
from typing import Callable, NamedTuple

HOUR = 3600.0
MINUTE = 60.0


class Figure(NamedTuple):
    seconds: float  # in Intune's time
    source: str  # the page (and what it says, in our words)


# Documented bounds (Intune's time). MicrosoftDocs/memdocs, intune/...; microsoftgraph/
# microsoft-graph-docs-contrib, concepts/...; entra: learn.microsoft.com/entra/identity-platform.
DOCUMENTED = {
    # a device that is on and connected receives a remote action (wipe, retire) within 15 minutes
    "remote_action": Figure(15 * MINUTE, "memdocs intune/remote-actions/devices-wipe.md (Wipe; Retire: "
                                         "propagates in less than 15 minutes when the device is on and connected)"),
    # the scheduled check-in ("refresh cycle") of every platform after the first hours of enrolment
    "refresh_cycle": Figure(8 * HOUR, "memdocs intune/configuration/device-profile-troubleshoot.md (estimated "
                                      "refresh cycle: about every 8 hours, iOS/iPadOS, macOS, Android, Windows)"),
    # a user removed from a group: the profile's settings leave the device within 7 hours or more
    "group_removal": Figure(7 * HOUR, "memdocs intune/configuration/device-profile-troubleshoot.md (a user removed "
                                      "from a group: up to 7 hours or more, then the device's refresh cycle)"),
    # a new primary user shows in Intune and Entra within 10 minutes
    "primary_user": Figure(10 * MINUTE, "memdocs intune/remote-actions/find-primary-user.md (updates to the "
                                        "primary user can take up to 10 minutes)"),
    # an access token's lifetime: a random value between 60 and 90 minutes; the emulator takes the
    # shortest, so a client that does not renew fails as early as it could on Entra
    "token_lifetime": Figure(60 * MINUTE, "learn.microsoft.com/entra/identity-platform/access-tokens (default "
                                          "lifetime: random, 60 to 90 minutes)"),
}

# Graph's throttling limits per app per tenant (concepts/throttling-limits.md, which includes
# includes/throttling-intune-device-configuration.md and includes/throttling-intune-devices.md):
# (path prefix, any request per window, writes per window, window seconds). Real seconds: a
# throttle protects the service's capacity, which a time scale does not multiply.
THROTTLE_LIMITS = (
    ("/beta/deviceManagement/deviceConfigurations", 1000, 100, 20.0),  # Intune device configuration
    ("/beta/deviceManagement/managedDevices", 2000, 200, 20.0),  # Intune devices
)
THROTTLE_SOURCE = ("microsoft-graph-docs-contrib concepts/throttling-limits.md, Intune service limits "
                   "(device configuration: 1000 requests / 20 s per app, 100 of them writes; devices: 2000 / 200)")


@dataclass(frozen=True)
class Delays:
    """How long (Intune's seconds) the emulated tenant takes for each effect. Defaults lie within
    the documented bounds above; where no page gives a figure the default is a marked choice."""

    notify_s: float = 5 * MINUTE  # a device answers a notification (syncDevice, retire, wipe): < 15 min
    propagation_s: float = 1 * HOUR  # a group membership reaches Intune's targeting: <= 7 h
    revocation_s: float = 15 * MINUTE  # the certificate connector revokes: no figure (choice)
    primary_user_s: float = 5 * MINUTE  # a primary-user change shows: <= 10 min
    reenrol_s: float = 30 * MINUTE  # the lab's person re-enrols a wiped or retired device (the lab's, choice)
    token_lifetime_s: float = DOCUMENTED["token_lifetime"].seconds

    @classmethod
    def instant(cls) -> "Delays":
        """No delay at all (in-process self-tests that check something else)."""
        return cls(**{f.name: 0.0 for f in fields(cls) if f.name != "token_lifetime_s"})

    def with_(self, **changes) -> "Delays":
        return replace(self, **changes)


class Clock:
    """Intune's time from real time: `scale` Intune seconds pass per real second."""

    def __init__(self, scale: float = 1.0, now: Callable[[], float] = time.monotonic) -> None:
        if not scale > 0:
            raise ValueError(f"time_scale must be > 0, got {scale!r}")
        self.scale, self._now = float(scale), now
        self._as_of: float | None = None  # while a delayed effect runs: when it was due

    def real(self, intune_seconds: float) -> float:
        """Real seconds that `intune_seconds` of Intune's time take."""
        return intune_seconds / self.scale

    def now(self) -> float:
        """The moment (monotonic seconds): while a delayed effect runs, the moment it was due
        (Scheduler.run_due), so that what it sets in motion counts from then."""
        return self._now() if self._as_of is None else self._as_of


class Scheduler:
    """Delayed effects, run in due order when `run_due()` is called (at every request)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def after(self, intune_seconds: float, effect: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self.clock.now() + self.clock.real(intune_seconds), next(self._order), effect))

    def run_due(self) -> None:
        """Run the effects that are due, in due order, each as of the moment it was due.

        Intune acts whether or not anyone asks, and the emulator runs a due effect only at the
        next request: an effect's own delays (a revocation after a membership reached targeting, a
        notification's check-in) count from when it was due, not from that request, so a quiet
        spell between requests (a loaded machine, a slow client) does not delay them further."""
        now = self.clock.now()
        while self._queue and self._queue[0][0] <= now:
            due, _, effect = heapq.heappop(self._queue)
            self.clock._as_of = due
            try:
                effect()
            finally:
                self.clock._as_of = None

    def pending(self) -> int:
        return len(self._queue)
