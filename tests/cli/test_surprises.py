"""Fewer surprises, through the real `wf`: global options after the command, a did-you-mean for
an unknown command, an unknown profile refused, -q quiet everywhere."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from cli_testing import one_error_line, run_wf, snapshot


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _cfg(tmp_path):
    return tmp_path / "config" / "wf" / "config.toml"


# ------------------------------------------------------------------ global options after the command


def test_global_options_after_the_command(db, backend, tmp_path):
    backend.start("doubler", instance_id="here")
    backend.close()
    other = str(tmp_path / "other.db")  # WF_DB names `db`: the flag after the command must win
    r = run_wf(other, "get", "here", "--db", db, "-o", "json", "--no-color")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["instance_id"] == "here"
    r = run_wf(other, "ls", "--db", db, "-o", "ids")
    assert (r.returncode, r.stdout) == (0, "here\n")
    r = run_wf(db, "ls", "-o", "ids", "-a", "billing")  # another app: none of its instances
    assert (r.returncode, r.stdout) == (0, "")
    r = run_wf(db, "ls", "-o", "ids", "--app-id=default")
    assert (r.returncode, r.stdout) == (0, "here\n")


def test_before_and_after_must_agree(db, backend, tmp_path):
    backend.start("doubler", instance_id="here")
    backend.close()
    r = run_wf(db, "--db", db, "ls", "-o", "ids", "--db", db)  # the same value twice: fine
    assert (r.returncode, r.stdout) == (0, "here\n")
    before = snapshot(db)
    other = str(tmp_path / "other.db")
    r = run_wf(db, "--db", other, "terminate", "here", "--db", db)
    assert r.returncode == 2
    line = one_error_line(r.stderr)
    assert "--db is given twice with different values" in line and other in line
    assert snapshot(db) == before


def test_global_options_after_a_subcommand_of_a_group(db, tmp_path):
    r = run_wf(db, "config", "set", "app_id", "billing", "--profile", "prod")
    assert r.returncode == 0, r.stderr
    assert tomllib.loads(_cfg(tmp_path).read_text(encoding="utf-8")) == {"profiles": {"prod": {"app_id": "billing"}}}
    r = run_wf(db, "config", "get", "app_id", "--profile", "prod")
    assert (r.returncode, r.stdout) == (0, "billing\n")


def test_a_commands_own_option_wins_over_the_global_one(db):
    """`wf serve --token` is the server's token; `wf run -q` is run's own -q (the same meaning)."""
    from wf.cli.app import cli

    import click

    ctx = click.Context(cli)
    serve = cli.get_command(ctx, "serve")
    assert [p.name for p in serve.params if "--token" in p.opts] == ["serve_token"]
    run = cli.get_command(ctx, "run")
    assert [p.name for p in run.params if "-q" in p.opts] == ["quiet"]


def test_help_says_where_global_options_go(db):
    top = run_wf(db, "--help").stdout
    assert "may also follow the command" in top
    for opt in ("--db", "--url", "--token", "--app-id", "--profile", "--no-color", "--quiet"):
        assert opt in top, opt
    get = run_wf(db, "get", "--help").stdout
    assert "Global options also work here, after the command:" in get
    assert "--db, --url, --token, -a/--app-id, --profile, --no-color, -q/--quiet" in " ".join(get.split())
    assert "PATH" not in get  # listed once, in wf --help; not repeated in every command's option table
    run = " ".join(run_wf(db, "run", "--help").stdout.split())
    assert "--no-color (see 'wf --help')" in run  # run has its own -q/--quiet, not listed as a global


# ----------------------------------------------------------------------------- unknown command


@pytest.mark.parametrize("typed, hint", [
    ("lst", "did you mean 'list'?"),
    ("purg", "did you mean 'purge'?"),
    ("treminate", "did you mean 'terminate'?"),
    ("bogus", "'wf --help' lists the commands"),
])
def test_unknown_command_suggests_the_nearest(db, typed, hint):
    r = run_wf(db, typed, "x")
    assert r.returncode == 2 and r.stdout == ""
    assert one_error_line(r.stderr) == f"Error: No such command {typed!r}; {hint}"


# ----------------------------------------------------------------------------- unknown profile


def test_unknown_profile_is_an_error_listing_the_known_ones(db, backend, tmp_path):
    backend.start("doubler", instance_id="here")
    backend.close()
    assert run_wf(db, "--profile", "remote", "config", "set", "app_id", "billing").returncode == 0
    config_before, store_before = _cfg(tmp_path).read_bytes(), snapshot(db)
    cases = [
        (("--profile", "remtoe", "ls"), {}, "unknown profile 'remtoe' (did you mean 'remote'?); the profiles are: "
                                            "default, remote"),
        (("terminate", "here", "--profile", "remtoe"), {}, "unknown profile 'remtoe' (did you mean 'remote'?)"),
        (("ls",), {"WF_PROFILE": "prod"}, "unknown profile 'prod'; the profiles are: default, remote"),
        (("config", "use", "prod"), {}, "unknown profile 'prod'; the profiles are: default, remote; "
                                        "'wf --profile prod config set KEY VALUE' creates it"),
        (("config", "get", "db", "--profile", "remot"), {}, "did you mean 'remote'?"),
        (("config", "list", "--profile", "remot"), {}, "did you mean 'remote'?"),
        (("config", "list", "-o", "json"), {"WF_PROFILE": "prod"}, "unknown profile 'prod'"),
    ]
    for args, env, message in cases:
        r = run_wf(db, *args, **env)
        assert r.returncode == 2, (args, r.stderr)
        assert message in one_error_line(r.stderr), args
        assert r.stdout == ""
    assert _cfg(tmp_path).read_bytes() == config_before
    assert snapshot(db) == store_before
    # the implicit default profile and a known one are fine; `config use` of a known one works
    assert run_wf(db, "--profile", "default", "ls", "-o", "ids").stdout == "here\n"
    assert run_wf(db, "config", "use", "remote").returncode == 0
    assert tomllib.loads(_cfg(tmp_path).read_text(encoding="utf-8"))["current"] == "remote"


# ---------------------------------------------------------------------------------------- -q


def test_quiet_prints_nothing_on_success(db, backend):
    for iid in ("q1", "q2", "q3"):
        backend.start("waiter", instance_id=iid)
    backend.close()
    for args in [("suspend", "q1", "-q"), ("-q", "resume", "q1"), ("raise-event", "q1/go", "-q"),
                 ("terminate", "q1", "q2", "-q"), ("suspend", "--all", "-q"), ("purge", "q1", "-q"),
                 ("config", "set", "app_id", "default", "-q")]:
        r = run_wf(db, *args)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), args
    r = run_wf(db, "run", "doubler", "-x", "2", "-q")  # what a script needs: the id
    assert r.returncode == 0 and r.stderr == "" and len(r.stdout.split()) == 1
    r = run_wf(db, "-q", "run", "doubler", "-i", "d1")
    assert (r.returncode, r.stdout, r.stderr) == (0, "d1\n", "")
    assert run_wf(db, "ls", "-q", "-o", "ids", "-s", "SUSPENDED").stdout == "q3\n"  # data stays


def test_quiet_keeps_errors(db):
    r = run_wf(db, "suspend", "nope", "-q")
    assert r.returncode == 1 and r.stdout == ""
    assert "no workflow instance 'nope'" in one_error_line(r.stderr)


# --------------------------------------------------------------- prompts at a terminal name the target


def at_terminal(db: str, *args: str, answer: str | None = None, cols: int = 250):
    """The real `wf` on a pseudo-terminal; answers its question with `answer`. (exit code, text)."""
    import pexpect
    from cli_testing import WF_EXE, wf_env

    child = pexpect.spawn(WF_EXE, list(args), env=wf_env(db), dimensions=(200, cols), encoding="utf-8", timeout=30)
    text = ""
    if answer is not None:
        child.expect(r"\[y/N\]: ")
        text = child.before + child.after
        child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    text = ANSI.sub("", text + (child.before or "")).replace("\r\n", "\n")
    return child.exitstatus, text


def _prompt(child_text: str) -> str:
    return next(line for line in child_text.splitlines() if "[y/N]" in line)


@pytest.fixture
def ended(db, backend):
    """Three finished (terminated) and two waiting instances, no worker."""
    for iid in ("e1", "e2", "e3", "w1", "w2"):
        backend.start("waiter", instance_id=iid)
    for iid in ("e1", "e2", "e3"):
        backend.terminate(iid)
    backend.close()


def test_destructive_prompts_name_the_count_app_and_store(db, ended):
    from cli_testing import snapshot

    before = snapshot(db)
    asked = []
    for args in [("purge", "--all"), ("purge", "e1", "e2"), ("terminate", "w1", "w2"), ("terminate", "--all"),
                 ("suspend", "--all"), ("raise-event", "--all", "go")]:
        code, text = at_terminal(db, *args, answer="n")  # the child reads the answer from its terminal
        assert code == 1 and "Aborted." in text, (args, text)
        asked.append(_prompt(text).split("? [y/N]")[0])
    assert snapshot(db) == before  # every answer was no
    assert asked == [
        f"Purge 3 instances (finished) of app default in {db}",
        f"Purge 2 instances (ids e1, e2) of app default in {db}",
        f"Terminate 2 instances (ids w1, w2) of app default in {db}",
        f"Terminate 2 instances (all) of app default in {db}",
        f"Suspend 2 instances (all) of app default in {db}",
        f"Raise go on 2 instances (all) of app default in {db}",
    ]
    code, text = at_terminal(db, "-a", "default", "purge", "e1", "e2", answer="y")
    assert code == 0 and "Purged e1" in text and "Purged e2" in text
    code, text = at_terminal(db, "purge", "e3")  # one id is not a bulk operation: no question
    assert code == 0 and "[y/N]" not in text and "Purged e3" in text


# ------------------------------------------------------------------- repeated operations are no-ops


def test_repeated_suspend_resume_terminate_say_so_and_succeed(db, ended):
    from cli_testing import snapshot

    assert run_wf(db, "suspend", "w1").stdout == "Suspended w1\n"
    steps = [
        (("suspend", "w1"), "w1 is already suspended (SUSPENDED); nothing changed\n"),
        (("resume", "w2"), "w2 is not suspended (PENDING); nothing changed\n"),
        (("terminate", "e1"), "e1 is already terminated (TERMINATED); nothing changed\n"),
    ]
    for args, note in steps:
        before = snapshot(db)
        r = run_wf(db, *args)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", note), args
        assert snapshot(db) == before
        r = run_wf(db, *args, "-q")  # quiet: not a word, still exit 0
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), args
    # an operation that cannot apply stays an error (exit 1)
    r = run_wf(db, "suspend", "e1")
    assert r.returncode == 1 and "cannot suspend instance 'e1': it is TERMINATED" in one_error_line(r.stderr)
    # each no-op is still recorded in the audit trail, as the engine does
    audit = json.loads(run_wf(db, "audit", "-i", "e1", "-o", "json").stdout)
    assert [a["operation"] for a in audit].count("terminate") >= 3


# ------------------------------------------------------------------------ purge --dry-run lists ids


def test_purge_dry_run_lists_the_ids(db, backend):
    for i in range(55):
        backend.start("waiter", instance_id=f"p{i:02d}")
    backend.start("waiter", instance_id="live")
    backend.bulk("terminate", [f"p{i:02d}" for i in range(55)])
    backend.close()
    from cli_testing import snapshot

    before = snapshot(db)
    r = run_wf(db, "purge", "--all", "--dry-run")  # not at a terminal: every id, newest first
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines[:-1] == [f"p{i:02d}" for i in range(54, -1, -1)]
    assert lines[-1] == "Would purge 55 instances (finished; app default); dry run, nothing changed"
    r = run_wf(db, "purge", "--all", "--dry-run", "-q")
    assert r.stdout.splitlines() == [f"p{i:02d}" for i in range(54, -1, -1)]
    code, text = at_terminal(db, "purge", "--all", "--dry-run")  # at one: the first 50 and how many more
    lines = text.strip().splitlines()
    assert code == 0 and lines[:50] == [f"p{i:02d}" for i in range(54, 4, -1)]
    assert lines[50:] == ["... and 5 more", "Would purge 55 instances (finished; app default); dry run, nothing changed"]
    r = run_wf(db, "purge", "--all", "--force", "--dry-run", "-q", "-w", "waiter", "-m", "1h")
    assert r.stdout.splitlines()[0] == "live" and len(r.stdout.splitlines()) == 56
    assert snapshot(db) == before


def test_a_prompt_never_shows_credentials_of_a_url():
    from wf.cli.common import Globals

    assert Globals(url="https://user:s3cret@build-host:3500/base").where() == "at https://build-host:3500/base"
    assert Globals(url="grpc://build-host:50001").where() == "at grpc://build-host:50001"
