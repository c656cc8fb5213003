"""One log line per gRPC call of `wf serve`'s gRPC door: method, status code, time in ms.

Never a token: no metadata is logged. The calls workers make for every work item (the
Complete*Task and Abandon*Task calls) are logged at debug level when they succeed, so a busy app
does not flood the log; a failed call is logged whatever its method.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

log = logging.getLogger("wf.serve.grpc")

_WORK_ITEM_CALLS = ("Complete", "Abandon")  # method names that start so: one per work item
_SERVER_FAULTS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS,
                            grpc.StatusCode.UNAVAILABLE})


class AccessLogInterceptor(grpc.ServerInterceptor):
    """The first interceptor, so calls another interceptor refuses (a wrong token) are logged too."""

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        handler = continuation(details)
        method = str(details.method)
        ok_level = logging.DEBUG if method.rsplit("/", 1)[-1].startswith(_WORK_ITEM_CALLS) else logging.INFO
        if handler is None or not log.isEnabledFor(logging.WARNING):
            return handler

        def done(context: grpc.ServicerContext, start: float, failed: bool) -> None:
            code = context.code()
            if code is None:
                code = grpc.StatusCode.OK if not failed else (
                    grpc.StatusCode.CANCELLED if not context.is_active() else grpc.StatusCode.UNKNOWN)
            level = ok_level if code == grpc.StatusCode.OK else (
                logging.WARNING if code in _SERVER_FAULTS else logging.INFO)
            if log.isEnabledFor(level):
                ms = round((time.perf_counter() - start) * 1000, 1)
                log.log(level, "gRPC %s %s %.1fms", method, code.name, ms,
                        extra={"method": method, "status": code.name, "duration_ms": ms})

        if handler.unary_unary is not None:
            inner = handler.unary_unary

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                start, failed = time.perf_counter(), True
                try:
                    response = inner(request, context)
                    failed = False
                    return response
                finally:
                    done(context, start, failed)

            return grpc.unary_unary_rpc_method_handler(unary, handler.request_deserializer,
                                                       handler.response_serializer)
        if handler.unary_stream is not None:
            stream = handler.unary_stream

            def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                start, failed = time.perf_counter(), True
                try:
                    yield from stream(request, context)
                    failed = False
                finally:
                    done(context, start, failed)

            return grpc.unary_stream_rpc_method_handler(streaming, handler.request_deserializer,
                                                        handler.response_serializer)
        return handler  # no streaming-request methods in this service
