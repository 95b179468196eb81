#!/usr/bin/env python3
"""Events per second through the adapter contract: the mock in process and over HTTP.

    python benchmarks/bench_events.py [--events N] [--seed S] [--skip-http]

A fleet of ~100 devices across every platform, a handful of groups and profiles (roots, SCEP and
PKCS from both CAs, imported PKCS), then a mixed stream: check-ins, profile updates, membership
changes and manual deletions. The same stream runs in process (load_adapter("mock")) and over
HTTP (the real server started on a free loopback port). Setup is not timed; each timed run ends
with one observe(). Not a test: it prints a table and whether the targets are met.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from certconform import mdm  # noqa: E402

PLATFORMS = ["windows", "ios", "macos", "android_knox", "android_work", "android_legacy"]
TARGETS = {"in process": 10000.0, "HTTP": 2000.0}  # issue 10 (2 cores, quiet machine)


class Fleet:
    """Builds the setup events and a valid mixed stream, tracking just enough to stay valid."""

    def __init__(self, devices: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.users = [f"user{i}" for i in range(devices // 2)]
        self.devices = [f"dev{i}" for i in range(devices)]
        self.groups = [f"grp{i}" for i in range(8)]
        self.profiles = {"root-a": "trusted_root", "root-b": "trusted_root",
                         "scep-wifi": "scep", "scep-vpn": "scep", "scep-3p": "scep",
                         "pkcs-mail": "pkcs", "pkcs-3p": "pkcs", "pkcs-imported": "pkcs_imported"}
        self.owner = {d: self.users[i % len(self.users)] for i, d in enumerate(self.devices)}
        self.members = {g: set() for g in self.groups}
        self.assigned = {g: set() for g in self.groups}
        self.known_installed: dict[str, set[str]] = {d: set() for d in self.devices}

    def setup(self) -> list[dict]:
        events = [{"type": "create_user", "user": u} for u in self.users]
        events += [{"type": "create_group", "group": g} for g in self.groups]
        for i, d in enumerate(self.devices):
            events.append({"type": "enroll", "device": d, "platform": PLATFORMS[i % len(PLATFORMS)],
                           "user": self.owner[d]})
        for name, kind in self.profiles.items():
            event = {"type": "create_profile", "profile": name, "kind": kind}
            if kind in ("scep", "pkcs"):
                event.update(root="root-a", ca="third_party" if name.endswith("3p") else "intune")
            events.append(event)
        for i, (name, _) in enumerate(self.profiles.items()):
            for group in (self.groups[i % 8], self.groups[(i + 3) % 8]):
                self.assigned[group].add(name)
                events.append({"type": "assign_profile", "profile": name, "group": group})
        for i, d in enumerate(self.devices):
            for member in (d, self.owner[d]):
                group = self.groups[(i + len(member)) % 8]
                if member not in self.members[group]:
                    self.members[group].add(member)
                    events.append({"type": "add_member", "group": group, "member": member})
        return events

    def _targeting(self, device: str) -> set[str]:
        names = {device, self.owner[device]}
        return {p for g in self.groups if self.members[g] & names for p in self.assigned[g]}

    def _devices_of(self, member: str) -> list[str]:
        return [member] if member in self.known_installed else [d for d in self.devices if self.owner[d] == member]

    def stream(self, count: int) -> list[dict]:
        rng, events = self.rng, []
        while len(events) < count:
            roll = rng.random()
            if roll < 0.50:
                device = rng.choice(self.devices)
                events.append({"type": "check_in", "device": device})
                self.known_installed[device] |= self._targeting(device)
            elif roll < 0.75:
                group = rng.choice(self.groups)
                member = rng.choice(self.devices + self.users)
                if member in self.members[group]:
                    self.members[group].discard(member)
                    events.append({"type": "remove_member", "group": group, "member": member})
                    for device in self._devices_of(member):
                        self.known_installed[device] &= self._targeting(device)
                else:
                    self.members[group].add(member)
                    events.append({"type": "add_member", "group": group, "member": member})
            elif roll < 0.90:
                candidates = [d for d in self.devices if self.known_installed[d]]
                if not candidates:
                    continue
                device = rng.choice(candidates)
                profile = rng.choice(sorted(self.known_installed[device]))
                self.known_installed[device].discard(profile)
                events.append({"type": "delete_certificate", "device": device, "profile": profile})
            else:
                profile = rng.choice(list(self.profiles))
                events.append({"type": "update_profile", "profile": profile})
                for device in self.devices:
                    self.known_installed[device].discard(profile)
        return events


def run(adapter, setup: list[dict], stream: list[dict]) -> tuple[float, int, int]:
    """(seconds, bad inputs, certificates) for applying `stream` after an untimed setup."""
    adapter.reset()
    for event in setup:
        adapter.apply(event)
    bad = 0
    start = time.perf_counter()
    for event in stream:
        try:
            adapter.apply(event)
        except ValueError:
            bad += 1
    certificates = len(adapter.observe())
    return time.perf_counter() - start, bad, certificates


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server():
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("CERTCONFORM_TOKEN", None)  # the benchmark talks to a token-less server
    process = subprocess.Popen([sys.executable, "-m", "certconform.mdm.server", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/capabilities", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the mock server did not start on {url}")
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events in the timed stream (default 5000)")
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args(argv)

    fleet = Fleet(args.devices, args.seed)
    setup = fleet.setup()
    stream = fleet.stream(args.events)
    mix: dict[str, int] = {}
    for event in stream:
        mix[event["type"]] = mix.get(event["type"], 0) + 1
    print(f"fleet: {args.devices} devices, {len(fleet.users)} users, {len(fleet.groups)} groups, "
          f"{len(fleet.profiles)} profiles; setup {len(setup)} events (untimed)")
    print("stream: " + ", ".join(f"{k} {v}" for k, v in sorted(mix.items())))

    results = [("in process", run(mdm.load_adapter("mock"), setup, stream))]
    if not args.skip_http:
        with server() as url:
            adapter = mdm.load_adapter(url)
            results.append(("HTTP", run(adapter, setup, stream)))
            adapter.close()

    print()
    print(f"{'adapter':<12}{'events':>8}{'seconds':>9}{'events/s':>10}{'target':>8}  met  (bad inputs, certificates)")
    all_met = True
    for name, (seconds, bad, certificates) in results:
        rate = len(stream) / seconds
        met = rate >= TARGETS[name]
        all_met &= met
        print(f"{name:<12}{len(stream):>8}{seconds:>9.2f}{rate:>10.0f}{TARGETS[name]:>8.0f}  "
              f"{'yes' if met else 'NO ':<4} ({bad}, {certificates})")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
