"""Shared test settings: hypothesis without deadlines (this CPU is shared and has slow phases), and the
pure-torch Walsh-Hadamard transform on its fixed plan (numerics.fwht_plan): the measured search would
make a test's rounding depend on timings and write to the user's cache. tests/test_fwht_plan.py turns
it on, with a wisdom file of its own. Subprocesses (the CLI tests) inherit the setting."""

import os

os.environ.setdefault("PERSIAN_RUG_FWHT_TUNE", "0")

from hypothesis import HealthCheck, settings  # noqa: E402 (after the environment is set)

settings.register_profile(
    "default",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("default")
