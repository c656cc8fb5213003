"""Fuzzing with hypothesis: the duration and timestamp parsers (round trips; garbage raises
InvalidArgumentError and nothing else) and the history JSON round trip (Event.to_json/from_json)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wf.durations import format_duration, parse_duration, parse_time_ago, parse_time_ahead, parse_timestamp
from wf.engine.history import ALL_TYPES, Event
from wf.model import InvalidArgumentError, rfc3339

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# ------------------------------------------------------------------------------------ durations


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(UNITS))), min_size=1, max_size=5))
def test_duration_of_parts_is_their_sum(parts):
    text = "".join(f"{n}{unit}" for n, unit in parts)
    expected = sum(n * UNITS[unit] for n, unit in parts)
    got = parse_duration(text).total_seconds()
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6), (text, got, expected)


@FUZZ
@given(st.integers(1, 10**9))
def test_whole_seconds_round_trip_through_format(seconds):
    td = timedelta(seconds=seconds)
    assert parse_duration(format_duration(td)) == td


@FUZZ
@given(st.integers(1, 999))
def test_milliseconds_round_trip_through_format(ms):
    td = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(td)) == td


def _only_invalid_argument(fn, text):
    try:
        fn(text)
    except InvalidArgumentError as exc:
        assert str(exc).strip() and "\n" not in str(exc)
    # any other exception fails the test, with hypothesis's minimal example


GARBAGE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789.+-eEnsuµmhdw :TZ", max_size=30),
    st.from_regex(r"\A[0-9]{1,30}(\.[0-9]{0,20})?(ns|us|ms|s|m|h|d|w|y|x)?\Z", fullmatch=True),
)


@FUZZ
@given(GARBAGE)
@example("9" * 400 + "h")
@example("1e9h")
@example(".s")
def test_duration_garbage_raises_invalid_argument_only(text):
    _only_invalid_argument(parse_duration, text)
    _only_invalid_argument(parse_time_ago, text)
    _only_invalid_argument(parse_time_ahead, text)


# ------------------------------------------------------------------------------------ timestamps

AWARE = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30),
                     timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                                                timezone(timedelta(hours=-8))]))


@FUZZ
@given(AWARE)
def test_timestamp_round_trips_through_rfc3339(dt):
    dt = dt.replace(microsecond=dt.microsecond // 1000 * 1000)  # wf prints milliseconds
    assert parse_timestamp(rfc3339(dt)) == dt
    assert parse_timestamp(dt.isoformat()) == dt


@FUZZ
@given(st.dates(min_value=datetime(1, 1, 1).date()))
def test_bare_dates_are_utc_midnight(d):
    assert parse_timestamp(d.isoformat()) == datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


TS_GARBAGE = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?(Z|[+-][0-9]{2}:[0-9]{2})?\Z",
                  fullmatch=True),
)


@FUZZ
@given(TS_GARBAGE)
@example("9999-12-31T23:59:59-23:59")  # beyond datetime.max once in UTC
@example("0001-01-01T00:00:00+01:00")  # before datetime.min once in UTC
def test_timestamp_garbage_raises_invalid_argument_only(text):
    _only_invalid_argument(parse_timestamp, text)
    _only_invalid_argument(parse_time_ago, text)
    _only_invalid_argument(parse_time_ahead, text)


# ------------------------------------------------------------------------------------ history JSON

JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
JSON_TEXT = JSON_VALUE.map(lambda v: json.dumps(v))

EVENTS = st.builds(
    Event,
    type=st.sampled_from(sorted(ALL_TYPES)),
    ts=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    event_id=st.one_of(st.just(-1), st.integers(0, 2**31)),
    name=st.one_of(st.none(), st.text(max_size=30)),
    task_id=st.one_of(st.none(), st.integers(0, 2**31)),
    data=st.one_of(st.none(), JSON_TEXT, st.text(max_size=30)),
    failure=st.one_of(st.none(), st.fixed_dictionaries(
        {"message": st.text(max_size=40), "error_type": st.text(min_size=1, max_size=20)},
        optional={"stack_trace": st.one_of(st.none(), st.text(max_size=60))})),
    extra=st.one_of(st.none(), st.dictionaries(st.text(max_size=10), JSON_VALUE, max_size=4)),
)


@FUZZ
@given(EVENTS)
def test_history_event_json_round_trip(event):
    text = event.to_json()
    json.loads(text)  # strict JSON: no NaN, one document
    again = Event.from_json(text)
    assert again == event
    assert again.to_json() == text
    he = again.to_history_event()  # what get_workflow_history returns
    assert he.event_type == event.type and he.task_scheduled_id == event.task_id and he.data == event.data
    json.dumps(he.to_dict())
