"""The `wf` command line. `main` is the console script; the click tree lives in wf.cli.app.

Kept tiny: importing this package must stay cheap (it runs on every `wf` invocation).
"""


def main() -> None:
    from wf.cli.app import cli

    cli.main(prog_name="wf")
