#!/usr/bin/env bash
# Every benchmark of issue 6, one after the other, at the sizes benchmarks/RESULTS.md reports,
# each printing its own figures (nothing here asserts a duration). Needs PostgreSQL and Redis on
# 127.0.0.1 (`bash scripts/services.sh ensure` starts them); takes about 10 minutes on 2 cores, and
# token_storm (10,000 businesses, two rounds a token lifetime apart) about 12 more.
# Run nothing else meanwhile: the machine's noise shows up in the ratios.
#   bash scripts/benchmarks.sh            # all of them
#   bash scripts/benchmarks.sh throughput # those whose name contains the word
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
only="${1:-}"
run() {
    case "$*" in *"$only"*) ;; *) return 0 ;; esac
    echo
    echo "==> $*"
    python "$@"
}
run benchmarks/requests_per_object.py
run benchmarks/queries_per_object.py
run benchmarks/throughput.py --invoices 3000
run benchmarks/throughput.py --invoices 1000 --latency-ms 50
run benchmarks/throughput.py --invoices 1000 --latency-ms 10
run benchmarks/save_overhead.py --saves 1000 --rounds 6
run benchmarks/requeue.py
run benchmarks/fault_injection.py --objects 2000 --seed 6
run benchmarks/million_rows.py
run benchmarks/rate_limit.py
run benchmarks/fairness.py
run benchmarks/sync_lag.py
run benchmarks/scaling.py
run benchmarks/token_storm.py
