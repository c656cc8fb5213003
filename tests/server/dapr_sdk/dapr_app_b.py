"""A second Dapr SDK app (its own workflows and activities), for the cross-app test: it runs
against another `wf serve -a APP` on the same store, and is called by dapr_apps.py's cross_app.

usage: python dapr_app_b.py     runs the worker (prints "ready"), until killed
"""

from __future__ import annotations

import time

import dapr.ext.workflow as wf

wfr = wf.WorkflowRuntime()


@wfr.activity(name="b_shout")
def b_shout(ctx: wf.WorkflowActivityContext, text: str) -> str:
    return text.upper() + "!"


@wfr.workflow(name="b_child")
def b_child(ctx: wf.DaprWorkflowContext, text: str):
    shouted = yield ctx.call_activity(b_shout, input=text)
    return f"b_child({shouted})"


def main() -> None:
    wfr.start()
    try:
        print("ready", flush=True)
        while True:
            time.sleep(1)
    finally:
        wfr.shutdown()


if __name__ == "__main__":
    main()
