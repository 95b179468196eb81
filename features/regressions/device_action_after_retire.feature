# Shape the default random tenant does not build (its device actions pick enrolled devices only):
# a wipe and an unenroll of a device that was already retired. Whatever the MDM answers (applied
# as a no-op, EventRejected or ValueError), nothing may change (I-DEVICE-ACTION-ON-UNMANAGED).
# Passes on tests/mutants.py SecondDeviceActionRefused / SecondDeviceActionInvalid; protects
# against RefusesSecondActionButChangesState (refused, yet the certificates were taken off).
@regression
Feature: Regression: device actions on a device that is no longer enrolled change nothing

  @regression @I-DEVICE-ACTION-ON-UNMANAGED @ANDROID-LEGACY-1
  Scenario: Wiping and unenrolling an Android legacy device after it was retired changes no certificate
    When the event {"type": "create_user", "user": "u1"} is applied
    And the event {"type": "create_group", "group": "fleet"} is applied
    And the event {"type": "enroll", "device": "d1", "platform": "android_legacy", "user": "u1"} is applied
    And the event {"type": "add_member", "group": "fleet", "member": "d1"} is applied
    And the event {"type": "create_profile", "profile": "root", "kind": "trusted_root"} is applied
    And the event {"type": "create_profile", "profile": "scep", "kind": "scep", "root": "root", "ca": "intune"} is applied
    And the event {"type": "assign_profile", "profile": "root", "group": "fleet"} is applied
    And the event {"type": "assign_profile", "profile": "scep", "group": "fleet"} is applied
    And the event {"type": "check_in", "device": "d1"} is applied
    And the event {"type": "retire", "device": "d1"} is applied
    And the event {"type": "wipe", "device": "d1"} is applied
    And the event {"type": "unenroll", "device": "d1"} is applied
    And the event {"type": "retire", "device": "d1"} is applied
    Then every event conformed to the document and the contract
