"""WorkflowClient: DaprWorkflowClient's methods over a Backend (the local store, HTTP or gRPC)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from wf import payload
from wf.engine.context import registered_name
from wf.management import UNSET, WorkflowHistoryEvent, WorkflowInstanceIdPage
from wf.model import BulkResult, HistoryEvent, ListFilter, WorkflowState, WorkflowStatus

if TYPE_CHECKING:
    from wf.backends.base import Backend


def _statuses(status: Any) -> tuple[WorkflowStatus, ...] | None:
    if status is None:
        return None
    items = [status] if isinstance(status, (str, WorkflowStatus)) else list(status)
    return tuple(s if isinstance(s, WorkflowStatus) else WorkflowStatus.parse(s) for s in items)


def _utc(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt


def _if_exists(reuse_id_policy: Any, if_exists: str | None) -> str:
    """Dapr's reuse_id_policy (an action on an existing id) as wf's if_exists."""
    if if_exists is not None:
        return if_exists
    if reuse_id_policy is None:
        return "return"
    action = str(getattr(reuse_id_policy, "action", reuse_id_policy)).upper()
    if "TERMINATE" in action:
        return "replace"
    if "IGNORE" in action:
        return "return"
    return "error"


class WorkflowClient:
    """Start and manage workflow instances. `db=None` resolves like WorkflowRuntime's, on first use;
    `url` selects a remote engine (a Dapr sidecar or `wf serve`); Dapr's `host`/`port` name a gRPC
    endpoint (`grpc://host:port`). `logger_options` and `max_grpc_message_length` are accepted and
    have no effect."""

    def __init__(self, db: str | os.PathLike | None = None, *, url: str | None = None, token: str | None = None,
                 app_id: str | None = None, backend: "Backend | None" = None, host: str | None = None,
                 port: str | int | None = None, logger_options: Any = None,
                 max_grpc_message_length: int | None = None) -> None:
        if url is None and (host is not None or port is not None):
            url = f"grpc://{host or '127.0.0.1'}:{port or 50001}"
        self._db, self._url, self._token, self._app_id = db, url, token, app_id
        self._backend = backend
        self._others: dict[str, Backend] = {}

    @property
    def backend(self) -> "Backend":
        if self._backend is None:
            from wf.backends import open_backend

            self._backend = open_backend(db=self._db, url=self._url, token=self._token, app_id=self._app_id)
        return self._backend

    def _for(self, app_id: str | None) -> "Backend":
        """The backend of this client's app, or of another app (Dapr's per-call app_id)."""
        if app_id is None or app_id == self.backend.app_id:
            return self.backend
        if app_id not in self._others:
            from wf.backends import open_backend

            self._others[app_id] = open_backend(db=self._db, url=self._url, token=self._token, app_id=app_id)
        return self._others[app_id]

    def close(self) -> None:
        for b in self._others.values():
            b.close()
        self._others.clear()
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> "WorkflowClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------------------ Dapr's methods

    def schedule_new_workflow(self, workflow: Callable[..., Any] | str, *, input: Any = None,
                              instance_id: str | None = None, start_at: datetime | None = None,
                              reuse_id_policy: Any = None, app_id: str | None = None,
                              if_exists: str | None = None) -> str:
        """Start an instance; returns its id. An id that exists returns that id and starts nothing
        (wf's default, if_exists="return"); Dapr's reuse_id_policy maps to if_exists."""
        return self._for(app_id).start(registered_name(workflow), input=payload.encode(input),
                                       instance_id=instance_id, start_at=_utc(start_at),
                                       if_exists=_if_exists(reuse_id_policy, if_exists))

    def get_workflow_state(self, instance_id: str, *, fetch_payloads: bool = True,
                           app_id: str | None = None) -> WorkflowState | None:
        return self._for(app_id).get(instance_id, fetch_payloads=fetch_payloads)

    def wait_for_workflow_start(self, instance_id: str, *, fetch_payloads: bool = False,
                                timeout_in_seconds: float = 0, app_id: str | None = None) -> WorkflowState:
        return self._for(app_id).wait(instance_id, until="start", timeout=timeout_in_seconds or None,
                                      fetch_payloads=fetch_payloads)

    def wait_for_workflow_completion(self, instance_id: str, *, fetch_payloads: bool = True,
                                     timeout_in_seconds: float = 0, app_id: str | None = None) -> WorkflowState:
        return self._for(app_id).wait(instance_id, until="completion", timeout=timeout_in_seconds or None,
                                      fetch_payloads=fetch_payloads)

    def raise_workflow_event(self, instance_id: str, event_name: str, *, data: Any = None,
                             app_id: str | None = None) -> None:
        self._for(app_id).raise_event(instance_id, event_name, payload.encode(data))

    def pause_workflow(self, instance_id: str, *, app_id: str | None = None, reason: str | None = None) -> None:
        self._for(app_id).suspend(instance_id, reason)

    def resume_workflow(self, instance_id: str, *, app_id: str | None = None, reason: str | None = None) -> None:
        self._for(app_id).resume(instance_id, reason)

    suspend_workflow = pause_workflow

    def terminate_workflow(self, instance_id: str, *, output: Any = None, recursive: bool = True,
                           app_id: str | None = None) -> None:
        self._for(app_id).terminate(instance_id, payload.encode(output), recursive)

    def purge_workflow(self, instance_id: str, recursive: bool = True, *, app_id: str | None = None,
                       force: bool = False) -> int:
        return self._for(app_id).purge(instance_id, recursive=recursive, force=force)

    def rerun_workflow_from_event(self, instance_id: str, event_id: int, *, new_instance_id: str | None = None,
                                  input: Any = UNSET, new_child_workflow_instance_id: str | None = None,
                                  app_id: str | None = None) -> str:
        """A new instance that replays instance_id's history up to its event event_id (an activity,
        timer or child workflow, see get_workflow_history), runs that again and goes on; returns
        its id. `input` replaces that event's input (None clears it); left out, it is kept.
        new_child_workflow_instance_id is accepted and has no effect in wf."""
        overwrite = input is not UNSET
        return self._for(app_id).rerun(instance_id, event_id, new_instance_id=new_instance_id,
                                       input=payload.encode(input) if overwrite else None,
                                       overwrite_input=overwrite)

    def get_workflow_history(self, instance_id: str) -> list[WorkflowHistoryEvent]:
        """The instance's history in Dapr's shape (wf's CLI shows its own: Backend.history)."""
        return [WorkflowHistoryEvent.from_history_event(e) for e in self.backend.history(instance_id)]

    def list_workflow_instance_ids(self, *, page_size: int | None = None,
                                   continuation_token: str | None = None) -> WorkflowInstanceIdPage:
        """One page of this app's instance ids, newest first."""
        list_page = getattr(self.backend, "list_page", None)
        if list_page is None:  # engines without keyset pages: one page of everything
            ids = [s.instance_id for s in self.backend.list(None)]
            return WorkflowInstanceIdPage(ids, None)
        states, token = list_page(None, limit=page_size or 1024, cursor=continuation_token)
        return WorkflowInstanceIdPage([s.instance_id for s in states], token)

    def iter_workflow_instance_ids(self, *, page_size: int = 1024) -> Iterator[str]:
        token: str | None = None
        while True:
            page = self.list_workflow_instance_ids(page_size=page_size, continuation_token=token)
            yield from page.instance_ids
            token = page.continuation_token
            if token is None:
                return

    # ------------------------------------------------------------------------------ wf's extensions

    def list_workflows(self, *, status: Any = None, name: str | None = None, created_after: datetime | None = None,
                       created_before: datetime | None = None, limit: int | None = None) -> Iterator[WorkflowState]:
        flt = ListFilter(statuses=_statuses(status), name=name, created_after=_utc(created_after),
                         created_before=_utc(created_before))
        return self.backend.list(flt, limit=limit)

    def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The history in wf's shape (event types ExecutionStarted, TaskScheduled, ..., with data)."""
        return list(self.backend.history(instance_id))

    def purge_workflows(self, *, status: Any = None, older_than: timedelta | datetime | None = None,
                        force: bool = False, dry_run: bool = False) -> int:
        """Bulk purge; older_than counts from when each instance reached its terminal state."""
        cutoff: datetime | None
        if isinstance(older_than, timedelta):
            cutoff = datetime.now(timezone.utc) - older_than
        else:
            cutoff = _utc(older_than)
        flt = ListFilter(statuses=_statuses(status), completed_before=cutoff)
        return self.backend.purge_many(flt, force=force, dry_run=dry_run)

    # ------------------------------------------------------------------------------ bulk operations
    #
    # Each takes instance_ids, or the list filters (status, name, created_after, created_before;
    # without a status: every instance the operation applies to), selects once at the start, works
    # in batches, and returns a BulkResult (done, skipped, failed with the first reasons).
    # dry_run=True returns the selection (BulkResult.instance_ids) and changes nothing.

    def _bulk(self, operation: str, instance_ids: Any, status: Any, name: str | None,
              created_after: datetime | None, created_before: datetime | None, dry_run: bool,
              rps: float | None, **params: Any) -> BulkResult:
        from wf.backends.base import bulk_operation

        ids = None
        if instance_ids is not None:
            ids = [instance_ids] if isinstance(instance_ids, str) else list(instance_ids)
        flt = ListFilter(statuses=_statuses(status), name=name, created_after=_utc(created_after),
                         created_before=_utc(created_before))
        if ids is not None and flt != ListFilter():
            from wf.model import InvalidArgumentError

            raise InvalidArgumentError("give instance_ids or filters, not both")
        return bulk_operation(self.backend, operation, instance_ids=ids, flt=flt, dry_run=dry_run, rps=rps,
                              **params)

    def terminate_workflows(self, instance_ids: Any = None, *, status: Any = None, name: str | None = None,
                            created_after: datetime | None = None, created_before: datetime | None = None,
                            output: Any = None, recursive: bool = True, reason: str | None = None,
                            dry_run: bool = False, rps: float | None = None) -> BulkResult:
        return self._bulk("terminate", instance_ids, status, name, created_after, created_before, dry_run, rps,
                          output=payload.encode(output), recursive=recursive, reason=reason)

    def suspend_workflows(self, instance_ids: Any = None, *, status: Any = None, name: str | None = None,
                          created_after: datetime | None = None, created_before: datetime | None = None,
                          reason: str | None = None, dry_run: bool = False, rps: float | None = None) -> BulkResult:
        return self._bulk("suspend", instance_ids, status, name, created_after, created_before, dry_run, rps,
                          reason=reason)

    pause_workflows = suspend_workflows

    def resume_workflows(self, instance_ids: Any = None, *, status: Any = None, name: str | None = None,
                         created_after: datetime | None = None, created_before: datetime | None = None,
                         reason: str | None = None, dry_run: bool = False, rps: float | None = None) -> BulkResult:
        return self._bulk("resume", instance_ids, status, name, created_after, created_before, dry_run, rps,
                          reason=reason)

    def raise_workflow_events(self, event_name: str, instance_ids: Any = None, *, data: Any = None,
                              status: Any = None, name: str | None = None, created_after: datetime | None = None,
                              created_before: datetime | None = None, dry_run: bool = False,
                              rps: float | None = None) -> BulkResult:
        return self._bulk("raise_event", instance_ids, status, name, created_after, created_before, dry_run, rps,
                          event_name=event_name, data=payload.encode(data))


DaprWorkflowClient = WorkflowClient
