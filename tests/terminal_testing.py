"""A real `wf` on a pseudo-terminal (pexpect) seen through a terminal emulator (pyte): what a
full-screen view really shows, line by line, at a given size. For the tests of `wf top`."""

from __future__ import annotations

import os
import shutil
import sys
import termios
import time
from collections.abc import Callable

import pexpect
import pyte
import pytest

WF_EXE = shutil.which("wf", path=os.path.dirname(sys.executable)) or shutil.which("wf")


class Terminal:
    def __init__(self, args: list[str], env: dict[str, str], *, cols: int = 80, rows: int = 24) -> None:
        assert WF_EXE, "the wf console script is not installed in the venv"
        self.child = pexpect.spawn(WF_EXE, args, env=env, dimensions=(rows, cols), encoding="utf-8", timeout=30)
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.Stream(self.screen)
        self.raw = ""  # every byte written, escape sequences included

    def pump(self, timeout: float = 0.1) -> None:
        try:
            data = self.child.read_nonblocking(1 << 16, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF):
            return
        self.raw += data
        self.stream.feed(data)

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def wait_for(self, predicate: Callable[[list[str]], object], timeout: float = 40, what: str = "") -> list[str]:
        """Read the screen until predicate(lines) holds; fails with the last screen at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            lines = self.lines()
            if predicate(lines):
                return lines
            if not self.child.isalive() or time.monotonic() >= deadline:
                shown = "\n".join(lines)
                pytest.fail(f"timed out waiting for {what or predicate}; the screen:\n{shown}")

    def line_with(self, text: str) -> str | None:
        return next((line for line in self.lines() if text in line), None)

    def end(self, keys: str) -> int:
        """Send keys and wait for the process to exit; its exit status."""
        self.child.send(keys)
        deadline = time.monotonic() + 20
        while self.child.isalive() and time.monotonic() < deadline:
            self.pump()
        self.child.expect(pexpect.EOF)
        self.raw += self.child.before or ""
        attrs = termios.tcgetattr(self.child.child_fd)  # the pty's mode, as the process left it
        self.lflag = attrs[3]
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None else -(self.child.signalstatus or 0)

    def restored(self) -> bool:
        """The process left the alternate screen, showed the cursor and gave back line mode and echo."""
        return ("\x1b[?1049l" in self.raw and "\x1b[?25h" in self.raw
                and bool(self.lflag & termios.ICANON) and bool(self.lflag & termios.ECHO))

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close()
