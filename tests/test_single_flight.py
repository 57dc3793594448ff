"""stws.remote.SingleFlight: callers of the same key that overlap share one
run and its outcome; other keys and later callers run on their own."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from stws.remote import SingleFlight


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_overlapping_callers_share_one_run_and_its_result():
    flights, release, runs = SingleFlight(), threading.Event(), []

    def call():
        runs.append(threading.get_ident())
        release.wait(10)
        return {"answer": 42}

    with ThreadPoolExecutor(5) as pool:
        leader = pool.submit(flights.run, "alice", call)
        wait_for(lambda: runs)
        followers = [pool.submit(flights.run, "alice", call) for _ in range(4)]
        wait_for(lambda: flights.waiting("alice") == 4)
        release.set()
        results = [leader.result(10)] + [f.result(10) for f in followers]
    assert len(runs) == 1
    assert all(result is results[0] for result in results)
    assert flights.waiting("alice") == 0
    # Nothing is kept: the next caller runs again.
    assert flights.run("alice", lambda: "fresh") == "fresh"


def test_the_leaders_exception_reaches_every_waiter():
    flights, release, started = SingleFlight(), threading.Event(), threading.Event()

    def failing():
        started.set()
        release.wait(10)
        raise LookupError("provider down")

    with ThreadPoolExecutor(3) as pool:
        leader = pool.submit(flights.run, "k", failing)
        started.wait(10)
        followers = [pool.submit(flights.run, "k", failing) for _ in range(2)]
        wait_for(lambda: flights.waiting("k") == 2)
        release.set()
        for future in [leader, *followers]:
            with pytest.raises(LookupError, match="provider down"):
                future.result(10)
    assert flights.run("k", lambda: "recovered") == "recovered"


def test_different_keys_do_not_wait_for_each_other():
    flights, release, started = SingleFlight(), threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return "slow"

    with ThreadPoolExecutor(2) as pool:
        blocked = pool.submit(flights.run, "a", slow)
        started.wait(10)
        assert pool.submit(flights.run, "b", lambda: "quick").result(5) == "quick"
        release.set()
        assert blocked.result(10) == "slow"
