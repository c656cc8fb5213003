"""A workflow for the `history --follow` tests: it continues as new, so its history starts afresh."""

import wf

wfr = wf.WorkflowRuntime()


@wfr.workflow
def rounds(ctx, n):
    """Waits for the event "next", then continues as new with n + 1; after round 2 it completes."""
    if n >= 2:
        return n
    yield ctx.wait_for_external_event("next")
    ctx.continue_as_new(n + 1)
