"""What the deleted-file check costs a log line (stws.logs.DailyFileHandler).

    .venv/bin/python bench/log_lines.py [--lines 50000] [--rounds 5]

In one process, in a temporary folder: ``--lines`` records through a
DailyFileHandler as it is (one stat per line: is the open file still the
one its name leads to?) and through the same handler with the check
switched off (the baseline, the handler before the check), in alternating
rounds. Prints the median wall and CPU time per line of each and the ratio
to the baseline; the check matters where lines are many (query and lock
tracing write one per statement or lock).
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stws.logs import DailyFileHandler  # noqa: E402


class UncheckedHandler(DailyFileHandler):
    """The baseline: never looks whether the file was deleted."""

    def _gone(self) -> bool:
        return False


def per_line(handler: DailyFileHandler, record: logging.LogRecord, lines: int) -> tuple[float, float]:
    """(wall, CPU) microseconds per line."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(lines):
        handler.handle(record)
    return ((time.perf_counter() - wall) * 1e6 / lines, (time.process_time() - cpu) * 1e6 / lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    record = logging.LogRecord("stws.query", logging.INFO, __file__, 1,
                               "SELECT tickets.id FROM tickets WHERE tickets.id = %s", (42,), None)
    with tempfile.TemporaryDirectory() as directory:
        handlers = {"checked": DailyFileHandler(Path(directory), "checked"),
                    "baseline": UncheckedHandler(Path(directory), "baseline")}
        results = {name: [] for name in handlers}
        for name, handler in handlers.items():
            per_line(handler, record, 1000)  # warm-up: the file opened
        for _ in range(args.rounds):
            for name, handler in handlers.items():
                results[name].append(per_line(handler, record, args.lines))
        for handler in handlers.values():
            handler.close()
    base_wall = statistics.median(w for w, _ in results["baseline"])
    base_cpu = statistics.median(c for _, c in results["baseline"])
    print("%d lines x %d rounds, medians per line" % (args.lines, args.rounds))
    print("%-9s %9s %9s %12s" % ("handler", "wall us", "CPU us", "x baseline"))
    for name in ("baseline", "checked"):
        wall = statistics.median(w for w, _ in results[name])
        cpu = statistics.median(c for _, c in results[name])
        print("%-9s %9.2f %9.2f %12.3f" % (name, wall, cpu, cpu / base_cpu))
    print("the check adds %.2f us of CPU per line" % (statistics.median(c for _, c in results["checked"]) - base_cpu))


if __name__ == "__main__":
    main()
