"""The optional capabilities of an implementation (../shared/CONTRACT.md, "Optional: real products",
and the slow-product extension fixed in docs/slow-products.md).

What this module knows: the keys `events`, `observes`, `settle_s`, `devices`, `windows`,
`typical`, `observation_s`, `max_requests_per_s`, `needs_person`, `cells`, `unsupported_on` and
`dry_run` of a `capabilities()` / `GET /capabilities` answer, their defaults when absent
(everything performable, every kind observable, synchronous, devices enrolled on demand, every
window = settle_s, every typical latency = its window, observations that cost nothing, no request
budget, no person needed, any number of cells, every event performed on every platform, a real
run), how to check them (a malformed value is a ValueError with one line naming the key), and which
window a change gets: its *aspect* (a revocation, a removal, a delivery at check-in) and the *cause*
of the event (directory and group propagation, a device action); and how long a required change
typically takes (`typical`: for the plan only, certconform/plan.py; the suite always waits the
whole window before it judges a change missing). `unsupported_on` ({event type:
{platform: reason}}) names events an implementation on a real product never performs on devices of
a platform (e.g. a wipe that would erase a Mac); `dry_run` true means it sends nothing to the
product, so nothing can be judged. Every other key (platforms, kinds, observe_since, ...) is
ignored here.
What it does not know: what the suite does with them (steps/driver.py: NotSupported before an
event that cannot be performed, waiting for the windows; conformance/test_stateful.py: the
generator; conformance/scheduler.py: cells, the request budget, the pool, people).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from certconform.model.world import DEVICE_ACTIONS, EVENT_FIELDS, KINDS, PLATFORMS

WINDOW_CLASSES = ("delivery", "revocation", "removal", "propagation", "device_action")
ASPECTS = ("delivery", "revocation", "removal")  # what a change is
# The cause of an event: which window its effects may also take (LATENCY-CONTRACT.md)
PROPAGATION_EVENTS = frozenset({"add_member", "remove_member", "assign_profile", "unassign_profile", "update_profile",
                                "delete_user", "delete_group", "lose_license", "withdraw_license"})
PERSON_EVENTS = frozenset(DEVICE_ACTIONS)  # the event types `needs_person` may name


def cause_of(event_type: str) -> str | None:
    """The window class of an event's cause: propagation, device_action, or None."""
    if event_type in PROPAGATION_EVENTS:
        return "propagation"
    if event_type in PERSON_EVENTS:
        return "device_action"
    return None


@dataclass(frozen=True)
class Capabilities:
    events: frozenset[str] = frozenset(EVENT_FIELDS)
    observes: frozenset[str] = frozenset(KINDS)
    settle_s: float = 0.0
    devices: dict[str, int] | None = None  # {platform: pool size}; None: enrolled on demand
    windows: dict[str, float] = field(default_factory=dict)  # {class: seconds}; a missing class = settle_s
    typical: dict[str, float] = field(default_factory=dict)  # {class: seconds} <= its window; missing = the window
    observation_s: float = 0.0  # seconds an observation typically takes (the plan's figure)
    max_requests_per_s: float | None = None  # None: no budget
    needs_person: dict[str, str] = field(default_factory=dict)  # {event type: one-line instruction}
    cells: int | None = None  # how many independent cells at once (None: unbounded)

    unsupported_on: dict[str, dict[str, str]] | None = None  # {event type: {platform: reason}}
    dry_run: bool = False

    def __hash__(self) -> int:  # (dict fields: hash what identifies the declaration)
        return hash((self.events, self.observes, self.settle_s, tuple(sorted((self.windows or {}).items()))))

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

    # -- windows --------------------------------------------------------------------------------
    def window(self, cls: str | None) -> float:
        """Seconds of window class `cls` (settle_s when not declared; 0 for no class)."""
        if cls is None:
            return 0.0
        return float(self.windows.get(cls, self.settle_s))

    @cached_property
    def latent(self) -> bool:
        """Whether the implementation declares any window > 0 (effects may land after apply).
        (Asked after every event: worked out once.)"""
        return self.settle_s > 0 or any(v > 0 for v in self.windows.values())

    def required_window(self, event_type: str, aspect: str) -> tuple[float, str]:
        """(seconds, class) within which a required change of `aspect` caused by an event of
        `event_type` must appear: max(window[aspect], window[cause])."""
        cause = cause_of(event_type)
        a, c = self.window(aspect), self.window(cause)
        return (c, cause) if cause is not None and c > a else (a, aspect)

    def forbidden_window(self, event_type: str) -> tuple[float, str]:
        """(seconds, class) after which no change of an event of `event_type` can still land:
        max(window[revocation], window[removal], window[cause]), plus delivery after a check-in."""
        classes = ["revocation", "removal"] + (["delivery"] if event_type == "check_in" else [])
        cause = cause_of(event_type)
        if cause is not None:
            classes.append(cause)
        return max(((self.window(c), c) for c in classes), key=lambda p: p[0])

    def typical_latency(self, event_type: str, aspects) -> float:
        """Seconds a required change of `aspects` (the slowest of them) caused by an event of
        `event_type` typically takes: the cause reaches the product (typical[cause]), then the
        device acts (typical[aspect]); never more than its window. A class without a typical
        figure counts as its whole window, so a product that declares none is planned at its
        bounds. For the plan only: the suite waits the whole window before it judges."""
        cause = cause_of(event_type)
        out = 0.0
        for aspect in aspects:
            bound = self.required_window(event_type, aspect)[0]
            took = self._typical(aspect) + (self._typical(cause) if cause is not None else 0.0)
            out = max(out, min(took, bound))
        return out

    def _typical(self, cls: str) -> float:
        return float(self.typical.get(cls, self.window(cls)))

    @property
    def longest_window(self) -> float:
        return max([self.settle_s] + [self.window(c) for c in WINDOW_CLASSES])

    def window_text(self, cls: str, seconds: float | None = None) -> str:
        """'the declared settle_s 0.25 s' (no `windows` declared: as before) or 'the declared
        revocation window 10 s (capabilities 'windows')'."""
        seconds = self.window(cls) if seconds is None else seconds
        if cls not in self.windows:
            return f"the declared settle_s {seconds:g} s"
        return f"the declared {cls} window {seconds:g} s (capabilities 'windows')"

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
        if self.windows:
            parts.append("windows " + ", ".join(f"{c} {s:g} s" for c, s in sorted(self.windows.items())))
        if self.typical:
            parts.append("typically " + ", ".join(f"{c} {s:g} s" for c, s in sorted(self.typical.items())))
        if self.devices is not None:
            parts.append("device pool " + ", ".join(f"{p}: {n}" for p, n in sorted(self.devices.items())))
        if self.max_requests_per_s:
            parts.append(f"at most {self.max_requests_per_s:g} requests/s")
        if self.needs_person:
            parts.append("a person is needed after " + ", ".join(sorted(self.needs_person)))
        if self.cells:
            parts.append(f"{self.cells} cells at once")
        return "; ".join(parts) or "everything, synchronously"


