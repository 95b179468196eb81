#!/usr/bin/env python3
"""The Intune campaign's wall time (issues 20 and 21): what `certconform plan --mdm intune` says a
real tenant takes, and a time-scaled rehearsal's plan beside its actual wall time.

    real     `certconform plan --mdm intune --allow-destructive` with a real tenant's settings
             (Graph's public URL, client credentials, a PKI of its own, --real-pool devices per
             platform): the documented latencies at time scale 1. The adapter is built without
             connecting, so no Graph request is sent (nothing here reaches a network); the whole
             campaign and the feature scenarios alone.
    rehearse `certconform rehearse --allow-destructive --time-scale S --pool P` (features and the
             stateful shards in one run, as cells, against one Graph emulator): its verdict totals
             and results.json `run.cells` (the plan the run made beside what happened)
             target: actual within 20 % of the plan, 0 failures

A measurement, not a test: exit 1 only when the rehearsal fails or misses its target.

    python benchmarks/intune_campaign.py [--real-pool 4] [--time-scale 36000] [--pool 16]
                                         [--graph-limits] [--no-stateful] [--only real,rehearse] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from suite_time import python_of  # the checkout's own interpreter (benchmarks/ is this script's sys.path[0])

HERE = Path(__file__).resolve().parent.parent
PLATFORMS = ("windows", "ios", "macos", "android_knox", "android_legacy", "android_work")
TARGET = 0.20  # |actual - plan| / plan


def real_tenant_env(workdir: Path, pool: int) -> dict:
    """Settings an administrator would give for a real tenant (values of no real tenant: nothing
    is sent, the plan only reads capabilities())."""
    from cryptography.hazmat.primitives import serialization

    sys.path.insert(0, str(HERE.parent))
    from certconform.mdm.mock.authority import CertificateAuthority

    roots = {}
    for name in ("root", "third-party-root"):
        path = workdir / f"{name}.pem"
        path.write_bytes(CertificateAuthority(f"lab {name}", "lab").certificate.public_bytes(serialization.Encoding.PEM))
        roots[name] = str(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERTCONFORM_INTUNE_", "MDM_"))}
    settings = {
        "tenant_id": "00000000-0000-0000-0000-000000000001", "client_id": "00000000-0000-0000-0000-000000000002",
        "client_secret": "plan-only-no-secret", "license_sku": "c1ec4a95-1f05-45b3-a911-aa3fa01094f5",
        "pool": ";".join(f"{p}=" + ",".join(f"lab-{p}-{i:02d}" for i in range(1, pool + 1)) for p in PLATFORMS),
        "root_certificate": roots["root"], "third_party_root_certificate": roots["third-party-root"],
        "scep_url": "https://ndes.lab.example/certsrv/mscep/mscep.dll", "third_party_scep_url": "https://scep.other.example/scep",
        "pkcs_ca": "ca.lab.example", "pkcs_ca_name": "lab-issuing", "pkcs_template": "LabUser",
        "third_party_pkcs_ca": "ca.other.example", "third_party_pkcs_ca_name": "other-issuing"}
    env.update({f"CERTCONFORM_INTUNE_{k.upper()}": v for k, v in settings.items()})
    return env


def real_plan(root: Path, pool: int, selection: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([python_of(root), "-m", "certconform.cli", "plan", "--mdm", "intune", "--allow-destructive",
                            *selection], env=real_tenant_env(Path(tmp), pool), capture_output=True, text=True, cwd=tmp)
    lines = [line.strip() for line in r.stdout.splitlines() if line.startswith("  ")]
    return {"exit": r.returncode, "lines": lines,
            "expected": next((line for line in lines if line.startswith("expected wall time")), r.stderr[-300:])}


def rehearse(root: Path, scale: float, pool: int, limits: bool, features_only: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [python_of(root), "-m", "certconform.cli", "rehearse", "--allow-destructive", "--time-scale", f"{scale:g}",
               "--pool", str(pool), f"--report-dir={tmp}", *([] if limits else ["--no-graph-limits"]),
               *(["--no-stateful"] if features_only else [])]
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        elapsed = time.perf_counter() - start
        try:
            results = json.loads((Path(tmp) / "results.json").read_text())
        except (OSError, ValueError):
            results = {}
    cells = (results.get("run") or {}).get("cells") or {}
    planned, actual = cells.get("planned") or {}, cells.get("actual") or {}
    totals = results.get("totals", {})
    out = {"exit": r.returncode, "seconds": round(elapsed, 1), "totals": totals,
           "planned_s": planned.get("expected_wall_seconds"), "actual_s": actual.get("wall_seconds"),
           "act_s": actual.get("act_seconds"), "cells": actual.get("cells"),
           "in_flight": actual.get("cells_in_flight_at_most"), "events": actual.get("events"),
           "calls": actual.get("requests_total"), "tail": r.stdout.splitlines()[-3:]}
    if out["planned_s"] and out["actual_s"] is not None:
        out["deviation"] = round((out["actual_s"] - out["planned_s"]) / out["planned_s"], 3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real-pool", type=int, default=4, help="a real tenant's pool devices per platform (default 4)")
    ap.add_argument("--time-scale", type=float, default=36000.0, help="the rehearsal's time scale (default 36000)")
    ap.add_argument("--pool", type=int, default=16, help="the rehearsal's lab devices per platform (default 16)")
    ap.add_argument("--graph-limits", action="store_true", help="keep Graph's request limits in the rehearsal")
    ap.add_argument("--no-stateful", action="store_true", help="rehearse the feature scenarios alone")
    ap.add_argument("--only", default="real,rehearse")
    ap.add_argument("--root", default=str(HERE), help="the checkout to measure (default this one)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    root, only, report, ok = Path(args.root).resolve(), set(args.only.split(",")), {}, True
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    if "real" in only:
        for label, selection in (("whole campaign (features + ci stateful)", ["--hypothesis-profile", "ci"]),
                                 ("feature scenarios", ["-m", "not stateful"])):
            plan = real_plan(root, args.real_pool, selection)
            report[f"real: {label}"] = plan
            print(f"real tenant, {args.real_pool} devices per platform, {label}: {plan['expected']}", flush=True)
            for line in plan["lines"][:2]:
                print(f"    {line}", flush=True)
    if "rehearse" in only:
        r = rehearse(root, args.time_scale, args.pool, args.graph_limits, args.no_stateful)
        report["rehearse"] = r
        t = r["totals"]
        print(f"rehearsal{' (feature scenarios)' if args.no_stateful else ''}, time scale {args.time_scale:g}, "
              f"{args.pool} devices per platform, Graph limits "
              f"{'on' if args.graph_limits else 'off'}: exit {r['exit']}, {r['seconds']} s; fail {t.get('fail')}, "
              f"error {t.get('error')}; cells {r['cells']} (at most {r['in_flight']} at once), events {r['events']}, "
              f"adapter calls {r['calls']}; planned {r['planned_s']} s, actual {r['actual_s']} s "
              f"(deviation {r.get('deviation', 'n/a') if r.get('deviation') is None else format(r['deviation'], '+.1%')})",
              flush=True)
        if r["exit"] != 0 or r.get("deviation") is None or abs(r["deviation"]) > TARGET:
            ok = False
            print("\n".join(r["tail"]))
    print(f"load average at end: {os.getloadavg()[0]:.1f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
