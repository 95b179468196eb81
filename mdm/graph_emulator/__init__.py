# What this package knows: a small Microsoft Graph (v1.0 directory, beta Intune) in front of the
# mock MDM's realistic mode, so that the Intune adapter and Microsoft's own SDK can be run against
# it offline. The wire it serves is docs/graph-wire.md. It never imports certconform.model (a
# self-test checks): it behaves as Intune is documented to, not as our model judges.
"""The Graph emulator (`certconform serve --graph`).

Modules:
  catalogue.py     profile @odata.types per platform family and kind, managed device attributes
  scoped_mock.py   MockMDM(realistic=True) whose profiles reach their platform family only, with
                   the optional faulty retire used by the self-tests
  odata.py         Graph's error body, paging with @odata.nextLink, $top, $filter
  tenant.py        the emulated tenant: users, groups, the lab's pool of managed devices, profiles,
                   assignments, and the mock's contract event for every Graph write
  cert_states.py   managedDeviceCertificateState records from the mock's inventory
  app.py           the routes, bearer auth (401), throttling (429 + Retry-After)
  serve.py         options and start-up of `certconform serve --graph`
"""
from __future__ import annotations

__all__ = ["DEFAULT_TOKEN", "GraphSettings", "Tenant", "build_app"]


def __getattr__(name: str):
    # Lazy: `certconform serve` builds its command line from serve.py without loading Starlette
    # or the mock.
    if name in ("DEFAULT_TOKEN", "GraphSettings", "build_app"):
        from . import app
        return getattr(app, name)
    if name == "Tenant":
        from .tenant import Tenant
        return Tenant
    raise AttributeError(name)
