# What this package knows: a small, plausible MDM service written from its own reading of
# ../shared/spec-source/remove-certificates.md -- independent of the reference model in model/.
"""The bundled mock MDM (spec "mock").

Modules, each with one concern:
  directory.py       users, licences, groups and members
  enrollment.py      enrolled devices (platform, user, still enrolled?)
  profiles.py        certificate profiles and their group assignments
  authority.py       the tenant PKI (root, issuing CA with a signed CRL), a third-party CA and the
                     external issuer of imported certificates -- real X.509 via `cryptography`
  cert_store.py      what was delivered to which device and what is still installed
  removal_policy.py  the per-platform table: what each trigger revokes and removes
  remote_actions.py  unenroll, wipe, retire
  events.py          event shapes and one-line bad-input messages
  service.py         MockMDM, tying it together
"""
from .service import MockMDM

__all__ = ["MockMDM"]
