"""Test-wide settings.

Hypothesis draws the same examples on every `make test` run (derandomize), so
a CI result depends on the commit alone, not on luck; `make fuzz`
(CGRAPH_FUZZ_EXAMPLES set) explores fresh random examples instead.
"""
import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("explore" if os.environ.get("CGRAPH_FUZZ_EXAMPLES") else "repeatable")

# The loop ops are declared where they are run and differentiated (cgraph/loops.py,
# imported by the builder); import it here so every generated registry test sees them,
# whichever test module runs first.
import cgraph.loops  # noqa: E402,F401