ALL = Capabilities()


def _seconds(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"capabilities {key} must be a number of seconds >= 0, got {value!r}"[:200])
    return float(value)


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
    settle = _seconds(raw.get("settle_s", 0), "'settle_s'")
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
    windows = _per_class(raw, "windows")
    typical = _per_class(raw, "typical")
    for cls, seconds in typical.items():
        bound = windows.get(cls, settle)
        if seconds > bound:
            raise ValueError(f"capabilities 'typical' {cls} {seconds:g} s is longer than its window {bound:g} s "
                             "(a typical latency lies within its bound)")
    observation = _seconds(raw.get("observation_s", 0), "'observation_s'")
    budget = raw.get("max_requests_per_s")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or not math.isfinite(budget) or budget <= 0):
        raise ValueError(f"capabilities 'max_requests_per_s' must be a number > 0, got {budget!r}"[:200])
    people = raw.get("needs_person", {}) if raw.get("needs_person") is not None else {}
    if not isinstance(people, dict):
        raise ValueError(f"capabilities 'needs_person' must be an object {{event type: instruction}}, "
                         f"got {type(people).__name__}")
    for etype, text in people.items():
        if etype not in PERSON_EVENTS:
            raise ValueError(f"capabilities 'needs_person' names {etype!r}, not one of "
                             f"{', '.join(sorted(PERSON_EVENTS))}"[:200])
        if not isinstance(text, str) or not text.strip() or "\n" in text.strip():
            raise ValueError(f"capabilities 'needs_person' for {etype} must be a one-line instruction, got {text!r}"[:200])
    cells = raw.get("cells")
    if cells is not None and (isinstance(cells, bool) or not isinstance(cells, int) or cells < 1):
        raise ValueError(f"capabilities 'cells' must be an integer >= 1, got {cells!r}"[:200])
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
    return Capabilities(events, observes, settle, devices, windows, typical, observation,
                        None if budget is None else float(budget), {e: t.strip() for e, t in people.items()}, cells,
                        refused, dry_run)


def _per_class(raw: dict, key: str) -> dict[str, float]:
    """`windows` or `typical`: {class: seconds} (absent or null: {}), checked."""
    value = raw.get(key) if raw.get(key) is not None else {}
    if not isinstance(value, dict):
        raise ValueError(f"capabilities '{key}' must be an object {{class: seconds}}, got {type(value).__name__}")
    for cls, seconds in value.items():
        if cls not in WINDOW_CLASSES:
            raise ValueError(f"capabilities '{key}' names an unknown class {cls!r} "
                             f"(one of {', '.join(WINDOW_CLASSES)})"[:200])
        _seconds(seconds, f"'{key}' {cls}")
    return {c: float(s) for c, s in value.items()}


def _names(value: object, key: str, known) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"capabilities {key!r} must be a list of names, got {value!r}"[:200])
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"capabilities {key!r} names unknown {', '.join(map(repr, unknown))}"[:200])
    return frozenset(value)
