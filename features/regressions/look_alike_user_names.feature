# Shape the default random tenant does not build: two users whose names differ only in case and
# a trailing space. Protects against an MDM that matches user names case-insensitively or trimmed
# (tests/mutants.py LookAlikeUserNames): when "u1" leaves the group, its device is no longer
# targeted although "U1 " is still a member, so the SCEP and PKCS certificates must be taken off.
@regression
Feature: Regression: look-alike user names are different users

  @regression @GEN-INTRO-3 @WIN-PKCS-RM-1
  Scenario: A user leaving a group that still holds a look-alike user loses the group's certificates
    When the event {"type": "create_user", "user": "u1"} is applied
    And the event {"type": "create_user", "user": "U1 "} is applied
    And the event {"type": "create_group", "group": "staff"} is applied
    And the event {"type": "add_member", "group": "staff", "member": "u1"} is applied
    And the event {"type": "add_member", "group": "staff", "member": "U1 "} is applied
    And the event {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"} is applied
    And the event {"type": "enroll", "device": "d2", "platform": "windows", "user": "U1 "} is applied
    And the event {"type": "create_profile", "profile": "root", "kind": "trusted_root"} is applied
    And the event {"type": "create_profile", "profile": "scep", "kind": "scep", "root": "root", "ca": "intune"} is applied
    And the event {"type": "create_profile", "profile": "pkcs", "kind": "pkcs", "root": "root", "ca": "intune"} is applied
    And the event {"type": "assign_profile", "profile": "root", "group": "staff"} is applied
    And the event {"type": "assign_profile", "profile": "scep", "group": "staff"} is applied
    And the event {"type": "assign_profile", "profile": "pkcs", "group": "staff"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    And the event {"type": "check_in", "device": "d2"} is applied
    And the event {"type": "remove_member", "group": "staff", "member": "u1"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    And the event {"type": "check_in", "device": "d2"} is applied
    Then every event conformed to the document and the contract
