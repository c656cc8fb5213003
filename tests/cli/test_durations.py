from datetime import datetime, timedelta, timezone

import pytest

from wf.durations import format_duration, parse_duration, parse_time_ago, parse_time_ahead, parse_timestamp
from wf.model import InvalidArgumentError

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, expected", [
    ("300ms", timedelta(milliseconds=300)),
    ("90s", timedelta(seconds=90)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("720h", timedelta(days=30)),
    ("7d", timedelta(days=7)),
    ("2w", timedelta(weeks=2)),
    ("1.5h", timedelta(minutes=90)),
    ("1d12h", timedelta(hours=36)),
    ("250us", timedelta(microseconds=250)),
    ("0", timedelta(0)),
    (" 5m ", timedelta(minutes=5)),
])
def test_go_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text, hint", [
    ("90", "add a unit, e.g. 90s"),
    ("", "empty"),
    ("-5m", "must not be signed"),
    ("5 minutes", "expected"),
    ("1y", "expected"),
    ("h", "expected"),
    ("5m3", "expected"),
])
def test_bad_durations_name_the_fix(text, hint):
    with pytest.raises(InvalidArgumentError) as exc:
        parse_duration(text)
    assert hint in str(exc.value)
    assert exc.value.exit_code == 2


def test_format_duration_round_trips_common_values():
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(0.3) == "300ms"
    assert format_duration(timedelta(days=30)) == "30d"
    assert format_duration(0) == "0ms"


@pytest.mark.parametrize("text, expected", [
    ("2024-05-01T12:00:00Z", NOW),
    ("2024-05-01T14:00:00+02:00", NOW),
    ("2024-05-01T12:00:00.500Z", NOW + timedelta(milliseconds=500)),
    ("2024-05-01", datetime(2024, 5, 1, tzinfo=timezone.utc)),
])
def test_timestamps(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01", "2024-05-01T25:00:00Z", "05/01/2024", ""])
def test_bad_timestamps(text):
    with pytest.raises(InvalidArgumentError, match="RFC 3339"):
        parse_timestamp(text)


def test_age_and_start_time_take_a_duration_or_a_timestamp():
    assert parse_time_ago("24h", NOW) == NOW - timedelta(hours=24)
    assert parse_time_ago("2024-04-01", NOW) == datetime(2024, 4, 1, tzinfo=timezone.utc)
    assert parse_time_ahead("10m", NOW) == NOW + timedelta(minutes=10)
    assert parse_time_ahead("2024-06-01T00:00:00Z", NOW) == datetime(2024, 6, 1, tzinfo=timezone.utc)
    with pytest.raises(InvalidArgumentError, match="invalid age"):
        parse_time_ago("soon", NOW)
    with pytest.raises(InvalidArgumentError, match="invalid start time"):
        parse_time_ahead("later", NOW)
    with pytest.raises(InvalidArgumentError, match="too"):
        parse_time_ago("99999999999w", NOW)
