"""Durations and timestamps as the CLI (and cron lines) write them.

Durations are Go style (`300ms`, `90s`, `1h30m`, `720h`, `-1.5h` is refused) plus `d` (24h) and
`w` (7d). The standard library has no parser for them (`timedelta` has no string form to parse), so
this is a small hand-written one. Timestamps are RFC 3339 (`2024-05-01T12:00:00Z`, any offset) or a
bare date `YYYY-MM-DD`; `datetime.fromisoformat` (Python 3.11+) reads both, and a value without an
offset is taken as UTC, the zone of every time wf prints.

Bad input raises wf.model.InvalidArgumentError, whose exit code is 2 (usage).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from wf.model import InvalidArgumentError

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
# Longest unit names first so "ms" is not read as "m" followed by "s".
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)")
_EXAMPLES = "e.g. 300ms, 90s, 1h30m, 720h, 7d, 2w"


def parse_duration(text: str) -> timedelta:
    """`1h30m` -> timedelta(hours=1, minutes=30). `0` alone is allowed, as in Go."""
    if not isinstance(text, str):
        raise InvalidArgumentError(f"invalid duration {text!r}: expected text like {_EXAMPLES}")
    s = text.strip()
    if s == "0":
        return timedelta(0)
    if not s:
        raise InvalidArgumentError(f"invalid duration {text!r}: empty; expected {_EXAMPLES}")
    if s[0] in "+-":
        raise InvalidArgumentError(f"invalid duration {text!r}: must not be signed; expected {_EXAMPLES}")
    pos, seconds = 0, 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            if re.fullmatch(r"\d+(\.\d+)?", s):
                hint = f"add a unit, e.g. {s}s"
            else:
                hint = f"expected {_EXAMPLES}"
            raise InvalidArgumentError(f"invalid duration {text!r}: {hint}")
        seconds += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise InvalidArgumentError(f"invalid duration {text!r}: too large") from None


def format_duration(td: timedelta | float) -> str:
    """The inverse, for messages: 5400s -> '1h30m', 0.3 -> '300ms'."""
    total = td.total_seconds() if isinstance(td, timedelta) else float(td)
    if total < 1:
        return f"{round(total * 1000)}ms"
    total = round(total)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, total = divmod(total, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"


def parse_timestamp(text: str) -> datetime:
    """RFC 3339 or YYYY-MM-DD -> an aware UTC datetime."""
    s = text.strip() if isinstance(text, str) else ""
    try:
        if len(s) < 10:
            raise ValueError
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise InvalidArgumentError(
            f"invalid timestamp {text!r}: expected RFC 3339 (2024-05-01T12:00:00Z) or YYYY-MM-DD"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError:  # in range where it was written, out of range once moved to UTC
        raise InvalidArgumentError(f"invalid timestamp {text!r}: out of range") from None


def _looks_like_timestamp(s: str) -> bool:
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}", s))


def _relative(text: str, now: datetime | None, sign: int, what: str, too_large: str, expected: str) -> datetime:
    """A timestamp, or now plus (sign 1) or minus (sign -1) a duration."""
    now = now or datetime.now(timezone.utc)
    s = text.strip() if isinstance(text, str) else ""
    if _looks_like_timestamp(s):
        return parse_timestamp(s)
    try:
        return now + sign * parse_duration(s)
    except InvalidArgumentError as exc:
        if "too large" in str(exc):
            raise InvalidArgumentError(f"invalid {what} {text!r}: {too_large}") from None
        raise InvalidArgumentError(f"invalid {what} {text!r}: expected {expected}") from None
    except OverflowError:
        raise InvalidArgumentError(f"invalid {what} {text!r}: {too_large}") from None


def parse_time_ago(text: str, now: datetime | None = None) -> datetime:
    """A max age: a duration back from now (`24h`) or a timestamp; returns the cut-off instant."""
    return _relative(text, now, -1, "age", "too large",
                     f"a duration ({_EXAMPLES}) or a timestamp (RFC 3339 or YYYY-MM-DD)")


def parse_time_ahead(text: str, now: datetime | None = None) -> datetime:
    """A start time: a timestamp, or a duration forward from now (`10m`)."""
    return _relative(text, now, 1, "start time", "too far ahead",
                     f"a timestamp (RFC 3339 or YYYY-MM-DD) or a duration from now ({_EXAMPLES})")
