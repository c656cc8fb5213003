"""`wf completion bash|zsh|fish`: the shell script that completes commands, flags and instance ids.

The scripts come from click's shell-completion machinery over this click tree; completions/ holds
copies written by `python -m wf.cli.completion` (a test fails when they are stale). Instance ids
complete from the local store (see wf.cli.common.complete_instance_ids).
"""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_WF_COMPLETE"


def completion_script(shell: str) -> str:
    from click.shell_completion import get_completion_class

    from wf.cli.app import cli

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"unsupported shell {shell!r}")
    source = cls(cli, {}, "wf", COMPLETE_VAR).source()
    return source if source.endswith("\n") else source + "\n"


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion_cmd(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    Install:
      bash:  wf completion bash > ~/.local/share/bash-completion/completions/wf
      zsh:   wf completion zsh > "${fpath[1]}/_wf"
      fish:  wf completion fish > ~/.config/fish/completions/wf.fish
    """
    click.echo(completion_script(shell), nl=False)


COMMANDS = [completion_cmd]


def write_all(directory: str = "completions") -> list[str]:
    """Regenerate completions/wf.{bash,zsh,fish}; returns the paths written."""
    import os

    os.makedirs(directory, exist_ok=True)
    paths = []
    for shell in SHELLS:
        path = os.path.join(directory, f"wf.{shell}")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(completion_script(shell))
        paths.append(path)
    return paths


if __name__ == "__main__":
    import sys

    for p in write_all(sys.argv[1] if len(sys.argv) > 1 else "completions"):
        print(p)
