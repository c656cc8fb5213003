"""The peer: the same three-step workflow on DBOS Transact with its SQLite system database.
Run in its own process (DBOS is a process-wide singleton):

    python dbos_peer.py throughput N     prints {"rate": workflows per second}
    python dbos_peer.py seed PATH        creates PATH holding one finished workflow
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

from dbos import DBOS


@DBOS.step()
def inc(x):
    return x + 1


@DBOS.workflow()
def three_steps(x):
    x = inc(x)
    x = inc(x)
    return inc(x)


def launch(path: str) -> None:
    DBOS(config={"name": "bench", "system_database_url": f"sqlite:///{path}", "run_admin_server": False,
                 "console_log_level": "ERROR"})
    DBOS.launch()


if __name__ == "__main__":
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "throughput":
        n = int(arg)
        launch(f"{tempfile.mkdtemp()}/dbos.sqlite")
        t0 = time.perf_counter()
        handles = [DBOS.start_workflow(three_steps, i) for i in range(n)]
        for h in handles:
            h.get_result()
        print(json.dumps({"rate": n / (time.perf_counter() - t0)}))
    else:
        launch(arg)
        three_steps(1)
    DBOS.destroy()
