"""A pytest plugin (`-p tests.hypothesis_small`) registering Hypothesis profile `small`: a few short
derandomized stateful sequences, for self-tests that run the stateful test through a slow adapter
(tests/test_intune_e2e.py: the Intune adapter over the Graph emulator)."""
from hypothesis import settings

from certconform.profiles import COMMON, NO_SHRINK

settings.register_profile("small", max_examples=8, stateful_step_count=15, derandomize=True, phases=NO_SHRINK,
                          **COMMON)
