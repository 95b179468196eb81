# Shape the default random tenant does not build: two SCEP profiles from the tenant CA on one
# Windows device. Protects against an MDM that settles the wrong certificate when one of the two
# profiles is unassigned (tests/mutants.py WindowsUnassignSettlesWrongScep): the unassigned
# profile's certificate must be revoked and removed, the other profile's left alone.
@regression
Feature: Regression: unassigning one of two SCEP profiles on a Windows device

  @regression @WIN-SCEP-RR-5
  Scenario: Unassigning the second of two SCEP profiles settles that profile's certificate
    When the event {"type": "create_user", "user": "u1"} is applied
    And the event {"type": "create_group", "group": "staff"} is applied
    And the event {"type": "add_member", "group": "staff", "member": "u1"} is applied
    And the event {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"} is applied
    And the event {"type": "create_profile", "profile": "root", "kind": "trusted_root"} is applied
    And the event {"type": "create_profile", "profile": "wifi", "kind": "scep", "root": "root", "ca": "intune"} is applied
    And the event {"type": "create_profile", "profile": "vpn", "kind": "scep", "root": "root", "ca": "intune"} is applied
    And the event {"type": "assign_profile", "profile": "root", "group": "staff"} is applied
    And the event {"type": "assign_profile", "profile": "wifi", "group": "staff"} is applied
    And the event {"type": "assign_profile", "profile": "vpn", "group": "staff"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    And the event {"type": "unassign_profile", "profile": "vpn", "group": "staff"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    Then every event conformed to the document and the contract
