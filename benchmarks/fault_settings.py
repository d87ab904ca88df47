"""Settings for the fault-injection run (benchmarks/fault_injection.py), driver and workers alike.

The test settings (PostgreSQL + Redis when DATABASE_URL / CELERY_BROKER_URL / CACHE_URL say so),
with a read timeout shorter than the fake's "slow" answers and retries fast enough for the run
to finish in minutes (``THREDFI_OVERRIDES``).
"""

from benchmarks.fault_injection import THREDFI_OVERRIDES
from tests.settings import *  # noqa: F403
from tests.settings import THREDFI

# Workers log at WARNING (tests.settings): one line per injected fault, and a "Lost the lease"
# line if a push ever outlives its lease, which is what to look for when a check fails.
THREDFI = {**THREDFI, **THREDFI_OVERRIDES}
