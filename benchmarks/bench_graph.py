#!/usr/bin/env python3
"""Requests per second of the Graph emulator (`certconform serve --graph`) over loopback HTTP.

    python benchmarks/bench_graph.py [--devices N] [--rounds R]

Sets up one user per pool device (Windows and iOS), a group holding them, a SCEP profile per
family assigned to it; then times R rounds of: syncDevice on every device, then one listing of
each profile's managedDeviceCertificateStates, paged at 100 (the adapter's observe()). Not a
test: it prints what it measured.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402

from servers import running_graph_emulator  # noqa: E402

TOKEN = "bench"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=20, help="pool devices per platform (windows, ios)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pool = f"windows={args.devices},ios={args.devices}"
    delays = ("--delay", "notify=0", "--delay", "propagation=0", "--delay", "revocation=0", "--no-graph-limits")
    with running_graph_emulator("--pool", pool, *delays, token=TOKEN) as base, \
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        roots = http.get("/certconform/pki-roots").json()
        group = http.post("/v1.0/groups", json={"displayName": "b-g", "mailEnabled": False, "mailNickname": "g",
                                                "securityEnabled": True}).json()["id"]
        profiles = []
        for root_type, scep_type in (("windows81TrustedRootCertificate", "windows81SCEPCertificateProfile"),
                                     ("iosTrustedRootCertificate", "iosScepCertificateProfile")):
            root = http.post("/beta/deviceManagement/deviceConfigurations",
                             json={"@odata.type": f"#microsoft.graph.{root_type}", "displayName": "b-r",
                                   "trustedRootCertificate": roots["intune"]}).json()["id"]
            scep = http.post("/beta/deviceManagement/deviceConfigurations", json={
                "@odata.type": f"#microsoft.graph.{scep_type}", "displayName": "b-s",
                "rootCertificate@odata.bind": f"https://graph.microsoft.com/beta/deviceManagement/deviceConfigurations('{root}')"}
            ).json()["id"]
            http.post(f"/beta/deviceManagement/deviceConfigurations/{scep}/assign", json={"assignments": [
                {"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": group}}]})
            profiles.append((scep, scep_type))
        devices = http.get("/beta/deviceManagement/managedDevices?$top=999").json()["value"]
        for device in devices:  # each enrolled by its lab user
            http.post(f"/v1.0/groups/{group}/members/$ref",
                      json={"@odata.id": f"https://x/v1.0/directoryObjects/{device['userId']}"})
        requests, records, start = 0, 0, time.perf_counter()
        for _ in range(args.rounds):
            for device in devices:
                http.post(f"/beta/deviceManagement/managedDevices/{device['id']}/syncDevice")
                requests += 1
            for scep, scep_type in profiles:
                url = f"/beta/deviceManagement/deviceConfigurations/{scep}/microsoft.graph.{scep_type}/" \
                      "managedDeviceCertificateStates"
                while url:
                    page = http.get(url).json()
                    requests += 1
                    records += len(page["value"])
                    url = page.get("@odata.nextLink")
        elapsed = time.perf_counter() - start
    print(f"{len(devices)} devices, {args.rounds} rounds: {requests} requests in {elapsed:.2f} s "
          f"({requests / elapsed:.0f} requests/s), {records} certificate-state records read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
