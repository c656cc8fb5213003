"""What the read commands do once their arguments are parsed: `wf get`, `wf history`, `wf list`,
`wf count`. Click-free, so that wf.cli.fast runs the plainest of them without click (wf.cli.inspect
holds their click commands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wf.cli.globals import Globals, not_found, require_state

if TYPE_CHECKING:
    from wf.backends.base import Backend
    from wf.model import ListFilter, PendingItem

TERMINAL_LIMIT = 50  # `wf list` at a terminal, without --limit


def show_state(g: Globals, instance_id: str, fmt: str, *, show_input: bool = False, show_output: bool = False) -> None:
    backend = g.backend()
    state = require_state(g, instance_id, fetch_payloads=True)
    pending: list[PendingItem] | None = [] if state.runtime_status.is_terminal else backend.pending(instance_id)
    g.out.state(state, fmt, show_input=show_input, show_output=show_output, pending=pending)


def show_history(g: Globals, instance_id: str, fmt: str) -> None:
    backend = g.backend()
    events = backend.history(instance_id)
    if not events and backend.get(instance_id, fetch_payloads=False) is None:
        raise not_found(g, instance_id)
    g.out.history(events, fmt)


def show_list(g: Globals, flt: ListFilter, limit: int | None, fmt: str, order: str = "newest") -> None:
    tty = g.out.tty
    if limit is None and tty:
        limit = TERMINAL_LIMIT
    backend = g.backend()
    table = fmt in ("short", "wide")
    states = backend.list(flt, limit=limit or None, fetch_payloads=not table and fmt != "ids", order=order)
    shown = g.out.states(states, fmt)
    if tty and table and shown:
        g.out.list_footer(status_counts(backend, flt), shown, limited=limit is not None and 0 < limit <= shown)


def show_count(g: Globals, flt: ListFilter, by: str | None, fmt: str) -> None:
    counts = g.backend().count_by(flt, by) if by else {"total": g.backend().count_total(flt)}
    g.out.counts(counts, by, fmt)


def status_counts(backend: Backend, flt: ListFilter) -> dict[str, int] | None:
    from wf.model import UnsupportedError

    try:
        return backend.count_by(flt, "status")
    except UnsupportedError:
        return None
