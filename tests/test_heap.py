"""stws.heap: the C heap's free memory goes back to the system, threads
share a bounded number of malloc arenas (what kept a soaked server's RSS
rising, bench/soak.py), and what a started server keeps for its life leaves
the garbage collector's passes. Each check runs in a fresh Python process, whose
heap nothing else has shaped."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from stws import heap

needs_glibc = pytest.mark.skipif(heap._LIBC is None, reason="needs glibc's malloc_trim and mallopt")


def run_python(code: str) -> str:
    completed = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout + completed.stderr


@needs_glibc
def test_trim_gives_back_freed_memory_that_glibc_keeps():
    # 1,600 blocks of 64 KiB (under the mmap threshold: from the heap), all
    # freed but the last, which keeps the free space from the heap's top, so
    # glibc keeps ~100 MiB resident until it is trimmed.
    output = run_python("""
        import ctypes
        from stws import heap
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]

        def rss_mib():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

        blocks = [libc.malloc(64 * 1024) for _ in range(1600)]
        for block in blocks:
            ctypes.memset(block, 1, 64 * 1024)
        for block in blocks[:-1]:
            libc.free(block)
        before = rss_mib()
        returned = heap.trim()
        print("RESULT", before, rss_mib(), returned)
    """)
    before, after, returned = output.split("RESULT")[1].split()
    assert returned == "True"
    assert float(before) - float(after) > 80, output


ARENAS_SCRIPT = """
    import ctypes, threading
    from stws import heap
    if %s:
        assert heap.limit_arenas(2)
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    start = threading.Barrier(12)

    def work():
        start.wait()
        for _ in range(20000):
            libc.free(libc.malloc(200))

    workers = [threading.Thread(target=work) for _ in range(12)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    libc.malloc_stats()  # "Arena N:" per arena, on stderr
"""


def arenas(limited: bool) -> int:
    return run_python(ARENAS_SCRIPT % limited).count("Arena ")


@needs_glibc
def test_threads_share_at_most_two_arenas_once_limited():
    unlimited = arenas(False)
    limited = arenas(True)
    assert limited <= 2
    # Without the limit, twelve threads get arenas of their own: the
    # comparison shows the limit is what made the difference.
    assert unlimited > limited


@needs_glibc
@pytest_twisted.inlineCallbacks
def test_the_service_trims_on_its_interval():
    service = heap.HeapTrimService(reactor, seconds=0.05)
    service.startService()
    try:
        for _ in range(100):
            if service.runs >= 3:
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
    finally:
        yield defer.maybeDeferred(service.stopService)
    assert service.runs >= 3


def test_the_objects_of_the_start_leave_the_collectors_passes_and_garbage_is_collected_first():
    # Not the glibc functions, but a fresh process all the same: what is
    # frozen stays for the process's life.
    output = run_python("""
        import gc, weakref
        from twisted.internet import task
        from stws import heap

        class Node:
            pass

        kept = [[Node() for _ in range(10)] for _ in range(5000)]  # alive at the start: frozen
        cycle = Node()
        cycle.self = cycle
        collected = []
        watcher = weakref.ref(cycle, lambda _ref: collected.append(True))
        del cycle  # garbage at the start: collected, not frozen
        clock = task.Clock()
        freezer = heap.StartupFreezeService(clock)
        freezer.startService()
        print("RESULT", freezer.frozen, gc.get_freeze_count(), end=" ")
        clock.advance(0)
        tracked = {id(o) for o in gc.get_objects()}
        print(freezer.frozen, gc.get_freeze_count(), bool(collected), id(kept[0]) in tracked, id(kept[0][0]) in tracked)
    """)
    before, count_before, frozen, count, collected, list_tracked, node_tracked = output.split("RESULT")[1].split()
    assert (before, count_before) == ("0", "0")  # nothing before the reactor's turn
    assert int(frozen) > 55000 and int(count) > 55000  # (frozen objects that die leave the count)
    assert collected == "True"
    # The collector's passes no longer see them.
    assert (list_tracked, node_tracked) == ("False", "False")
