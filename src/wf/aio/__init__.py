"""The async client (Dapr's dapr.ext.workflow.aio): DaprWorkflowClient's methods as coroutines.

Each call runs the synchronous client's method in a worker thread, so an event loop never
blocks on the store or the network; the answers are the same objects the sync client returns.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from wf.client import WorkflowClient as _SyncClient
from wf.management import UNSET, WorkflowHistoryEvent, WorkflowInstanceIdPage
from wf.model import WorkflowState

__all__ = ["DaprWorkflowClient", "WorkflowClient"]


class DaprWorkflowClient:
    """`async with wf.aio.DaprWorkflowClient() as client: await client.schedule_new_workflow(...)`.
    Takes the sync client's arguments (db, url, token, app_id, and Dapr's host, port, ...)."""

    def __init__(self, db: str | os.PathLike | None = None, *, host: str | None = None, port: str | None = None,
                 logger_options: Any = None, max_grpc_message_length: int | None = None, **kwargs: Any) -> None:
        self._sync = _SyncClient(db, host=host, port=port, logger_options=logger_options,
                                    max_grpc_message_length=max_grpc_message_length, **kwargs)

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def schedule_new_workflow(self, workflow: Callable[..., Any] | str, *, input: Any = None,
                                    instance_id: str | None = None, start_at: datetime | None = None,
                                    reuse_id_policy: Any = None, app_id: str | None = None,
                                    if_exists: str | None = None) -> str:
        return await self._call(self._sync.schedule_new_workflow, workflow, input=input, instance_id=instance_id,
                                start_at=start_at, reuse_id_policy=reuse_id_policy, app_id=app_id,
                                if_exists=if_exists)

    async def get_workflow_state(self, instance_id: str, *, fetch_payloads: bool = True,
                                 app_id: str | None = None) -> WorkflowState | None:
        return await self._call(self._sync.get_workflow_state, instance_id, fetch_payloads=fetch_payloads,
                                app_id=app_id)

    async def wait_for_workflow_start(self, instance_id: str, *, fetch_payloads: bool = False,
                                      timeout_in_seconds: float = 0, app_id: str | None = None) -> WorkflowState | None:
        return await self._call(self._sync.wait_for_workflow_start, instance_id, fetch_payloads=fetch_payloads,
                                timeout_in_seconds=timeout_in_seconds, app_id=app_id)

    async def wait_for_workflow_completion(self, instance_id: str, *, fetch_payloads: bool = True,
                                           timeout_in_seconds: float = 0,
                                           app_id: str | None = None) -> WorkflowState | None:
        return await self._call(self._sync.wait_for_workflow_completion, instance_id, fetch_payloads=fetch_payloads,
                                timeout_in_seconds=timeout_in_seconds, app_id=app_id)

    async def raise_workflow_event(self, instance_id: str, event_name: str, *, data: Any = None,
                                   app_id: str | None = None) -> None:
        await self._call(self._sync.raise_workflow_event, instance_id, event_name, data=data, app_id=app_id)

    async def terminate_workflow(self, instance_id: str, *, output: Any = None, recursive: bool = True,
                                 app_id: str | None = None) -> None:
        await self._call(self._sync.terminate_workflow, instance_id, output=output, recursive=recursive,
                         app_id=app_id)

    async def pause_workflow(self, instance_id: str, *, app_id: str | None = None, reason: str | None = None) -> None:
        await self._call(self._sync.pause_workflow, instance_id, app_id=app_id, reason=reason)

    async def resume_workflow(self, instance_id: str, *, app_id: str | None = None, reason: str | None = None) -> None:
        await self._call(self._sync.resume_workflow, instance_id, app_id=app_id, reason=reason)

    async def purge_workflow(self, instance_id: str, recursive: bool = True, *, app_id: str | None = None,
                             force: bool = False) -> int:
        return await self._call(self._sync.purge_workflow, instance_id, recursive, app_id=app_id, force=force)

    async def rerun_workflow_from_event(self, instance_id: str, event_id: int, *, new_instance_id: str | None = None,
                                        input: Any = UNSET, new_child_workflow_instance_id: str | None = None,
                                        app_id: str | None = None) -> str:
        return await self._call(self._sync.rerun_workflow_from_event, instance_id, event_id,
                                new_instance_id=new_instance_id, input=input,
                                new_child_workflow_instance_id=new_child_workflow_instance_id, app_id=app_id)

    async def get_workflow_history(self, instance_id: str) -> list[WorkflowHistoryEvent]:
        return await self._call(self._sync.get_workflow_history, instance_id)

    async def list_workflow_instance_ids(self, *, page_size: int | None = None,
                                         continuation_token: str | None = None) -> WorkflowInstanceIdPage:
        return await self._call(self._sync.list_workflow_instance_ids, page_size=page_size,
                                continuation_token=continuation_token)

    async def iter_workflow_instance_ids(self, *, page_size: int = 1024) -> AsyncIterator[str]:
        token: str | None = None
        while True:
            page = await self.list_workflow_instance_ids(page_size=page_size, continuation_token=token)
            for instance_id in page.instance_ids:
                yield instance_id
            token = page.continuation_token
            if token is None:
                return

    async def close(self) -> None:
        await self._call(self._sync.close)

    async def __aenter__(self) -> "DaprWorkflowClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


WorkflowClient = DaprWorkflowClient  # wf's name for it
