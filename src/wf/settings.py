"""Where settings come from: flag, then environment, then the active profile, then the default.

Shared by the CLI (which also writes profiles, in cli/config.py) and by the library, whose
WorkflowRuntime(db=None) and WorkflowClient(db=None) resolve their store when they start working:
the --db of the `wf worker` / `wf serve` / `wf run --app` that loaded the module (a process
override), else WF_DB, else the profile's, else the default path.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from wf.model import InvalidArgumentError, StoreError

if TYPE_CHECKING:
    from pathlib import Path

KEYS = ("db", "url", "token", "app_id", "durability", "timeout")
ENV_VARS = {
    "db": ("WF_DB",),
    "url": ("WF_URL",),
    "token": ("WF_API_TOKEN", "DAPR_API_TOKEN"),
    "app_id": ("WF_APP_ID",),
    "durability": ("WF_DURABILITY",),
    "timeout": ("WF_TIMEOUT",),
}
PROFILE_ENV = "WF_PROFILE"
DEFAULT_PROFILE = "default"

# Values set by the process that loaded an app module (wf worker --db ..., wf serve, wf run --app).
_overrides: dict[str, Any] = {}


def set_overrides(**values: Any) -> None:
    _overrides.update({k: v for k, v in values.items() if v is not None})


def clear_overrides() -> None:
    _overrides.clear()


# Paths are built with os.path and made Path objects only for callers that ask: reading a store
# (every `wf get`) never imports pathlib, which costs a few milliseconds of start-up.


def config_file() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "wf", "config.toml")


def config_path() -> Path:
    from pathlib import Path

    return Path(config_file())


def default_db_file() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "wf", "wf.db")


def default_db_path() -> Path:
    from pathlib import Path

    return Path(default_db_file())


def load_config(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The parsed config file ({} when there is none). A broken file is a one-line error."""
    path = path or config_file()
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return {}  # the usual case; tomllib is not even imported
    except OSError as exc:
        raise StoreError(f"cannot read config file {path}: {exc.strerror}") from None
    import tomllib

    try:
        with fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgumentError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise StoreError(f"cannot read config file {path}: {exc.strerror}") from None
    return data


def active_profile(explicit: str | None = None, config: dict[str, Any] | None = None) -> str:
    if explicit:
        return explicit
    if _overrides.get("profile"):
        return _overrides["profile"]
    env = os.environ.get(PROFILE_ENV)
    if env:
        return env
    if config is None:
        config = load_config()
    return config.get("current") or DEFAULT_PROFILE


def profile_values(name: str | None = None, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings of the active profile. A profile that does not exist (--profile remtoe) is an
    error, except the implicit `default`: a typo must not silently mean the default store."""
    if config is None:
        config = load_config()
    name = active_profile(name, config)
    profiles = config.get("profiles", {})
    if name not in profiles and name != DEFAULT_PROFILE:
        raise unknown_profile(name, profiles)
    return dict(profiles.get(name, {}))


def unknown_profile(name: str, profiles: dict[str, Any]) -> InvalidArgumentError:
    """'unknown profile 'remtoe'; did you mean 'remote'? The profiles are: default, remote ...'"""
    import difflib

    known = sorted({DEFAULT_PROFILE, *profiles})
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return InvalidArgumentError(
        f"unknown profile {name!r}{hint}; the profiles are: {', '.join(known)}; "
        f"'wf --profile {name} config set KEY VALUE' creates it"
    )


def resolve(key: str, explicit: Any = None, *, profile: str | None = None, config: dict | None = None) -> Any:
    """One setting by precedence: explicit, process override, environment, profile; None if unset."""
    if explicit is not None:
        return explicit
    if key in _overrides:
        return _overrides[key]
    for var in ENV_VARS.get(key, ()):
        value = os.environ.get(var)
        if value:
            return value
    return profile_values(profile, config).get(key)


def resolve_db(explicit: str | os.PathLike | None = None) -> Path:
    from pathlib import Path

    return Path(resolve_db_file(explicit))


def resolve_db_file(explicit: str | os.PathLike | None = None) -> str:
    """resolve_db as a string, for the hot path of the CLI."""
    value = resolve("db", explicit)
    return os.path.expanduser(str(value)) if value else default_db_file()


def resolve_app_id(explicit: str | None = None) -> str:
    return resolve("app_id", explicit) or "default"


def positive_number(setting: str, value: Any, source: str | None = None) -> float:
    """A number of seconds (or any positive quantity) read from a setting: finite and more than 0,
    else a one-line usage error naming the setting (WF_LEASE_SECONDS=0 would make workers reap
    each other; inf or nan would never expire)."""
    import math

    try:
        number = float(str(value).strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        where = f" (from {source})" if source else ""
        raise InvalidArgumentError(f"invalid {setting} {value!r}{where}: expected a finite number of seconds, "
                                   "more than 0")
    return number


def env_seconds(var: str, default: float) -> float:
    """A positive number of seconds from an environment variable, or the default when unset."""
    value = os.environ.get(var)
    return default if value is None else positive_number(var, value)


def resolve_seconds(key: str, *, profile: str | None = None) -> float | None:
    """A positive number of seconds by precedence (override, environment, profile); None if unset.
    A bad value is an error naming where it came from (an empty WF_TIMEOUT too)."""
    if key in _overrides:
        return positive_number(key, _overrides[key])
    for var in ENV_VARS.get(key, ()):
        value = os.environ.get(var)
        if value is not None:
            return positive_number(key, value, var)
    config = load_config()
    value = profile_values(profile, config).get(key)
    if value is None:
        return None
    return positive_number(key, value, f"profile {active_profile(profile, config)!r}")
