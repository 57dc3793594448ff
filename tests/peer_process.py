"""A peer the tests run in its own process (a sample provider, the ASP.NET
host): started with its standard error going to a log file (a pipe nobody
reads would fill up), ready once it prints a line matching ``ready`` on
standard output, whose first group is its URL."""
from __future__ import annotations

import re
import select
import subprocess
import time
from pathlib import Path


class PeerProcess:
    def __init__(self, command: list[str], ready: str, log: Path, name: str, timeout: float = 30, **popen):
        self.log = log
        with open(log, "a") as errors:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, **popen)
        self.url = self._wait_for(re.compile(ready), name, timeout)

    def _wait_for(self, ready: re.Pattern, name: str, timeout: float) -> str:
        deadline, seen = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if readable:
                line = self.process.stdout.readline()
                seen.append(line)
                match = ready.search(line.strip())
                if match:
                    return match.group(1)
                if not line and self.process.poll() is not None:
                    break
        self.stop()
        raise AssertionError("%s did not start:\n%s%s" % (name, "".join(seen), self.log.read_text()))

    def stop(self) -> None:
        """Terminate it (kill it if it does not end within 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process.stdout.close()
