"""Concurrent triage shares batches, and urgent embedder calls go first: real threads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant.index.embedder import PriorityLock
from assistant.triage.batching import Batcher


class Recorder:
    """A slow `run` that remembers each batch it was given."""

    def __init__(self, seconds: float = 0.05, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[str]:
        with self.lock:
            self.batches.append(list(texts))
        time.sleep(self.seconds)
        if self.fail:
            raise ValueError("model broke")
        return [t.upper() for t in texts]


def test_each_caller_gets_its_own_results_and_callers_share_batches() -> None:
    run = Recorder()
    batcher = Batcher(run)
    asks = [[f"q{n}", f"h{n}"] for n in range(40)]
    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(batcher, asks))
    assert results == [[t.upper() for t in ask] for ask in asks]
    # 40 callers arriving together: far fewer forward passes than callers.
    assert len(run.batches) < 10
    assert sorted(t for b in run.batches for t in b) == sorted(t for a in asks for t in a)


def test_a_lone_caller_runs_at_once() -> None:
    run = Recorder(seconds=0.0)
    assert Batcher(run)(["only"]) == ["ONLY"]
    assert run.batches == [["only"]]


def test_batches_stay_within_their_bound_and_every_caller_is_served() -> None:
    run = Recorder(seconds=0.01)
    batcher = Batcher(run, max_texts=5)
    asks = [[f"a{n}", f"b{n}"] for n in range(30)]
    with ThreadPoolExecutor(30) as pool:
        results = list(pool.map(batcher, asks))
    assert results == [[t.upper() for t in ask] for ask in asks]
    assert all(len(batch) <= 5 for batch in run.batches)


def test_a_call_larger_than_the_bound_still_runs() -> None:
    run = Recorder(seconds=0.0)
    assert Batcher(run, max_texts=2)(["a", "b", "c"]) == ["A", "B", "C"]


def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_runs() -> None:
    run = Recorder(fail=True)
    batcher = Batcher(run)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(batcher, [f"q{n}"]) for n in range(8)]
        for future in futures:
            with pytest.raises(ValueError, match="model broke"):
                future.result()
    run.fail = False
    assert batcher(["after"]) == ["AFTER"]


def test_a_text_that_breaks_the_model_fails_only_its_own_caller() -> None:
    def run(texts: list[str]) -> list[str]:
        time.sleep(0.02)
        if "poison" in texts:
            raise ValueError("cannot embed this")
        return [t.upper() for t in texts]

    batcher = Batcher(run)
    asks = [["poison"] if n == 5 else [f"q{n}"] for n in range(12)]
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(batcher, ask) for ask in asks]
    for n, future in enumerate(futures):
        if n == 5:
            with pytest.raises(ValueError, match="cannot embed"):
                future.result()
        else:
            assert future.result() == [f"Q{n}"]


def test_an_urgent_waiter_goes_before_ordinary_ones_that_came_first() -> None:
    lock = PriorityLock()
    order: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with lock.hold():
            holding.set()
            release.wait(5)

    def take(name: str, urgent: bool) -> None:
        with lock.hold(urgent):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    assert holding.wait(5)
    ordinary = [threading.Thread(target=take, args=(f"ordinary{n}", False)) for n in range(3)]
    for thread in ordinary:
        thread.start()
    time.sleep(0.1)  # the ordinary callers are waiting before the urgent one arrives
    urgent = threading.Thread(target=take, args=("urgent", True))
    urgent.start()
    time.sleep(0.1)
    release.set()
    for thread in [first, urgent, *ordinary]:
        thread.join(5)
    assert order[0] == "urgent"
    assert sorted(order[1:]) == ["ordinary0", "ordinary1", "ordinary2"]


def test_the_lock_is_exclusive() -> None:
    lock = PriorityLock()
    inside = 0
    most = 0
    guard = threading.Lock()

    def work(urgent: bool) -> None:
        nonlocal inside, most
        for _ in range(50):
            with lock.hold(urgent):
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work, args=(n % 2 == 0,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most == 1
