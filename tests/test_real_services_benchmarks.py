"""Every benchmark in benchmarks/ still runs, end to end, on a tiny workload.

The benchmarks print figures for issue 6 and are run by hand (benchmarks/RESULTS.md); this only
keeps them from rotting as the engine changes. Nothing here looks at a duration.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.db import connection

from tests.fixtures.real_services import ROOT, database_url

pytestmark = pytest.mark.services

TINY = {
    "requests_per_object.py": (["--invoices", "3", "--businesses", "2"], "REQUESTS PER SYNCED"),
    "queries_per_object.py": (["--invoices", "1"], "PUSH QUERIES"),
    "throughput.py": (
        ["--invoices", "4", "--businesses", "2", "--latency-ms", "1"],
        "DRAIN PER PROCESS",
    ),
    "sync_lag.py": (
        ["--rate", "20", "--seconds", "1", "--businesses", "2", "--updates", "0.5"],
        ("SYNC LAG", "UPDATE LAG"),
    ),
    "save_overhead.py": (["--saves", "20", "--rounds", "2"], "SAVE OVERHEAD RATIO"),
    "requeue.py": (["--objects", "30"], "requeue:"),
    "million_rows.py": (["--rows", "2000", "--small", "1000", "--runs", "1"], "seq scans"),
    "fairness.py": (["--backlog", "100", "--seconds", "2"], "B LAG"),
    "rate_limit.py": (["--seconds", "2", "--limit", "5", "--server-limit", "6"], "rate_limited"),
    "token_storm.py": (["--businesses", "3", "--token-ttl", "10"], "TOKEN REQUESTS"),
    "scaling.py": (["--invoices", "30", "--businesses", "3", "--processes", "1", "2"], "RATIO TO"),
}


@pytest.mark.parametrize("script", sorted(TINY))
def test_benchmark_runs(script):
    arguments, summaries = TINY[script]
    own_database = {**connection.settings_dict, "NAME": f"bench_{uuid.uuid4().hex[:8]}"}
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "DATABASE_URL": database_url(own_database),  # the script makes and drops test_<NAME>
        "CELERY_BROKER_URL": str(settings.CELERY_BROKER_URL),
    }
    env.pop("CELERY_TASK_DEFAULT_QUEUE", None)  # each benchmark takes a queue of its own

    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    for summary in summaries if isinstance(summaries, tuple) else (summaries,):
        assert summary in done.stdout, done.stdout
