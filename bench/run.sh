#!/usr/bin/env bash
# Every benchmark, one JSON line each. The peer (DBOS Transact) is measured when installed:
#   python -m pip install -e '.[dev,bench]' && bash bench/run.sh
# Stores of a million instances are cached under $WF_BENCH_DIR (default /tmp/wf-bench).
set -euo pipefail
cd "$(dirname "$0")"
N_THROUGHPUT=${N_THROUGHPUT:-5000}
N_STORE=${N_STORE:-1000000}
python throughput.py "$N_THROUGHPUT"
python fanout.py 1000
python long_history.py 10000
python latency.py 300
python cli.py "$N_STORE"
python purge.py "$N_STORE"
if python -c "import wf.server" 2>/dev/null; then python server.py; fi
