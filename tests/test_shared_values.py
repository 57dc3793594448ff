"""stws.shared_values: one value per key, shared, and bounded."""
from __future__ import annotations

import threading

from stws.shared_values import SharedValues


def test_a_key_is_made_once_and_its_value_shared():
    made = []
    shared = SharedValues(most=8)

    def make(key):
        made.append(key)
        return [key]

    first = shared.get("a", make)
    assert shared.get("a", make) is first
    assert made == ["a"]


def test_when_full_the_older_half_goes_and_the_newer_keys_stay_shared():
    shared = SharedValues(most=8)
    kept = {key: shared.get(key, lambda k: [k]) for key in range(8)}
    made = []

    def make(key):
        made.append(key)
        return [key]

    shared.get(8, make)  # the ninth key: 0-3 go, 4-7 stay
    assert len(shared) == 5
    for key in range(4, 8):
        assert shared.get(key, make) is kept[key]
    assert made == [8]
    assert shared.get(0, make) is not kept[0] and made == [8, 0]


def test_threads_filling_it_at_once_stay_within_the_bound():
    shared = SharedValues(most=64)
    errors = []

    def fill(offset):
        try:
            for n in range(5_000):
                key = (offset, n % 300)
                assert shared.get(key, lambda k: [k]) == [key]
        except Exception as error:  # reported below: a thread's assertion is not the test's
            errors.append(error)

    threads = [threading.Thread(target=fill, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(shared) <= 64 + len(threads)  # a miss may add after another thread's trim
