"""The payload codec: how workflow inputs, outputs, results, events and custom statuses become JSON.

It is Dapr's encoding (dapr.ext.workflow 1.19), so payloads read the same on both engines:

- JSON with Python's default separators (`{"a": 1}`), as Dapr writes it;
- a dataclass, namedtuple or SimpleNamespace is written as a JSON object marked
  `"__durabletask_autoobject__": true`, and such an object is read back as a SimpleNamespace
  (so workflow code writes `order.cost`); fields nested inside are plain objects, as in Dapr;
- a model (anything with `model_dump` and `model_validate`, pydantic v2 style) is written as a
  plain JSON object, and rebuilt from the annotation of the workflow's or activity's input
  parameter (`coerce_input`).

wf refuses NaN and Infinity (not JSON; Dapr writes them), and also writes datetimes (RFC 3339)
and sets (as lists), which Dapr refuses. Reading accepts any JSON, so stores written by wf 0.1.0
(compact JSON) read as before. Every payload of the engine and the clients goes through here.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import typing
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from wf.model import InvalidArgumentError

AUTO_SERIALIZED = "__durabletask_autoobject__"


class PayloadError(InvalidArgumentError, TypeError):
    """A value cannot be written as a payload (not JSON, NaN, a circular reference), or a payload
    cannot be read into the type a workflow or activity declares. A TypeError too, as json's."""


# ------------------------------------------------------------------------------ models


def is_model_class(cls: Any) -> bool:
    return (inspect.isclass(cls) and callable(getattr(cls, "model_dump", None))
            and callable(getattr(cls, "model_validate", None)))


def is_model(obj: Any) -> bool:
    return is_model_class(type(obj))


@functools.lru_cache(maxsize=None)
def _dump_takes_mode(cls: Any) -> bool:
    try:
        params = inspect.signature(cls.model_dump).parameters
    except (TypeError, ValueError):
        return False
    return "mode" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _dump_model(model: Any) -> Any:
    cls: Any = type(model)
    return model.model_dump(mode="json") if _dump_takes_mode(cls) else model.model_dump()


# ------------------------------------------------------------------------------ encoding


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_fields") and hasattr(obj, "_asdict")


class _Encoder(json.JSONEncoder):
    def __init__(self) -> None:
        super().__init__(allow_nan=False)

    def encode(self, o: Any) -> str:
        if _is_namedtuple(o):  # json writes a tuple as a list before default() could see it
            o = {**o._asdict(), AUTO_SERIALIZED: True}
        return super().encode(o)

    def default(self, o: Any) -> Any:
        if is_model(o):
            return _dump_model(o)
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return {**dataclasses.asdict(o), AUTO_SERIALIZED: True}
        if isinstance(o, SimpleNamespace):
            return {**vars(o), AUTO_SERIALIZED: True}
        if isinstance(o, datetime):
            from wf.model import rfc3339

            return rfc3339(o)
        if isinstance(o, (set, frozenset)):
            return list(o)
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


_encoder = _Encoder()


def encode(value: Any) -> str | None:
    """A Python value as payload JSON text; None stays None ('no payload')."""
    if value is None:
        return None
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"cannot encode a {type(value).__name__} as a JSON payload: {exc}") from None


# ------------------------------------------------------------------------------ decoding


def _object_hook(d: dict[str, Any]) -> Any:
    if d.pop(AUTO_SERIALIZED, False):
        return SimpleNamespace(**d)
    return d


_decoder = json.JSONDecoder(object_hook=_object_hook)


def decode(text: str | None) -> Any:
    """Payload JSON text as a Python value (marked objects become SimpleNamespace); None and ''
    read as None."""
    if text is None or text == "":
        return None
    try:
        return _decoder.decode(text)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"payload is not valid JSON: {exc}") from None


# ------------------------------------------------------------------------------ typed inputs


def _unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    import types

    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


@functools.lru_cache(maxsize=4096)
def input_spec(fn: Callable[..., Any]) -> tuple[bool, type | None]:
    """(takes an input, the model class its input is annotated with or None), as Dapr reads a
    workflow or activity: an input is passed when the function has a second parameter."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True, None
    if any(p.kind is p.VAR_POSITIONAL for p in params[:2]):
        return True, None
    if len(params) < 2:
        return False, None
    annotation = params[1].annotation
    if annotation is inspect.Parameter.empty:
        return True, None
    if isinstance(annotation, str):
        try:
            annotation = typing.get_type_hints(fn).get(params[1].name, annotation)
        except Exception:  # an annotation that does not resolve: no model to rebuild
            return True, None
    annotation = _unwrap_optional(annotation)
    return True, (annotation if is_model_class(annotation) else None)


def coerce(value: Any, model: type | None) -> Any:
    """Rebuild a model instance from a decoded payload (a dict or a SimpleNamespace)."""
    if value is None or model is None or isinstance(value, model):
        return value
    if isinstance(value, SimpleNamespace):
        value = vars(value)
    if not isinstance(value, dict):
        raise PayloadError(f"cannot read a {type(value).__name__} payload as {model.__name__}: "
                           "expected a JSON object")
    return model.model_validate(value)  # type: ignore[attr-defined]


def call_with_input(fn: Callable[..., Any], ctx: Any, value: Any) -> Any:
    """fn(ctx, input), with the input rebuilt as the model its annotation names; fn(ctx) when
    fn takes no input (as Dapr allows)."""
    takes, model = input_spec(fn)
    if not takes:
        return fn(ctx)
    return fn(ctx, coerce(value, model))
