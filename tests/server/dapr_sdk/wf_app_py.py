"""An in-process wf app (`wf worker --app wf_app_py.py:wfr -a APP`), called across apps by a Dapr
SDK workflow that runs on another app of the same store (dapr_apps.py's cross_app)."""

from __future__ import annotations

import wf

wfr = wf.WorkflowRuntime()


@wfr.activity(name="py_double")
def py_double(ctx: wf.WorkflowActivityContext, x: int) -> int:
    return 2 * x


@wfr.workflow(name="py_child")
def py_child(ctx: wf.DaprWorkflowContext, x: int):
    doubled = yield ctx.call_activity(py_double, input=x)
    return doubled + 1
