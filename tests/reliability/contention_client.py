"""One client process of the contention suite: `python contention_client.py ROLE DB SEED SECONDS REPORT [ARGS]`.

Roles
  raiser PREFIX COLLECTORS EVENTS  starts COLLECTORS collector instances and raises EVENTS uniquely
                                   tagged events 'e' to each, interleaved at random
  manager PREFIXES...              suspends and resumes collectors at random, reads states and lists;
                                   resumes everything it suspended before it leaves
  chaos PREFIX                     starts, pokes, suspends, resumes, terminates and purges its own victims
  cli PREFIX                       the same kind of operations through the real `wf` executable

Every operation either succeeds or is refused with a wf.WfError; anything else is recorded as
unexpected. The report is one JSON document: counts per operation and outcome, the events raised,
the refusal messages, and every text that mentioned a locked database.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter

import wf

role, db, seed, seconds, report_path, *args = sys.argv[1:]
rng = random.Random(int(seed))
deadline = time.monotonic() + float(seconds)
client = wf.WorkflowClient(db=db)
ops: Counter = Counter()
unexpected: list[str] = []
refusals: Counter = Counter()
locked: list[str] = []
raised: dict[str, list[str]] = {}


def _kind(message: str) -> str:
    """A refusal message without its ids, to count refusals by kind."""
    return re.sub(r"'[^']*'", "'...'", message)[:90]


def op(name: str, fn, *a, **k):
    try:
        result = fn(*a, **k)
    except wf.WfError as exc:
        msg = str(exc)
        ops[f"{name}:refused"] += 1
        refusals[f"{type(exc).__name__}: {_kind(msg)}"] += 1
        if not msg.strip():
            unexpected.append(f"{name}: {type(exc).__name__} with an empty message")
        if "locked" in msg.lower():
            locked.append(f"{name}: {msg}")
        return exc
    except Exception as exc:  # noqa: BLE001 - that is what this records
        ops[f"{name}:unexpected"] += 1
        unexpected.append(f"{name}: {type(exc).__name__}: {exc}")
        if "locked" in str(exc).lower():
            locked.append(f"{name}: {exc}")
        return exc
    ops[f"{name}:ok"] += 1
    return result


def raiser(prefix: str, n_collectors: str, n_events: str) -> None:
    ids = [f"{prefix}-c{i}" for i in range(int(n_collectors))]
    owed = {iid: int(n_events) for iid in ids}
    started: list[str] = []
    pending = list(ids)
    pace = float(seconds) / (len(ids) * (int(n_events) + 1))  # spread the work over the whole run
    while owed:
        time.sleep(rng.uniform(0, 2 * pace))
        if pending and (not started or rng.random() < 0.3):
            iid = pending.pop()
            if not isinstance(op("start", client.schedule_new_workflow, "collector", input=int(n_events),
                                 instance_id=iid), Exception):
                started.append(iid)
            continue
        iid = rng.choice([i for i in started if i in owed])
        tag = f"{iid}#{int(n_events) - owed[iid]}"
        # A refused raise is not retried: the test then finds the collector short of an event.
        if not isinstance(op("raise", client.raise_workflow_event, iid, "e", data=tag), Exception):
            raised.setdefault(iid, []).append(tag)
        owed[iid] -= 1
        if not owed[iid]:
            del owed[iid]
        if rng.random() < 0.2:
            op("get", client.get_workflow_state, iid)


def manager(*prefixes: str) -> None:
    suspended: set[str] = set()
    while time.monotonic() < deadline:
        states = op("list", lambda: [s for s in client.list_workflows(name="collector")])
        if isinstance(states, Exception) or not states:
            time.sleep(0.01)
            continue
        s = rng.choice(states)
        if rng.random() < 0.5:
            if not isinstance(op("suspend", client.pause_workflow, s.instance_id, reason="contention"), Exception):
                suspended.add(s.instance_id)
        else:
            op("resume", client.resume_workflow, s.instance_id)
        op("history", client.get_workflow_history, s.instance_id)
    for iid in sorted(suspended):
        op("resume", client.resume_workflow, iid)


def chaos(prefix: str) -> None:
    ids = [f"{prefix}-v{i}" for i in range(12)]
    n = 0
    while time.monotonic() < deadline:
        iid = rng.choice(ids)
        what = rng.random()
        n += 1
        time.sleep(rng.uniform(0, 0.004))  # pacing only: leaves the two CI cores some room for the workers
        if what < 0.25:
            op("start", client.schedule_new_workflow, "victim", instance_id=iid,
               if_exists=rng.choice(["return", "error", "replace"]))
        elif what < 0.5:
            tag = f"{iid}@{n}"
            if not isinstance(op("raise", client.raise_workflow_event, iid, "poke", data=tag), Exception):
                raised.setdefault(iid, []).append(tag)
        elif what < 0.6:
            op("suspend", client.pause_workflow, iid)
        elif what < 0.7:
            op("resume", client.resume_workflow, iid)
        elif what < 0.8:
            op("terminate", client.terminate_workflow, iid, output={"by": prefix})
        elif what < 0.9:
            op("purge", client.purge_workflow, iid, force=rng.random() < 0.3)
        elif what < 0.95:
            op("bulk-purge", client.purge_workflows, status="TERMINATED")
        else:
            op("get", client.get_workflow_state, iid)


def cli(prefix: str) -> None:
    exe = shutil.which("wf", path=os.path.dirname(sys.executable))
    env = dict(os.environ, WF_DB=db)
    ids = [f"{prefix}-v{i}" for i in range(6)]
    n = 0
    while time.monotonic() < deadline:
        iid = rng.choice(ids)
        n += 1
        argv = rng.choice([
            ["run", "victim", "-i", iid, "-q"],
            ["raise-event", f"{iid}/poke", "-x", json.dumps(f"{iid}@cli{n}")],
            ["suspend", iid], ["resume", iid], ["terminate", iid], ["purge", iid],
            ["purge", "--all", "--all-filter-status", "TERMINATED", "-y"],
            ["list", "-o", "ids"], ["list", "-w", "collector", "-o", "jsonl"], ["get", iid, "-o", "json"],
            ["history", iid, "-o", "jsonl"],
        ])
        r = subprocess.run([exe, *argv], capture_output=True, text=True, env=env, timeout=60)
        name = f"wf {argv[0]}"
        text = r.stdout + r.stderr
        if "locked" in text.lower():
            locked.append(f"{name}: {text.strip()[:300]}")
        err_lines = [line for line in r.stderr.splitlines() if line.strip()]
        if r.returncode == 0:
            ops[f"{name}:ok"] += 1
            if argv[0] == "raise-event":
                raised.setdefault(iid, []).append(json.loads(argv[3]))
        elif r.returncode in (1, 2) and len(err_lines) == 1 and err_lines[0].startswith("Error: ") \
                and "Traceback" not in text and "unexpected" not in text:
            ops[f"{name}:refused"] += 1
            refusals["wf: " + _kind(err_lines[0])] += 1
        else:
            ops[f"{name}:unexpected"] += 1
            unexpected.append(f"{' '.join(argv)} -> {r.returncode}: {r.stderr.strip()[:300]}")


{"raiser": raiser, "manager": manager, "chaos": chaos, "cli": cli}[role](*args)
client.close()
with open(report_path, "w") as fh:
    json.dump({"role": role, "ops": ops, "unexpected": unexpected, "refusals": refusals, "locked": locked,
               "raised": raised}, fh)
