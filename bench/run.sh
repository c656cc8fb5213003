#!/usr/bin/env bash
# Every benchmark, one JSON line each. The peers (DBOS Transact on SQLite, Temporal's dev server with
# its Python SDK) are measured in the same run when the bench extra is installed:
#   python -m pip install -e '.[dev,bench]' && bash bench/run.sh
# Stores (a million wf instances, N_PEER wf and Temporal instances) are cached under $WF_BENCH_DIR
# (default /tmp/wf-bench); the first run builds them (Temporal's at tens of workflows per second).
set -euo pipefail
cd "$(dirname "$0")"
SIZES=${SIZES:-500,2000}
RUNS=${RUNS:-5}
N_STORE=${N_STORE:-1000000}
N_PEER=${N_PEER:-5000}
python throughput.py "$SIZES" "$RUNS"
python fanout.py 1000
python long_history.py 10000
python latency.py 300
python cli.py "$N_STORE" "$N_PEER"
python list.py "$N_STORE" --formats short,wide,jsonl,ids
python purge.py "$N_STORE"
python bulk.py 100000
if python -c "import wf.server" 2>/dev/null; then python server.py; python grpc_client.py 100000 10000; fi
if python -c "import wf.server.grpc, dapr.ext.workflow" 2>/dev/null; then python grpc_sdk.py 2000; fi
