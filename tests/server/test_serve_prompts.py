"""A destructive prompt against a remote engine names it: the real `wf` at a pseudo-terminal,
against a real `wf serve`."""

from __future__ import annotations

import re

import pexpect
from serve_support import WF_EXE, run_wf, wf_env

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def asked(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run `wf ARGS` at a terminal, answer its question no; (exit code, the question)."""
    child = pexpect.spawn(WF_EXE, list(args), env=env, dimensions=(50, 250), encoding="utf-8", timeout=60)
    child.expect(r"\[y/N\]: ")
    question = ANSI.sub("", child.before + child.after).strip().splitlines()[-1]
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, question


def test_prompts_name_the_url_of_the_engine(serve_process, tmp_path):
    server = serve_process()
    env = wf_env(tmp_path)
    for iid in ("u1", "u2"):
        assert run_wf(env, "--url", server.url, "run", "anything", "-i", iid, "-q").returncode == 0
    assert run_wf(env, "--url", server.url, "terminate", "u1", "-q").returncode == 0
    code, question = asked(env, "terminate", "u1", "u2", "--url", server.url)
    assert code == 1 and question == f"Terminate 2 instances (ids u1, u2) of app default at {server.url}? [y/N]:"
    code, question = asked(env, "--url", server.url, "-a", "default", "purge", "--all")
    assert code == 1 and question == f"Purge 1 instance (finished) of app default at {server.url}? [y/N]:"
    listed = run_wf(env, "--url", server.url, "list", "-o", "ids")
    assert sorted(listed.stdout.split()) == ["u1", "u2"]  # both answers were no
