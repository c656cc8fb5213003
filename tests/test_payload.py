"""The payload codec against Dapr's own encoder and decoder (dapr 1.19, a dev dependency)."""

from __future__ import annotations

import json
import math
from collections import namedtuple
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Optional

import pytest
from dapr.ext.workflow._durabletask.internal import shared as dapr_shared
from pydantic import BaseModel

from wf import payload
from wf.model import InvalidArgumentError
from wf.payload import PayloadError


@dataclass
class Inner:
    n: int


@dataclass
class Order:
    cost: float
    product: str
    inner: Inner


Point = namedtuple("Point", "x y")


class Item(BaseModel):
    sku: str
    qty: int = 1


VALUES = [
    1, 2.5, "text", True, [1, "a", None], {"a": 1, "b": [1, 2]}, {"nested": {"x": "y"}},
    Order(3.5, "p", Inner(2)), Point(1, 2), SimpleNamespace(a=1, b="c"),
    Item(sku="s-1", qty=3), [Item(sku="a"), Point(0, 0)], {"o": Order(1.0, "q", Inner(0))},
    "üñí", {"uni": "ß"},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_encoding_is_byte_for_byte_dapr_s(value):
    assert payload.encode(value) == dapr_shared.to_json(value)


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_decoding_matches_dapr_s(value):
    text = dapr_shared.to_json(value)
    assert payload.decode(text) == dapr_shared.from_json(text)


def test_dataclass_reads_back_as_a_namespace_with_attributes_nested_fields_as_plain_objects():
    order = payload.decode(payload.encode(Order(12.5, "book", Inner(4))))
    assert isinstance(order, SimpleNamespace)
    assert order.cost == 12.5 and order.product == "book"
    assert order.inner == {"n": 4}  # dataclasses.asdict: only the outer object is marked, as in Dapr


def test_default_separators_and_the_marker():
    assert payload.encode({"a": 1}) == '{"a": 1}'
    assert payload.encode(Point(1, 2)) == '{"x": 1, "y": 2, "__durabletask_autoobject__": true}'


def test_encoding_a_namespace_leaves_it_unchanged():
    ns = SimpleNamespace(a=1)
    payload.encode(ns)
    assert vars(ns) == {"a": 1}


def test_none_is_no_payload_and_empty_text_reads_as_none():
    assert payload.encode(None) is None
    assert payload.decode(None) is None and payload.decode("") is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"x": [math.nan]}])
def test_nan_and_infinity_are_refused(bad):
    with pytest.raises(PayloadError, match="JSON"):
        payload.encode(bad)


def test_a_value_that_is_not_json_is_a_payload_error_that_is_also_a_type_error():
    with pytest.raises(PayloadError) as info:
        payload.encode(object())
    assert isinstance(info.value, TypeError) and isinstance(info.value, InvalidArgumentError)
    assert "object" in str(info.value)
    loop: list = []
    loop.append(loop)
    with pytest.raises(PayloadError):
        payload.encode(loop)


def test_compact_json_of_wf_0_1_0_reads_as_before():
    assert payload.decode('{"a":1,"b":[1,2],"c":{"d":"e"}}') == {"a": 1, "b": [1, 2], "c": {"d": "e"}}
    with pytest.raises(PayloadError, match="not valid JSON"):
        payload.decode("{nope")


def test_wf_writes_datetimes_and_sets_that_dapr_refuses():
    from datetime import datetime, timezone

    assert json.loads(payload.encode(datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc))) == "2024-01-02T03:04:05.000Z"
    assert sorted(json.loads(payload.encode({1, 2}))) == [1, 2]


# ------------------------------------------------------------------------------ typed inputs


def takes_model(ctx, item: Item): return item
def takes_optional(ctx, item: Optional[Item]): return item
def takes_union(ctx, item: Item | None): return item
def takes_string_annotation(ctx, item: "Item"): return item
def takes_plain(ctx, value): return value
def takes_nothing(ctx): return "no input"
def takes_varargs(*args): return args[1]


def test_models_are_rebuilt_from_the_input_annotation():
    for fn in (takes_model, takes_optional, takes_union, takes_string_annotation):
        got = payload.call_with_input(fn, None, payload.decode(payload.encode(Item(sku="x", qty=2))))
        assert got == Item(sku="x", qty=2), fn.__name__
    assert payload.call_with_input(takes_model, None, None) is None  # Optional input not given
    ns = payload.decode(payload.encode(SimpleNamespace(sku="n", qty=5)))
    assert payload.call_with_input(takes_model, None, ns) == Item(sku="n", qty=5)


def test_unannotated_inputs_pass_through_and_a_function_without_input_is_called_without_it():
    assert payload.call_with_input(takes_plain, None, {"a": 1}) == {"a": 1}
    assert payload.call_with_input(takes_nothing, None, {"a": 1}) == "no input"
    assert payload.call_with_input(takes_varargs, None, 7) == 7


def test_an_input_that_cannot_become_the_model_is_an_error():
    with pytest.raises(PayloadError, match="Item"):
        payload.call_with_input(takes_model, None, [1, 2])
    with pytest.raises(Exception, match="sku"):  # pydantic's validation error names the field
        payload.call_with_input(takes_model, None, {"qty": 1})


def test_input_spec_matches_dapr_s_reading_of_signatures():
    from dapr.ext.workflow import _model_protocol

    for fn in (takes_model, takes_optional, takes_union, takes_string_annotation, takes_plain, takes_nothing):
        assert payload.input_spec(fn) == _model_protocol.resolve_input(fn), fn.__name__
