#!/usr/bin/env bash
# The approval workflow on the bundled local engine, end to end: a worker in the background, two
# orders started, one inspected while it waits for a person, approved with raise-event, waited on
# (the exit code says how it ended), and purged. Everything lives in a throw-away SQLite file.
#
#   bash examples/walkthrough.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Use the project's venv when there is one, else whatever `wf` is on PATH.
if [ -x .venv/bin/wf ]; then PATH="$PWD/.venv/bin:$PATH"; fi
command -v wf >/dev/null || { echo "wf is not installed: python -m pip install -e ." >&2; exit 1; }

workdir=$(mktemp -d)
export WF_DB="$workdir/walkthrough.db"   # every wf command below (and the worker) uses this store
worker=""
cleanup() {
  if [ -n "$worker" ] && kill -0 "$worker" 2>/dev/null; then kill -TERM "$worker"; wait "$worker" || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }

# 1. A worker runs the app's workflows and activities until SIGINT / SIGTERM.
wf worker --app examples/approval.py:wfr 2>"$workdir/worker.log" &
worker=$!

# 2. A small order needs no approval: start it and wait for it in one command.
step wf run approval_workflow -i order-7 -x '{"id": "order-7", "amount": 20}' --wait --timeout 30s

# 3. A large order (over 1000) waits for an "approval_decision" event.
step wf run approval_workflow -i order-1001 -x '{"id": "order-1001", "amount": 1500}'
for _ in $(seq 1 300); do   # until the worker has picked it up
  [ "$(wf get order-1001 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["runtime_status"])')" = RUNNING ] && break
  sleep 0.1
done
step wf get order-1001
step wf list

# 4. A person approves it; the workflow finishes.
step wf raise-event order-1001/approval_decision -x '{"approved": true, "reason": "within budget"}'
step wf wait order-1001 --timeout 30s
echo "wf wait exited with $? (0 COMPLETED, 3 FAILED, 4 TERMINATED, 124 timed out)"
step wf history order-1001

# 5. Clean up: purge what has finished (no question asked outside a terminal; -y skips it inside one).
step wf purge --all -y
step wf list

# 6. Stop the worker: SIGTERM drains work in progress.
kill -TERM "$worker"; wait "$worker"; worker=""
echo
echo "Walkthrough complete."
