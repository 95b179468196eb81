# Shape the default random tenant does not build: a user deleted and a new user created under the
# same name, added to a group that carries the profile. Protects against an MDM that links devices
# to their owner by name (tests/mutants.py ReusedUserNameInheritsDevices): the old device belongs
# to nobody now, so when it leaves the device group that targeted it, its SCEP certificate must be
# revoked and removed, whatever groups the new user is in.
@regression
Feature: Regression: a re-used user name does not inherit the deleted user's devices

  @regression @WIN-SCEP-RR-4 @WIN-SCEP-STAY-3
  Scenario: After its user was deleted and the name re-used, a device leaving its group loses its SCEP certificate
    When the event {"type": "create_user", "user": "u1"} is applied
    And the event {"type": "create_group", "group": "fleet"} is applied
    And the event {"type": "create_group", "group": "staff"} is applied
    And the event {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"} is applied
    And the event {"type": "add_member", "group": "fleet", "member": "d1"} is applied
    And the event {"type": "add_member", "group": "staff", "member": "u1"} is applied
    And the event {"type": "create_profile", "profile": "root", "kind": "trusted_root"} is applied
    And the event {"type": "create_profile", "profile": "scep", "kind": "scep", "root": "root", "ca": "intune"} is applied
    And the event {"type": "assign_profile", "profile": "root", "group": "fleet"} is applied
    And the event {"type": "assign_profile", "profile": "scep", "group": "fleet"} is applied
    And the event {"type": "assign_profile", "profile": "scep", "group": "staff"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    And the event {"type": "delete_user", "user": "u1"} is applied
    And the event {"type": "create_user", "user": "u1"} is applied
    And the event {"type": "add_member", "group": "staff", "member": "u1"} is applied
    And the event {"type": "remove_member", "group": "fleet", "member": "d1"} is applied
    Then every event conformed to the document and the contract
