# Shape the default random tenant does not build: two SCEP profiles assigned to one device group.
# Protects against an MDM that settles only the first certificate when the device leaves the group
# (tests/mutants.py LeavingGroupSettlesOnlyFirstScep): every SCEP certificate whose profile stops
# targeting the device must be revoked and removed.
@regression
Feature: Regression: a device with two SCEP profiles leaves their group

  @regression @WIN-SCEP-RR-4
  Scenario: A Windows device leaving the group of two SCEP profiles loses both certificates
    When the event {"type": "create_user", "user": "u1"} is applied
    And the event {"type": "create_group", "group": "fleet"} is applied
    And the event {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"} is applied
    And the event {"type": "add_member", "group": "fleet", "member": "d1"} is applied
    And the event {"type": "create_profile", "profile": "root", "kind": "trusted_root"} is applied
    And the event {"type": "create_profile", "profile": "wifi", "kind": "scep", "root": "root", "ca": "intune"} is applied
    And the event {"type": "create_profile", "profile": "vpn", "kind": "scep", "root": "root", "ca": "intune"} is applied
    And the event {"type": "assign_profile", "profile": "root", "group": "fleet"} is applied
    And the event {"type": "assign_profile", "profile": "wifi", "group": "fleet"} is applied
    And the event {"type": "assign_profile", "profile": "vpn", "group": "fleet"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    And the event {"type": "remove_member", "group": "fleet", "member": "d1"} is applied
    Then every event conformed to the document and the contract
