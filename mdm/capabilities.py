"""The optional capabilities of an implementation (../shared/CONTRACT.md, "Optional: real products").

What this module knows: the keys `events`, `observes`, `settle_s` and `devices` of a
`capabilities()` / `GET /capabilities` answer, and two more an implementation on a real product
may declare: `unsupported_on` ({event type: {platform: reason}}: events it never performs on
devices of that platform, e.g. a wipe that would erase a Mac) and `dry_run` (true: it sends
nothing to the product, so nothing can be judged); their defaults when absent (everything
performable, every kind observable, synchronous, devices enrolled on demand, a real run), and how
to check them: a malformed value is a ValueError with one line naming the key. Every other key
(platforms, kinds, observe_since, the latency keys of issue 20, ...) is ignored here.
What it does not know: what the suite does with them (steps/driver.py: NotSupported before an
event that cannot be performed, settle polling; conformance/test_stateful.py: the generator).
"""
from __future__ import annotations

from dataclasses import dataclass

from certconform.model.world import EVENT_FIELDS, KINDS, PLATFORMS


@dataclass(frozen=True)
class Capabilities:
    events: frozenset[str] = frozenset(EVENT_FIELDS)
    observes: frozenset[str] = frozenset(KINDS)
    settle_s: float = 0.0
    devices: dict[str, int] | None = None  # {platform: pool size}; None: enrolled on demand
    unsupported_on: dict[str, dict[str, str]] | None = None  # {event type: {platform: reason}}
    dry_run: bool = False

    def performs(self, event_type: str) -> bool:
        return event_type in self.events

    def refuses_on(self, event_type: str, platform: str | None) -> str | None:
        """The reason `event_type` is never performed on a `platform` device, or None."""
        return ((self.unsupported_on or {}).get(event_type) or {}).get(platform or "")

    def pool(self, platform: str) -> int | None:
        """How many devices of `platform` can be enrolled (None: no limit)."""
        if self.devices is None:
            return None
        return self.devices.get(platform, 0)

    def describe(self) -> str:
        """One line for messages: what this implementation cannot do."""
        parts = []
        missing = sorted(set(EVENT_FIELDS) - self.events)
        if missing:
            parts.append("cannot perform " + ", ".join(missing))
        blind = sorted(set(KINDS) - self.observes)
        if blind:
            parts.append("cannot observe " + ", ".join(blind))
        if self.settle_s:
            parts.append(f"settles within {self.settle_s:g} s")
        if self.devices is not None:
            parts.append("device pool " + ", ".join(f"{p}: {n}" for p, n in sorted(self.devices.items())))
        return "; ".join(parts) or "everything, synchronously"


ALL = Capabilities()


def parse(raw: object) -> Capabilities:
    """Capabilities from a capabilities() answer (None or {} for none declared). A malformed value
    raises ValueError with one line naming the key."""
    if raw is None:
        return ALL
    if not isinstance(raw, dict):
        raise ValueError(f"capabilities must be an object, got {type(raw).__name__}")
    events, observes = ALL.events, ALL.observes
    if "events" in raw:
        events = _names(raw["events"], "events", EVENT_FIELDS)
    if "observes" in raw:
        observes = _names(raw["observes"], "observes", KINDS)
    settle = raw.get("settle_s", 0)
    if isinstance(settle, bool) or not isinstance(settle, (int, float)) or not 0 <= settle < float("inf"):
        raise ValueError(f"capabilities 'settle_s' must be a number of seconds >= 0, got {settle!r}"[:200])
    devices = raw.get("devices")
    if devices is not None:
        if not isinstance(devices, dict):
            raise ValueError(f"capabilities 'devices' must be an object {{platform: N}}, got {type(devices).__name__}")
        for platform, n in devices.items():
            if platform not in PLATFORMS:
                raise ValueError(f"capabilities 'devices' names an unknown platform {platform!r}"[:200])
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValueError(f"capabilities 'devices' for {platform} must be a count >= 0, got {n!r}"[:200])
        devices = dict(devices)
    refused = raw.get("unsupported_on")
    if refused is not None:
        if not isinstance(refused, dict) or not all(
                e in EVENT_FIELDS and isinstance(per, dict) and all(p in PLATFORMS and isinstance(why, str)
                                                                     for p, why in per.items())
                for e, per in refused.items()):
            raise ValueError(f"capabilities 'unsupported_on' must be {{event type: {{platform: reason}}}}, got "
                             f"{refused!r}"[:200])
        refused = {e: dict(per) for e, per in refused.items()}
    dry_run = raw.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValueError(f"capabilities 'dry_run' must be true or false, got {dry_run!r}"[:200])
    return Capabilities(events, observes, float(settle), devices, refused, dry_run)


def _names(value: object, key: str, known) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"capabilities {key!r} must be a list of names, got {value!r}"[:200])
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"capabilities {key!r} names unknown {', '.join(map(repr, unknown))}"[:200])
    return frozenset(value)
