"""`wf config set|get|unset|list|use|path`: profiles in $XDG_CONFIG_HOME/wf/config.toml.

The file is read with tomllib (via wf.settings) and written with tomli-w, atomically (a mkstemp
file beside it, then a rename; through a symlink to its target), with mode 0600 whenever it holds
a token. Layout:

    current = "prod"

    [profiles.prod]
    url = "http://dapr-sidecar:3500"
    token = "..."
    app_id = "billing"
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from wf.cli.common import Globals, pass_globals
from wf.model import InvalidArgumentError

DURABILITY = ("normal", "full")


def _keys() -> tuple[str, ...]:
    from wf.settings import KEYS

    return KEYS


def _check_key(key: str) -> str:
    norm = key.strip().lower().replace("-", "_")
    if norm not in _keys():
        raise InvalidArgumentError(f"unknown setting {key!r}; settings are: {', '.join(_keys())}")
    return norm


def _check_value(key: str, value: str) -> Any:
    if key == "durability":
        if value.lower() not in DURABILITY:
            raise InvalidArgumentError(f"invalid durability {value!r}; expected one of {', '.join(DURABILITY)}")
        return value.lower()
    if key == "timeout":
        from wf.settings import positive_number

        secs = positive_number("timeout", value)
        return int(secs) if secs.is_integer() else secs
    if key == "url" and not value.startswith(("http://", "https://")):
        raise InvalidArgumentError(f"invalid url {value!r}: expected http://HOST:PORT or https://...")
    if not value:
        raise InvalidArgumentError(f"empty value for {key!r}; use 'wf config unset {key}' to remove it")
    return value


def _check_profile_name(name: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name or ""):
        raise InvalidArgumentError(f"invalid profile name {name!r}: use letters, digits, '-' or '_'")
    return name


def _target_profile(g: Globals, config: dict[str, Any]) -> str:
    from wf.settings import active_profile

    return _check_profile_name(active_profile(g.profile, config))


def write_config(config: dict[str, Any], path: Path | None = None) -> Path:
    import tomli_w

    from wf.settings import config_path

    import tempfile

    path = path or config_path()
    holds_token = any("token" in (p or {}) for p in config.get("profiles", {}).values())
    mode = 0o600 if holds_token else 0o644
    # A config.toml that is a symlink (dotfiles) stays one: write through to what it points at.
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp: an unpredictable name, created exclusively (O_EXCL never follows a planted symlink), 0600
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            tomli_w.dump(config, fh)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _load() -> dict[str, Any]:
    from wf.settings import load_config

    return load_config()


def _mask(key: str, value: Any) -> str:
    if key == "token" and value:
        text = str(value)
        return "****" + text[-4:] if len(text) > 8 else "****"
    return str(value)


@click.group("config")
def config_group() -> None:
    """Read and write settings profiles (db, url, token, app_id, durability, timeout).

    \b
    Examples:
      wf config set db ~/work/wf.db
      wf --profile prod config set url http://localhost:3500
      wf config use prod
      wf config list
    """


@config_group.command("set")
@click.argument("key")
@click.argument("value")
@pass_globals
def config_set(g: Globals, key: str, value: str) -> None:
    """Set KEY to VALUE in the active profile (or --profile NAME)."""
    key = _check_key(key)
    parsed = _check_value(key, value)
    config = _load()
    profile = _target_profile(g, config)
    config.setdefault("profiles", {}).setdefault(profile, {})[key] = parsed
    path = write_config(config)
    g.out.message(f"Set {key} in profile {profile} ({path})")


@config_group.command("unset")
@click.argument("key")
@pass_globals
def config_unset(g: Globals, key: str) -> None:
    """Remove KEY from the active profile (or --profile NAME)."""
    key = _check_key(key)
    config = _load()
    profile = _target_profile(g, config)
    values = config.get("profiles", {}).get(profile, {})
    if key not in values:
        g.out.message(f"{key} is not set in profile {profile}")
        return
    del values[key]
    write_config(config)
    g.out.message(f"Unset {key} in profile {profile}")


@config_group.command("get")
@click.argument("key")
@pass_globals
def config_get(g: Globals, key: str) -> None:
    """Print KEY's value as resolved now (flag > environment > profile > default)."""
    key = _check_key(key)
    if key == "db":
        value: Any = g.resolved_db()
    elif key == "app_id":
        value = g.resolved_app_id()
    else:
        value = g.setting(key)
    if value is None:
        raise click.exceptions.Exit(1)  # unset: no output, like `git config KEY`
    g.out.line(str(value))


@config_group.command("list")
@click.option("-o", "--output", "fmt", type=click.Choice(("short", "json")), default="short", show_default=True)
@pass_globals
def config_list(g: Globals, fmt: str) -> None:
    """Show every profile (tokens masked); * marks the active one."""
    from wf.settings import active_profile, config_path, profile_values

    config = _load()
    profile_values(g.profile, config)  # an unknown profile is an error here too, naming the known ones
    current = active_profile(g.profile, config)
    profiles = config.get("profiles", {})
    if fmt == "json":
        g.out.json_value({
            "path": str(config_path()),
            "current": current,
            "profiles": {name: {k: _mask(k, v) for k, v in values.items()} for name, values in profiles.items()},
        })
        return
    g.out.note(f"# {config_path()}")
    names = list(profiles)
    if current not in names:
        names.insert(0, current)
    for name in names:
        g.out.line(f"{'*' if name == current else ' '} {name}")
        for k, v in profiles.get(name, {}).items():
            g.out.line(f"    {k} = {_mask(k, v)}")


@config_group.command("use")
@click.argument("profile")
@pass_globals
def config_use(g: Globals, profile: str) -> None:
    """Make PROFILE the active profile (WF_PROFILE and --profile still win). The profile must
    exist: create one with `wf --profile NAME config set KEY VALUE`."""
    _check_profile_name(profile)
    config = _load()
    from wf.settings import profile_values

    profile_values(profile, config)  # it must exist (or be the implicit default)
    config["current"] = profile
    config.setdefault("profiles", {}).setdefault(profile, {})
    write_config(config)
    g.out.message(f"Using profile {profile}")


@config_group.command("path")
@pass_globals
def config_path_cmd(g: Globals) -> None:
    """Print the config file's path."""
    from wf.settings import config_path

    g.out.line(str(config_path()))


COMMANDS = [config_group]
